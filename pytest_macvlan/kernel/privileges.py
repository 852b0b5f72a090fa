"""Which of the capabilities a topology needs does this process lack?"""

from __future__ import annotations

CAPS = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_NET_RAW": 13}


def effective_caps(status_path: str = "/proc/self/status") -> int:
    with open(status_path, encoding="ascii") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def missing_caps(caps: int | None = None) -> list[str]:
    """Names of the needed capabilities that are not in the effective set."""
    have = effective_caps() if caps is None else caps
    return [name for name, bit in CAPS.items() if not have >> bit & 1]


def describe_missing(missing: list[str]) -> str:
    from pytest_macvlan.kernel import rootless

    why_not = rootless.status().describe()
    return (
        f"needs {', '.join(missing)} (creating network namespaces and links, raw sockets): "
        "run as root, or grant these capabilities" + (f"; {why_not}" if why_not else "")
    )


def mode() -> str:
    """A short description of the privilege mode for the report header."""
    from pytest_macvlan.kernel import rootless

    missing = missing_caps()
    if rootless.status().active:
        return rootless.status().describe()
    return "root (all capabilities needed)" if not missing else f"unprivileged, missing {', '.join(missing)}"

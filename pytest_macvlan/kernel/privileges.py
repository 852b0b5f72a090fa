"""Which of the capabilities a topology needs does this process lack?"""

from __future__ import annotations

CAPS = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_NET_RAW": 13}


def effective_caps(status_path: str = "/proc/self/status") -> int:
    """The effective capability set (``CapEff`` in ``/proc/self/status``) as a bit mask."""
    with open(status_path, encoding="ascii") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def missing_caps(caps: int | None = None) -> list[str]:
    """Names of the needed capabilities that are not in the effective set."""
    have = effective_caps() if caps is None else caps
    return [name for name, bit in CAPS.items() if not have >> bit & 1]

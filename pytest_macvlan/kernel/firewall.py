"""Which iptables backend this kernel takes, and the commands that apply a spec's rules with it.

iptables has two backends: ``nft`` (the nf_tables API; Debian's default ``iptables``) and
``legacy`` (the x_tables API). A kernel may support one and not the other: user-mode Linux
kernels lack nftables' ``ip``/``inet`` families (``TABLE_ADD failed (Operation not supported)``),
while their legacy ``ip_tables`` works. :func:`probe` tries each backend for real, in the
throwaway namespace of the feature probe, the machine's default first; the topology builder
then runs ``iptables-BACKEND-restore``. Specs do not change: rules are the same for both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

#: backend -> (iptables command, iptables-restore command)
BACKENDS: dict[str, tuple[str, str]] = {
    "nft": ("iptables-nft", "iptables-nft-restore"),
    "legacy": ("iptables-legacy", "iptables-legacy-restore"),
}
NONE = "none"
#: A change that needs the backend's kernel side (it creates the filter table), harmless in a
#: throwaway namespace.
PROBE_ARGS = ("-w", "-t", "filter", "-P", "FORWARD", "ACCEPT")
#: What the kernel needs for either backend, said when neither works.
NEEDS = (
    "iptables needs nf_tables with its ip family (CONFIG_NF_TABLES_IPV4) or the legacy ip_tables "
    "tables (CONFIG_IP_NF_IPTABLES, and CONFIG_IP_NF_IPTABLES_LEGACY in newer kernels)"
)


def default_order() -> list[str]:
    """The machine's choice first: what ``iptables`` (Debian's alternative) points to."""
    found = shutil.which("iptables")
    target = os.path.realpath(found) if found else ""
    return ["legacy", "nft"] if target.endswith("legacy") else ["nft", "legacy"]


def probe(run: Callable[[list[str]], tuple[bool, str]]) -> tuple[str, str]:
    """The first backend whose probe succeeds, and why the others failed.

    ``run(argv)`` runs a command in a throwaway network namespace, returning (ok, message).
    Returns ``(backend, "")`` or ``("none", reasons)``.
    """
    why: list[str] = []
    for backend in default_order():
        command = BACKENDS[backend][0]
        if shutil.which(command) is None:
            why.append(f"{backend}: {command} is not installed (apt-get install iptables)")
            continue
        ok, message = run([command, *PROBE_ARGS])
        if ok:
            return backend, ""
        why.append(f"{backend}: {message}")
    return NONE, "; ".join(why) + f" ({NEEDS})"


def restore_argv(backend: str) -> list[str]:
    """``iptables-restore`` of ``backend`` (plain ``iptables-restore`` when none was found, so
    that its own error message says what is wrong)."""
    tool = BACKENDS[backend][1] if backend in BACKENDS else "iptables-restore"
    return [tool, "-w", "--noflush"]


def iptables_argv(backend: str) -> list[str]:
    """``iptables`` of ``backend``, with ``-w``."""
    tool = BACKENDS[backend][0] if backend in BACKENDS else "iptables"
    return [tool, "-w"]

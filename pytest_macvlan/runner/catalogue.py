"""The kernels a lane can run on, by name.

``uml-*`` are Debian's ``user-mode-linux`` packages (a kernel built as a Linux program, booted
as an ordinary process with the host's root filesystem); ``debian-6.1`` is Debian's generic
``linux-image-amd64`` kernel booted under QEMU by virtme-ng; ``host`` is the running kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_macvlan.errors import RunnerError

Kind = Literal["uml", "vng", "host"]


@dataclass(frozen=True)
class Kernel:
    """A kernel a lane can run on: its name, kind (uml, vng, host) and Debian package."""

    name: str
    kind: Kind
    #: Debian suite the package comes from (None for ``host``).
    suite: str | None
    #: The Debian package (for ``vng``: the metapackage whose dependency is the image).
    package: str | None
    description: str


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        Kernel("uml-5.10", "uml", "bullseye", "user-mode-linux", "user-mode Linux 5.10 (Debian 11 bullseye)"),
        Kernel("uml-6.1", "uml", "bookworm", "user-mode-linux", "user-mode Linux 6.1 (Debian 12 bookworm)"),
        Kernel("uml-6.12", "uml", "trixie", "user-mode-linux", "user-mode Linux 6.12 (Debian 13 trixie)"),
        Kernel("uml-7.2", "uml", "sid", "user-mode-linux", "user-mode Linux 7.2 (Debian unstable, sid)"),
        Kernel(
            "debian-6.1",
            "vng",
            "bookworm",
            "linux-image-amd64",
            "Debian 12's generic kernel under QEMU (virtme-ng; software emulation where KVM does not work: slow)",
        ),
        Kernel("host", "host", None, None, "the running kernel, in a fresh network namespace per topology"),
    )
}

#: What ``pytest-macvlan matrix`` runs when ``--kernels`` is not given.
DEFAULT_MATRIX = ("uml-5.10", "uml-6.1", "uml-6.12", "uml-7.2", "host")


def kernel(name: str) -> Kernel:
    """The kernel named ``name``; RunnerError naming the known ones otherwise."""
    try:
        return KERNELS[name]
    except KeyError:
        known = ", ".join(KERNELS)
        raise RunnerError(f"no kernel named {name!r}; known: {known} (`pytest-macvlan kernel list`)") from None


def parse_names(text: str) -> list[Kernel]:
    """``"uml-6.1,host"`` -> kernels, in order, each once; unknown names are refused."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise RunnerError("--kernels: give at least one kernel name (`pytest-macvlan kernel list`)")
    seen: list[Kernel] = []
    for name in names:
        k = kernel(name)
        if k in seen:
            raise RunnerError(f"--kernels: {name} is named twice")
        seen.append(k)
    return seen

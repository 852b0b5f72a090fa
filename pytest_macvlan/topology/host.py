"""What a :class:`~.links.Link` handle needs of the namespace it is in: the :class:`Host` protocol
(:class:`~.namespace.Netns` implements it). A link is ``Any`` here: this module sits below
:mod:`.links`, which imports it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pytest_macvlan.capture.sniffer import Capture
from pytest_macvlan.kernel.rtnl import Request, RtnlSocket


class Host(Protocol):
    """What a :class:`Link` needs of the namespace it is in."""

    name: str
    fd: int
    rtnl: RtnlSocket

    def check_open(self) -> None:
        """Raise ``ClosedError`` once the topology is torn down."""

    def change(self, requests: list[Request]) -> None:
        """Send ``requests``; raise ``ChangeError`` with the kernel's errno and text."""

    def link(self, name: str) -> Any:
        """A handle on another link of this namespace."""

    def name_of(self, index: int | None) -> str | None:
        """The name of the link with this index here."""

    def sibling(self, name: str) -> Host:
        """Another namespace of the same topology."""

    def others(self) -> Sequence[Host]:
        """The topology's other namespaces (where a program may have moved a link)."""

    def moved(self, link: Any, old: str) -> None:
        """``link`` (known as ``old``/name) is now in this namespace, or gone if deleted."""

    def on_teardown(self, what: str, fn: Callable[[], object]) -> None:
        """Undo ``fn`` when the topology is torn down."""

    def keep_capture(self, cap: Capture) -> None:
        """Keep ``cap`` with the topology's captures (a failing test shows them)."""

    def run(
        self, *argv: str, check: bool = True, timeout: float = 10.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program in this namespace."""

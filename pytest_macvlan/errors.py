"""Exceptions raised by pytest-macvlan, with messages that name what went wrong and where."""

from __future__ import annotations


class MacvlanError(Exception):
    """Base class of every error this package raises on purpose."""


class SpecError(MacvlanError, ValueError):
    """A topology spec is malformed. Raised before anything touches the kernel.

    ``source`` names the file (or ``<dict>``/``<string>``), ``entry`` the dotted path of
    the entry at fault (``netns.ns1.link.macvl1.mode``).
    """

    def __init__(self, source: str, entry: str, problem: str) -> None:
        self.source = source
        self.entry = entry
        self.problem = problem
        where = f"{source}: {entry}" if entry else source
        super().__init__(f"{where}: {problem}")


class BuildError(MacvlanError):
    """The kernel refused a step of a build. Everything built so far has been undone."""

    def __init__(self, entry: str, errno: int, message: str) -> None:
        self.entry = entry
        self.errno = errno
        self.message = message
        super().__init__(f"{entry}: {message}")


class KernelFeatureError(BuildError):
    """The kernel lacks a feature a spec needs (``feature`` names it, e.g. ``8021q``)."""

    def __init__(self, entry: str, errno: int, message: str, feature: str) -> None:
        self.feature = feature
        super().__init__(entry, errno, message)


class ClosedError(MacvlanError, RuntimeError):
    """A handle was used after its topology was torn down."""


class WaitTimeout(MacvlanError, AssertionError):
    """A bounded wait ended without seeing what it waited for; the message shows what was seen."""


class ChangeError(BuildError):
    """The kernel refused a run-time change (``Link.set``, ``Netns.add_route``, ...): ``errno``
    and the kernel's extended-ack text (``extack``, also in the message); ``entry`` names the change."""

    def __init__(self, entry: str, errno: int, message: str, extack: str = "") -> None:
        self.extack = extack
        super().__init__(entry, errno, message)


class RunnerError(MacvlanError):
    """A kernel lane could not be prepared or run (fetch, unpack, boot); the message says what to do."""

"""One LIFO undo stack per topology: every create registers its undo right away."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("pytest_macvlan")


@dataclass
class UndoFailure:
    """An undo step that raised: what it was undoing, and the error."""

    what: str
    error: BaseException

    def __str__(self) -> str:
        return f"undo {self.what!r} failed: {type(self.error).__name__}: {self.error}"


class UndoStack:
    """Undo steps run last-in first-out; a failing step is reported and the rest still run."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, fn: Callable[[], object]) -> None:
        """Register the undo of something just made: ``what`` names it in reports."""
        self._steps.append((what, fn))

    def adopt(self, other: UndoStack) -> None:
        """Take over ``other``'s steps, on top of this stack's (they are undone first)."""
        self._steps.extend(other._steps)
        other._steps.clear()

    def __len__(self) -> int:
        return len(self._steps)

    def unwind(self) -> list[UndoFailure]:
        """Run every step, newest first; return the failures (logged, never raised)."""
        failures: list[UndoFailure] = []
        while self._steps:
            what, fn = self._steps.pop()
            try:
                fn()
            except Exception as exc:  # reported, never raised: the other steps must still run
                log.warning("pytest-macvlan: undo %r failed: %s", what, exc)
                failures.append(UndoFailure(what, exc))
        return failures

"""The test programs under ``tests/programs/``, as text for ``pytester.makepyfile``."""

from __future__ import annotations

from pathlib import Path

PROGRAMS = Path(__file__).parents[1] / "programs"


def program(name: str) -> str:
    """The source of ``tests/programs/NAME.py``."""
    return (PROGRAMS / f"{name}.py").read_text()

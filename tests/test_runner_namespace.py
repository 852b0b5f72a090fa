"""The namespace pytest runs in is identical before and after a whole scenarios run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_macvlan.kernel.privileges import missing_caps

from .runner_state import diff, snapshot

ROOT = Path(__file__).parent.parent


@pytest.mark.skipif(bool(missing_caps()), reason="needs root")
def test_scenarios_leave_the_runner_namespace_unchanged() -> None:
    before = snapshot()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_macvlan",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            str(ROOT / "scenarios"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert diff(before, snapshot()) == []

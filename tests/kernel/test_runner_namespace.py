"""The namespace pytest runs in is identical before and after a whole scenarios run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.runner_state import diff, snapshot

ROOT = Path(__file__).parents[2]


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

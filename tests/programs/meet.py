"""A rendezvous: this run's first test waits until the other run (``MEET_DIR``) has started too."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_macvlan.wait import wait_until


def test_0_both_runs_are_running() -> None:
    meet = Path(os.environ["MEET_DIR"])
    (meet / os.environ["RUN_TAG"]).touch()
    wait_until(
        lambda: sorted(p.name for p in meet.iterdir()),
        lambda seen: len(seen) == 2,
        timeout=120,
        what="the other pytest run started",
    )

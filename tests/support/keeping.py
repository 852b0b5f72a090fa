"""Helpers for tests that keep topologies: remove exactly what the test kept, never another run's.

Other runs (other people's, CI's) may keep topologies on the same machine at the same time, so
nothing here ever removes all of them: a kept topology is this test's when it was not there when
the test started and it was made by this process (pytester's in-process runs) or by a process
the test started (its PID registered), or its id was registered.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pytest_macvlan.kernel import mounts as namedns
from pytest_macvlan.topology import keep

ROOT = Path(__file__).parents[2]
CLI = [sys.executable, "-m", "pytest_macvlan"]


class KeptTracker:
    def __init__(self) -> None:
        self.before = {k.id for k in keep.load_all()[0]}
        self.pids = {os.getpid()}
        self.ids: set[str] = set()

    def mine(self) -> list[keep.Kept]:
        return [k for k in keep.load_all()[0] if k.id not in self.before and (k.pid in self.pids or k.id in self.ids)]

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the command line (``python -m pytest_macvlan ARGS``); its PID counts as this test's."""
        with subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as p:
            self.pids.add(p.pid)
            out, err = p.communicate(timeout=120)
        done = subprocess.CompletedProcess(p.args, p.returncode, out, err)
        if check:
            done.check_returncode()
        return done

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for k in self.mine():
            problems += keep.remove(k)
        return problems


@contextlib.contextmanager
def tracking() -> Iterator[KeptTracker]:
    tracker = KeptTracker()
    try:
        yield tracker
    finally:
        problems = tracker.cleanup()
        assert not problems, problems


def netns_names() -> list[str]:
    return namedns.names()


def mounted_names(names: Sequence[str]) -> list[str]:
    """Those of ``names`` that are still mount points in /run/netns."""
    points = namedns.mount_points()
    return [n for n in names if str(namedns.NETNS_DIR / n) in points]


def ns_run(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``ip netns exec NAME ARGV``: what a user would type."""
    return subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True, timeout=30)

"""A guest is a process: start it in its own process group, kill exactly it and its children.

A user-mode Linux kernel runs each guest address space as a host process of its own (its
children); QEMU has helper threads. :func:`kill_tree` kills the process, every descendant found
through ``/proc`` (by parent PID, walked before the first signal), and what is left of its
process group, each by PID. ``PR_SET_PDEATHSIG`` makes the kernel kill a guest whose runner dies
without cleaning up (even by SIGKILL).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def descendants(pid: int) -> list[int]:
    """PIDs whose parent chain leads to ``pid`` (from ``/proc``; children before grandchildren)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    out: list[int] = []
    frontier = [pid]
    while frontier:
        children = [p for p, pp in parents.items() if pp in frontier and p not in out]
        out += children
        frontier = children
    return out


def group_members(pgid: int) -> list[int]:
    """PIDs in process group ``pgid`` (from ``/proc``)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def kill_tree(proc: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL ``proc``, its descendants and its process group's members, by PID; reap ``proc``.
    Returns the PIDs signalled."""
    pid = proc.pid
    targets = [pid, *descendants(pid)] if proc.poll() is None else descendants(pid)
    targets += [p for p in group_members(pid) if p not in targets]
    for p in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    return targets


class Guest:
    """A guest process (its own session and process group), its output copied to a log file
    (and to ``echo`` if given) by a thread; :meth:`wait` with a deadline, then kill it all."""

    def __init__(
        self,
        argv: Sequence[str],
        log: Path,
        *,
        echo: IO[str] | None = None,
        env: dict[str, str] | None = None,
        quiet: re.Pattern[bytes] | None = None,
    ) -> None:
        self._quiet = quiet
        self.log = log
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            env=env,
        )
        self.timed_out = False
        self.killed: list[int] = []
        self._copier = threading.Thread(target=self._copy, args=(echo,), daemon=True)
        self._copier.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _copy(self, echo: IO[str] | None) -> None:
        assert self.proc.stdout is not None
        with open(self.log, "wb") as out:
            for line in iter(self.proc.stdout.readline, b""):
                out.write(line)
                out.flush()
                if echo is not None and not (self._quiet and self._quiet.search(line)):
                    echo.write(line.decode(errors="replace"))
                    echo.flush()

    def wait(self, timeout: float, on_timeout: Callable[[], None] | None = None) -> int:
        """The guest's exit status; after ``timeout`` seconds it is killed (with its children)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            if on_timeout is not None:
                on_timeout()
            self.killed = kill_tree(self.proc)
            rc = self.proc.returncode if self.proc.returncode is not None else -9
        finally:
            self.stop()
        self._copier.join(timeout=5)
        return rc

    def stop(self) -> None:
        """Kill whatever is left of the guest (nothing, after a clean power-off)."""
        leftovers = [self.pid, *descendants(self.pid)] if self.proc.poll() is None else descendants(self.pid)
        leftovers += group_members(self.pid)
        if leftovers:
            self.killed += kill_tree(self.proc)
        # Its helper processes may outlive the kernel's own exit for a moment: wait until gone.
        deadline = time.monotonic() + 5
        while group_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

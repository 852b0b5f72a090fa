"""The supervisor of a topology's programs: none outlives the topology, or the test process.

Each topology that runs a program gets a **PID namespace** of its own, made on first use by a
thread of its own, the forking thread (:class:`_Forker`: ``unshare(CLONE_NEWPID)``, after which
that thread's children are born in the new namespace). Its first child, the namespace's init, is
a small supervisor of ours (``_INIT`` below). Every program is then forked by that thread, after
it entered the program's network namespace (``setns(CLONE_NEWNET)``): it is a member of the PID
namespace from its first instruction, and so is everything it forks, double-forks or
daemonizes, with no registration step to miss. When the init ends the kernel kills every member
of its namespace (``SIGKILL``, which nothing can ignore or block).

The init ends:

- at teardown (:meth:`Supervisor.close`): a ``SIGTERM`` to every member first, then, after at
  most ``grace`` seconds *in total* (however many programs there are), the init is killed;
- when the test process dies, however it dies (``SIGKILL`` included): it is started through
  ``setpriv --pdeathsig KILL`` by the forking thread, which lives as long as the topology, and,
  for the moment between ``fork`` and that setting, it also watches a pidfd of the test process
  and exits as soon as that process has ended (a pidfd, unlike a pipe, is not held open by a
  ``fork`` of the test process).

Why a PID namespace and not a cgroup: it needs no cgroup delegation or write access to
``/sys/fs/cgroup`` (it works rootless, in the process's own user namespace), killing its members
is the kernel's own job and is atomic (no process can fork its way out while being killed, as it
can between the reads of ``cgroup.procs``), and the kill happens even when the test process
dies by ``SIGKILL`` with nobody left to do the killing. A program sees its PIDs from inside:
``getpid()`` of the first program is 2, so a PID it writes into a pidfile is its namespace's
(signal it with ``ns.run("kill", pid)``, or through :class:`Process`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import IO, Any, TypeVar

from pytest_macvlan.errors import ClosedError
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.wait import check_timeout, wait_until

T = TypeVar("T")
_JOB_GRACE = 10.0  # how long an interrupted caller waits for its job (a fork) to finish

#: At teardown, how long programs get between ``SIGTERM`` and ``SIGKILL`` (all of them together).
STOP_GRACE = 1.0

# The init of a topology's PID namespace, run as `python -I -S -c _INIT PIDFD CTL`. PIDFD: a pidfd
# of the test process (readable once it has ended); CTL: the read end of a pipe (b"T": SIGTERM to
# every member; end of file: exit). It reaps the orphans the kernel hands it. When it exits, the
# kernel kills every other member of the namespace.
_INIT = r"""
import os, select, signal, sys
pidfd, ctl = int(sys.argv[1]), int(sys.argv[2])
poll = select.poll()
poll.register(pidfd, select.POLLIN)
poll.register(ctl, select.POLLIN)
while True:
    ready = dict(poll.poll(100))
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    if pidfd in ready:
        os._exit(0)
    if ctl in ready:
        data = os.read(ctl, 64)
        if not data:
            os._exit(0)
        if b"T" in data:
            try:
                os.kill(-1, signal.SIGTERM)
            except ProcessLookupError:
                pass
"""
_PDEATHSIG = ("setpriv", "--pdeathsig", "KILL", "--")


class Supervisor:
    """The PID namespace of one topology's programs, and its init. Made by :meth:`start`.

    Every process started through :meth:`popen` is a member of the namespace, and so is every
    process it starts; :meth:`close` ends them all, in parallel, in at most ``grace`` seconds
    plus the kernel's time to deliver ``SIGKILL``.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._init: subprocess.Popen[bytes] | None = None
        self._forker: _Forker | None = None
        self._ctl = -1
        self._procs: list[subprocess.Popen[Any]] = []
        self.closed = False

    # -- the namespace ---------------------------------------------------------------------

    def _start(self) -> None:
        """Make the forking thread, the PID namespace and its init. Called with the lock held."""
        forker = _Forker(self.label)
        me = os.pidfd_open(os.getpid())
        r, w = os.pipe()
        try:

            def make() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [*_PDEATHSIG, sys.executable, "-I", "-S", "-c", _INIT, str(me), str(r)],
                    pass_fds=(me, r),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )

            self._init = forker.run(None, make)
        except BaseException:
            os.close(w)
            forker.stop()
            raise
        finally:
            os.close(me)
            os.close(r)
        self._ctl = w
        self._forker = forker

    def popen(
        self,
        ns_fd: int,
        argv: Sequence[str],
        *,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        text: bool = True,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` (no shell) in the network namespace ``ns_fd``, as a member of this
        supervisor's PID namespace. It is registered before it can run a single instruction."""
        if not argv:
            raise ValueError("no program to run")
        cmd = list(argv)
        with self._lock:
            if self.closed:
                raise ClosedError(f"{self.label}: the topology's programs have been stopped")
            if self._init is None:
                self._start()
            assert self._forker is not None

            def fork() -> subprocess.Popen[Any]:
                # On the forking thread, inside ns_fd: the child inherits the thread's network
                # namespace, and is born in the PID namespace the thread forks into.
                p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd, text=text)
                self._procs.append(p)  # on that thread: registered even if the caller is interrupted
                return p

            return self._forker.run(ns_fd, fork)

    def forget(self, p: subprocess.Popen[Any]) -> None:
        """``p`` has ended and been reaped: no need to stop it at teardown."""
        with self._lock, contextlib.suppress(ValueError):
            self._procs.remove(p)

    def members(self) -> list[int]:
        """PIDs (as seen from the test process) of the namespace's processes other than its init
        that are still running: the registered programs and every orphan the init has adopted."""
        with self._lock:
            procs = [p.pid for p in self._procs if p.poll() is None]
            init = self._init
        if init is None or init.poll() is not None:
            return procs
        try:
            with open(f"/proc/{init.pid}/task/{init.pid}/children", encoding="ascii") as f:
                adopted = [int(x) for x in f.read().split()]
        except OSError:
            adopted = []
        return procs + [pid for pid in adopted if not _zombie(pid)]

    def close(self, grace: float = STOP_GRACE) -> None:
        """End every process of the namespace: ``SIGTERM`` to all, then ``SIGKILL`` to what is
        left after ``grace`` seconds (in total, not per program). Idempotent; bounded."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            init, procs = self._init, list(self._procs)
        if init is None:
            return
        try:
            deadline = time.monotonic() + check_timeout(grace, "stop grace")
            with contextlib.suppress(OSError):
                os.write(self._ctl, b"T")  # the init signals every member, adopted orphans too
            for p in procs:
                with contextlib.suppress(OSError):
                    if p.poll() is None:
                        p.terminate()
            with contextlib.suppress(AssertionError):
                wait_until(
                    self.members,
                    lambda left: not left,
                    timeout=max(0.0, deadline - time.monotonic()),
                    what="programs ended",
                )
        finally:
            # Killing the init makes the kernel kill every member. The init's own exit waits until
            # they are all reaped, so reap the members that are this process's children first.
            with contextlib.suppress(OSError):
                init.kill()
            for p in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(2.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                init.wait(2.0)
            for p in procs:
                for stream in (p.stdin, p.stdout, p.stderr):
                    if stream is not None:
                        with contextlib.suppress(OSError):
                            stream.close()
            if self._ctl >= 0:
                os.close(self._ctl)
                self._ctl = -1
            if self._forker is not None:
                self._forker.stop()


class _Forker:
    """The thread that forks one topology's programs. It entered a new PID namespace for its
    children (``unshare(CLONE_NEWPID)``) and never leaves it: a thread cannot go back to an
    ancestor PID namespace without ``CAP_SYS_ADMIN`` over it (which a rootless run lacks), and a
    thread whose children go elsewhere cannot start threads. It runs jobs one at a time, each
    inside the network namespace it is given, and returns to the netns worker's empty namespace
    between jobs. It ends with the supervisor; the init's ``PR_SET_PDEATHSIG`` then fires."""

    def __init__(self, label: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[int | None, Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._home = netns.home_net_fd()  # also starts the netns worker, whose namespace this is
        self._failed: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"pytest-macvlan-programs {label}"[:60], daemon=True)
        try:
            self._thread.start()
        except RuntimeError as exc:
            raise OSError(
                errno.EAGAIN, f"cannot start a thread for programs: {exc}{netns.limit_hit(errno.EAGAIN)}"
            ) from None
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    def _loop(self) -> None:
        try:
            netns.setns(self._home)
            netns.unshare_pid()
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        while (job := self._jobs.get()) is not None:
            fd, fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                if fd is not None:
                    netns.setns(fd)
                fut.set_result(fn())
            except BaseException as exc:  # handed to the caller
                fut.set_exception(exc)
            finally:
                netns.setns(self._home)

    def run(self, fd: int | None, fn: Callable[[], T]) -> T:
        fut: Future[T] = Future()
        self._jobs.put((fd, fn, fut))
        try:
            return fut.result()
        except BaseException:
            # The caller was interrupted (pytest-timeout, Ctrl-C) while the job may still run: let
            # it finish before the caller releases what it uses (the program's output files).
            with contextlib.suppress(BaseException):
                fut.exception(timeout=_JOB_GRACE)
            raise

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(5.0)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[:1] == ["Z"]
    except OSError:
        return True  # gone

"""The supervisor of a topology's programs: none outlives the topology, or the test process.

Each topology that runs a program gets a **PID namespace** of its own, made on first use. Its
init, a small loop of ours, is forked by this process's maker of PID namespaces
(:mod:`.pidns`), and a thread of the topology's own, the forking thread (:class:`_Forker`),
enters that namespace for its children (``setns(CLONE_NEWPID)``). Every program is then forked
by that thread, after it entered the program's network namespace (``setns(CLONE_NEWNET)``): it is
a member of the PID namespace from its first instruction, and so is everything it forks,
double-forks or daemonizes, with no registration step to miss. When the init ends the kernel
kills every member of its namespace (``SIGKILL``, which nothing can ignore or block).

The init ends:

- at teardown (:meth:`Supervisor.close`): a ``SIGTERM`` to every member first, then, after at
  most ``grace`` seconds *in total* (however many programs there are), the init is killed;
- when the test process dies, however it dies (``SIGKILL`` included): the init watches a pidfd
  of the test process (made before the init was forked, so there is no moment unwatched) and
  exits as soon as that process has ended (a pidfd, unlike a pipe, is not held open by a
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
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import IO, Any, TypeVar

from pytest_macvlan.errors import ClosedError
from pytest_macvlan.kernel import libc, pidns
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.wait import check_timeout, wait_until

T = TypeVar("T")
_JOB_GRACE = 10.0  # how long an interrupted caller waits for its job (a fork) to finish

#: At teardown, how long programs get between ``SIGTERM`` and ``SIGKILL`` (all of them together).
STOP_GRACE = 1.0


class Supervisor:
    """The PID namespace of one topology's programs, and its init. Made by :meth:`start`.

    Every process started through :meth:`popen` is a member of the namespace, and so is every
    process it starts; :meth:`close` ends them all, in parallel, in at most ``grace`` seconds
    plus the kernel's time to deliver ``SIGKILL``.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._init: pidns.Init | None = None
        self._forker: _Forker | None = None
        self._ctl: socket.socket | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self.closed = False

    # -- the namespace ---------------------------------------------------------------------

    def _start(self) -> None:
        """Make the PID namespace, its init and the forking thread. Called with the lock held."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            init = pidns.maker().make(theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            ns_fd = init.open_namespace()
            try:
                forker = _Forker(self.label, ns_fd)
            finally:
                os.close(ns_fd)
        except BaseException:
            ours.close()  # the init exits at the end of its control socket
            init.close()
            raise
        self._init, self._ctl, self._forker = init, ours, forker

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
        if init is None or not init.alive():
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
                if self._ctl is not None:
                    self._ctl.send(b"T")  # the init signals every member, adopted orphans too
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
            init.wait(2.0)
            init.close()
            for p in procs:
                for stream in (p.stdin, p.stdout, p.stderr):
                    if stream is not None:
                        with contextlib.suppress(OSError):
                            stream.close()
            if self._ctl is not None:
                self._ctl.close()
                self._ctl = None
            if self._forker is not None:
                self._forker.stop()


class _Forker:
    """The thread that forks one topology's programs. It entered the topology's PID namespace for
    its children (``setns(CLONE_NEWPID)``) and never leaves it: a thread cannot go back to an
    ancestor PID namespace without ``CAP_SYS_ADMIN`` over it (which a rootless run lacks), and a
    thread whose children go elsewhere cannot start threads. It runs jobs one at a time, each
    inside the network namespace it is given, and returns to the netns worker's empty namespace
    between jobs. It ends with the supervisor."""

    def __init__(self, label: str, pid_ns: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[int | None, Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._home = netns.home_net_fd()  # also starts the netns worker, whose namespace this is
        self._pid_ns = pid_ns
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
            libc.setns(self._pid_ns, libc.CLONE_NEWPID)
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        while (job := self._jobs.get()) is not None:
            netns.run_job(*job, self._home)

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

"""The maker of PID namespaces: one small helper process per test process, forking their inits.

A topology's programs live in a PID namespace of their own (see :mod:`.supervisor`), whose first
process, its init, is ours. Starting that init as a new interpreter costs a whole Python start
(10 ms here, but 180-400 ms under user-mode Linux, where every exec and page fault is dear, and a
fork of the test process is dear too: 90-170 ms there). So each test process starts one helper,
the **maker** (``python -I -S -c _MAKER``: standalone, it cannot import this package), once,
and asks it for each new namespace over a socket: the maker calls ``unshare(CLONE_NEWPID)``,
forks (the child is PID 1 of the new namespace and runs the init loop, ``init`` in ``_MAKER``),
and puts its own children's namespace back with ``setns`` (``unshare(CLONE_NEWPID)`` works only
once otherwise). A rootless run may not go back: there a middle process unshares and forks the
init, and the maker, a child subreaper, inherits it. A fork of that small process costs 0.3 ms
here and about 20 ms under user-mode Linux 5.10.

Lifetimes:

- the maker watches a pidfd of the test process and its socket: it exits when either ends;
- an init watches the same pidfd and its control socket (b"T": ``SIGTERM`` to every member of
  its namespace; end of file: exit), and reaps the orphans the kernel hands it. When it exits, the
  kernel kills every other member of its namespace;
- the maker reaps the inits it forked (their parent is the maker, not the test process).

A process that forks (a test that forks, a pytest-xdist worker) gets a maker of its own.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from pytest_macvlan.errors import WaitTimeout
from pytest_macvlan.kernel.libc import CLONE_NEWPID
from pytest_macvlan.kernel.nsworker import limit_hit
from pytest_macvlan.wait import wait_until

# The maker, run as `python -I -S -c _MAKER PIDFD SOCK`. Each request is one byte with the init's
# control socket attached (SCM_RIGHTS); the answer is the init's PID (as this process sees it: the
# maker is in the test process's PID namespace) or "E errno text".
_MAKER = r"""
import ctypes, os, select, signal, socket, sys
pidfd, sock = int(sys.argv[1]), socket.socket(fileno=int(sys.argv[2]))
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWPID = 0x20000000
own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
# Back to its own PID namespace after each unshare, if allowed (not rootless: that needs
# CAP_SYS_ADMIN over the namespace's owner); else a middle process per init, and the maker is a
# child subreaper, so that the orphaned inits are still its children.
can_return = libc.setns(own, CLONE_NEWPID) == 0
if not can_return:
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: of this process only

def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return

def watching(fd):  # a poll of fd, the test process's pidfd, and a pipe an exited child wakes
    global wake, wake_w
    wake, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    poll = select.poll()
    for watched in (fd, pidfd, wake):
        poll.register(watched, select.POLLIN)
    return poll

def ready(poll, fd):  # one wait: reap exited children, end with the test process; fd readable?
    got = dict(poll.poll(1000))
    if wake in got:
        os.read(wake, 512)
    reap()
    if pidfd in got:
        os._exit(0)
    return fd in got

def make(ctl):  # unshare, fork the init; the answer: its PID or "E errno text"
    if libc.unshare(CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        return f"E {err} unshare(CLONE_NEWPID): {os.strerror(err)}"
    try:
        pid = os.fork()
    except OSError as exc:
        return f"E {exc.errno or 0} fork: {exc.strerror}"
    if pid == 0:
        try:
            sock.close()
            os.close(own)
            signal.set_wakeup_fd(-1)
            os.close(wake)
            os.close(wake_w)
            init(ctl)
        finally:
            os._exit(0)
    return str(pid)

def init(ctl):
    chan = socket.socket(fileno=ctl)
    poll = watching(ctl)
    while True:
        if not ready(poll, ctl):
            continue
        try:
            msg = chan.recv(64)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if b"T" in msg:
            try:
                os.kill(-1, signal.SIGTERM)
            except ProcessLookupError:
                pass

poll = watching(sock.fileno())
while True:
    if not ready(poll, sock.fileno()):
        continue
    try:
        msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)
    except OSError:
        os._exit(0)
    if not msg:
        os._exit(0)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        sock.send(b"E 22 no control socket")
        continue
    ctl = fds[0]
    if can_return:
        answer = make(ctl)
        if libc.setns(own, CLONE_NEWPID) != 0:  # without it, the next unshare fails: stop here
            err = ctypes.get_errno()
            sock.send(f"E {err} setns(CLONE_NEWPID): {os.strerror(err)}".encode())
            os._exit(1)
    else:  # a middle process unshares and forks the init, then exits: the init is ours (subreaper)
        r, w = os.pipe()
        try:
            middle = os.fork()
        except OSError as exc:
            middle, answer = -1, f"E {exc.errno or 0} fork: {exc.strerror}"
        if middle == 0:
            try:
                os.close(r)
                os.write(w, make(ctl).encode())
            finally:
                os._exit(0)
        os.close(w)
        if middle > 0:
            answer = os.read(r, 512).decode() or "E 5 the middle process ended without an answer"
        os.close(r)
    os.close(ctl)
    sock.send(answer.encode())
"""
assert f"CLONE_NEWPID = {CLONE_NEWPID:#x}\n" in _MAKER


def readable(fd: int, timeout: float | None) -> bool:
    """Is ``fd`` readable (a pidfd: has its process exited) within ``timeout`` seconds (None:
    however long it takes)? ``poll``, not ``select``: descriptors may be numbered past 1023."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(None if timeout is None else max(0, math.ceil(timeout * 1000))))


class Init:
    """The init of one PID namespace, forked by the maker (not a child of this process): it is
    watched, signalled and waited for through a pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)

    def alive(self) -> bool:
        """Has it not exited yet?"""
        if self._pidfd < 0:
            return False
        return not readable(self._pidfd, 0)

    def open_namespace(self) -> int:
        """A descriptor of its PID namespace (``setns(fd, CLONE_NEWPID)`` puts a thread's next
        children there). Checked against the pidfd, so a recycled PID cannot mislead."""
        fd = os.open(f"/proc/{self.pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if not self.alive():
            os.close(fd)
            raise OSError(f"the init of the new PID namespace (PID {self.pid}) ended at once")
        return fd

    def kill(self) -> None:
        """``SIGKILL``: the kernel then kills every member of its namespace."""
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for it to exit and be reaped (by the maker); did it?"""
        if self._pidfd < 0:
            return True
        deadline = time.monotonic() + timeout
        if not readable(self._pidfd, timeout):
            return False
        try:  # exited; the maker reaps it within moments of its SIGCHLD
            wait_until(
                lambda: not os.path.exists(f"/proc/{self.pid}"),
                timeout=max(0.0, deadline - time.monotonic()),
                what=f"the init (PID {self.pid}) reaped",
            )
        except WaitTimeout:
            return False
        return True

    def close(self) -> None:
        """Let go of the pidfd."""
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1


class Maker:
    """This process's maker of PID namespaces (use :func:`maker`)."""

    def __init__(self) -> None:
        me = os.pidfd_open(os.getpid())
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _MAKER, str(me), str(theirs.fileno())],
                pass_fds=(me, theirs.fileno()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            os.close(me)
            theirs.close()
        self._sock = ours
        self._lock = threading.Lock()

    def make(self, ctl: int) -> Init:
        """A new PID namespace whose init reads the control socket ``ctl`` (the caller keeps its
        own descriptor; the init gets a copy)."""
        with self._lock:
            try:
                socket.send_fds(self._sock, [b"N"], [ctl])
                answer = self._sock.recv(256).decode(errors="replace")
            except OSError as exc:
                raise OSError(exc.errno, f"the PID namespace maker is gone: {exc}") from None
        if not answer:
            raise OSError(f"the PID namespace maker ended (exit {self._proc.poll()}): {self._stderr()}")
        if answer.startswith("E "):
            _e, err, text = answer.split(" ", 2)
            raise OSError(int(err), text + limit_hit(int(err), "pid"))
        return Init(int(answer))

    def _stderr(self) -> str:
        if self._proc.poll() is None or self._proc.stderr is None:
            return ""
        return self._proc.stderr.read().decode(errors="replace").strip()[-500:]

    @property
    def pid(self) -> int:
        """The maker's PID."""
        return self._proc.pid

    def alive(self) -> bool:
        """Is the maker still running?"""
        return self._proc.poll() is None

    def close(self) -> None:
        """End the maker (the inits it made live on until their own ends)."""
        self._sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(2.0)
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr is not None:
            self._proc.stderr.close()


_lock = threading.Lock()
_maker: tuple[int, Maker] | None = None


def _running() -> Maker | None:
    """This process's maker if it is running (a forked child's is its parent's: not its own).
    Called with the lock held."""
    if _maker is None or _maker[0] != os.getpid() or not _maker[1].alive():
        return None
    return _maker[1]


def maker() -> Maker:
    """This process's maker, started on first use (again in a forked child, or if it died)."""
    global _maker
    with _lock:
        running = _running()
        if running is None:
            if _maker is not None and _maker[0] == os.getpid():
                _maker[1].close()  # it died: reap it
            running = Maker()
            _maker = (os.getpid(), running)
        return running


def maker_pid() -> int | None:
    """The PID of this process's maker, if it has one running (tests leave it out of the
    processes a topology must not leave behind: it lives as long as the test process)."""
    with _lock:
        running = _running()
        return running.pid if running is not None else None

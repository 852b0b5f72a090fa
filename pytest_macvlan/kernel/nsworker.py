"""Network namespaces owned by this process through file descriptors.

No namespace is ever named under ``/run/netns``: each lives as long as this process holds its
descriptor, and the kernel destroys it (and every link in it) when the process dies, even by
SIGKILL. Work that must happen *inside* a namespace (creating a socket, writing a sysctl) runs
on a private worker thread that enters the namespace explicitly with ``setns`` for each job,
so no code path depends on which namespace the calling thread happens to be in.
"""

from __future__ import annotations

import errno
import fcntl
import os
import queue
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from pytest_macvlan.kernel import libc
from pytest_macvlan.kernel.libc import CLONE_NEWNET

SIOCGSKNS = 0x894C  # ioctl: open the network namespace a socket belongs to
T = TypeVar("T")


def setns(fd: int) -> None:
    """Move the *calling thread* into the network namespace ``fd`` refers to."""
    libc.setns(fd, CLONE_NEWNET)


def unshare_net() -> None:
    """Move the *calling thread* into a new, empty network namespace."""
    try:
        libc.unshare(CLONE_NEWNET)
    except OSError as exc:
        err = exc.errno or 0
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}{limit_hit(err, 'net')}") from None


def _read_limit(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return "?"


def limit_hit(err: int, kind: str = "net") -> str:
    """The limit behind ``err`` when creating a thread, descriptor or namespace, as text to append
    to a message (empty when ``err`` is not a limit): which one, and its current value."""
    import resource

    if err in (errno.EMFILE, errno.ENFILE):
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if err == errno.ENFILE:
            limit = _read_limit("/proc/sys/fs/file-max")
            return f"; the system-wide limit of open files (fs.file-max = {limit}) is reached"
        return f"; the limit of open files of this process (RLIMIT_NOFILE, ulimit -n = {soft}) is reached"
    if err == errno.ENOSPC:
        key = f"max_{kind}_namespaces"
        return f"; the limit user.{key} ({_read_limit(f'/proc/sys/user/{key}')}) is reached"
    if err == errno.EAGAIN:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NPROC)
        return f"; the limit of processes/threads is reached (RLIMIT_NPROC = {soft}, kernel.threads-max)"
    return ""


def ns_inode(fd: int) -> int:
    """The inode number that identifies the namespace behind ``fd``."""
    return os.fstat(fd).st_ino


def socket_ns_inode(sock: socket.socket) -> int:
    """The inode of the network namespace ``sock`` was created in (``SIOCGSKNS``)."""
    nsfd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    try:
        return ns_inode(nsfd)
    finally:
        os.close(nsfd)


def with_limit(exc: OSError) -> OSError:
    """``exc``, or a copy whose message also names the limit it hit (descriptors, namespaces)."""
    err = exc.errno or 0
    if err not in (errno.EMFILE, errno.ENFILE) or "is reached" in str(exc):
        return exc
    hint = limit_hit(err)
    return OSError(err, f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}{hint}")


def _thread_ns_fd() -> int:
    try:
        return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        err = exc.errno or 0
        raise OSError(err, f"cannot hold a network namespace: {os.strerror(err)}{limit_hit(err)}") from None


class WorkerStartError(OSError):
    """The namespace worker thread could not start; the message names the limit that was hit."""


def run_job(fd: int | None, fn: Callable[[], T], fut: Future[T], home: int) -> None:
    """One job of a namespace thread (the netns worker, a topology's forking thread): ``fn()``
    inside the network namespace ``fd`` (None: where the thread is), its result or exception
    handed to ``fut``. The thread is back in ``home`` before the caller wakes, so no thread is
    left in a namespace once its job is done."""
    if not fut.set_running_or_notify_cancel():
        return
    try:
        try:
            if fd is not None:
                setns(fd)
            result = fn()
        finally:
            setns(home)
    except BaseException as exc:  # handed to the caller
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class _Worker:
    """One daemon thread that runs jobs inside namespaces, one job at a time."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[int | None, Callable[[], object], Future[object]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="pytest-macvlan-netns", daemon=True)
        self._home = -1
        self._failed: OSError | None = None
        self._ready = threading.Event()
        try:
            self._thread.start()
        except RuntimeError as exc:  # "can't start new thread": pthread_create said EAGAIN
            raise WorkerStartError(
                errno.EAGAIN, f"cannot start the namespace worker thread: {exc}{limit_hit(errno.EAGAIN)}"
            ) from None
        self._ready.wait()  # set by the thread whether it could start or not: never a hang
        if self._failed is not None:
            raise self._failed

    def _loop(self) -> None:
        # The worker's own starting namespace: it returns there after every job, so that a
        # job that forgets to enter a namespace still never runs somewhere it was not meant to.
        try:
            unshare_net()
            self._home = _thread_ns_fd()
        except OSError as exc:
            if self._home >= 0:
                os.close(self._home)
            err = exc.errno or 0
            text = str(exc) if "limit" in str(exc) else f"{exc}{limit_hit(err)}"
            self._failed = WorkerStartError(err, f"cannot start the namespace worker thread: {text}")
            self._ready.set()
            return
        self._ready.set()
        while True:
            fd, fn, fut = self._jobs.get()
            run_job(fd, fn, fut, self._home)

    def run(self, fd: int | None, fn: Callable[[], T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("nested namespace job")
        fut: Future[object] = Future()
        self._jobs.put((fd, fn, fut))
        return fut.result()  # type: ignore[return-value]


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def _get_worker() -> _Worker:
    global _worker
    with _worker_lock:
        if _worker is None or not _worker._thread.is_alive():
            _worker = _Worker()
        return _worker


def run_in(fd: int, fn: Callable[[], T]) -> T:
    """Run ``fn()`` on the worker thread, inside the namespace ``fd``; return its result."""
    return _get_worker().run(fd, fn)


def on_worker(fn: Callable[[], T]) -> T:
    """Run ``fn()`` on the worker thread, in the worker's own (empty) namespace.

    For starting programs: the worker lives as long as the process, so a child's
    ``PR_SET_PDEATHSIG`` (which follows the thread that forked it) fires only when the process dies.
    """
    worker = _get_worker()
    if threading.current_thread() is worker._thread:
        return fn()
    return worker.run(None, fn)


def home_net_fd() -> int:
    """The worker's own empty network namespace (a descriptor; starts the worker if needed)."""
    return _get_worker()._home


def worker_thread_id() -> int:
    """The kernel's id of the worker thread (``/proc/self/task/ID``), starting it if needed."""
    native = _get_worker()._thread.native_id
    assert native is not None  # the thread has started
    return native


def create(
    count: int, setup: Callable[[int, int], T], release: Callable[[T], object] | None = None
) -> list[tuple[int, T]]:
    """Create ``count`` new namespaces; in the i-th, run ``setup(i, ns_fd)`` while inside it.

    Returns ``(ns_fd, setup_result)`` pairs. On any failure the namespaces created so far are
    released before the error propagates: ``release(result)`` for each setup result (a socket
    made inside holds its namespace), then the descriptors (closing them destroys the namespaces).
    """

    def make() -> list[tuple[int, T]]:
        made: list[tuple[int, T]] = []
        try:
            for i in range(count):
                unshare_net()
                fd = _thread_ns_fd()
                try:
                    made.append((fd, setup(i, fd)))
                except BaseException:
                    os.close(fd)
                    raise
        except OSError as exc:
            for fd, result in made:
                if release is not None:
                    release(result)
                os.close(fd)
            err = exc.errno or 0
            if "is reached" in str(exc) or not limit_hit(err):
                raise
            what = f"creating namespace {len(made) + 1} of {count}: {exc.strerror or exc}"
            raise OSError(err, f"{what}{limit_hit(err)}") from None
        except BaseException:
            for fd, result in made:
                if release is not None:
                    release(result)
                os.close(fd)
            raise
        return made

    return _get_worker().run(None, make)


def socket_in(fd: int, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside the namespace ``fd`` (sockets stay in the namespace they were born in)."""
    sock = run_in(fd, lambda: socket.socket(family, kind | socket.SOCK_CLOEXEC, proto))
    if socket_ns_inode(sock) != ns_inode(fd):  # never trust, verify
        sock.close()
        raise RuntimeError("socket was not created in the intended network namespace")
    return sock


def write_sysctl(key: str, value: str) -> None:
    """Write a ``net.*`` sysctl of the calling thread's namespace. Run it through :func:`run_in`."""
    with open(sysctl_path(key), "w", encoding="ascii") as f:
        f.write(value)


def read_sysctl(key: str) -> str:
    """The value of a ``net.*`` sysctl of the calling thread's namespace."""
    with open(sysctl_path(key), encoding="ascii") as f:
        return f.read().strip()


def sysctl_path(key: str) -> str:
    """``net.ipv4.conf.veth1/11.rp_filter`` -> ``/proc/sys/net/ipv4/conf/veth1.11/rp_filter`` (sysctl(8)'s rule)."""
    parts = [p.replace("/", ".") for p in key.split(".")]
    if not parts or parts[0] != "net" or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a network sysctl: {key!r}")
    return "/proc/sys/" + "/".join(parts)


def runner_ns_inode() -> int:
    """The namespace of the process's main thread: the one pytest was started in."""
    return os.stat("/proc/self/ns/net").st_ino


class SysctlError(OSError):
    """A sysctl that could not be written: which target (its index) and which key."""

    def __init__(self, target: int, key: str, value: str, exc: OSError) -> None:
        super().__init__(exc.errno, f"cannot set {key}={value}: {exc.strerror or exc}")
        self.target = target
        self.key = key


def write_sysctls(targets: list[tuple[int, int, tuple[tuple[str, str], ...]]]) -> None:
    """Write sysctls in several namespaces in one job on the worker: for each ``(fd, inode,
    ((key, value), ...))`` it enters the namespace, checks it is there, then writes its keys."""
    if not targets:
        return

    def write() -> None:
        for i, (fd, ino, keys) in enumerate(targets):
            setns(fd)
            if os.stat("/proc/thread-self/ns/net").st_ino != ino:  # never trust, verify
                raise RuntimeError(f"could not enter namespace (inode {ino}); refusing to write its sysctls")
            for key, value in keys:
                try:
                    write_sysctl(key, value)
                except OSError as exc:
                    raise SysctlError(i, key, value, exc) from None

    run_in(targets[0][0], write)

"""Rootless mode: topologies inside a user namespace that this process creates for itself.

A process without ``CAP_NET_ADMIN``/``CAP_SYS_ADMIN``/``CAP_NET_RAW`` cannot make network
namespaces. If the kernel lets unprivileged users create user namespaces, :func:`enter_if_needed`
moves the whole process into a new one in which its uid and gid are mapped to 0: it then holds
every capability over the namespaces it creates afterwards, and over nothing else. The network
namespace it was started in (and every other object of the machine) is owned by the initial
user namespace and stays out of its reach, as it always does for topologies.

``unshare(CLONE_NEWUSER)`` works only in a single-threaded process: the plugin calls it from
``pytest_configure``, before any thread exists (the netns worker starts at the first build;
xdist workers and every program started in a namespace inherit the user namespace).
Outside pytest, call :func:`enter_if_needed` first thing.

Inside, ``os.getuid()`` is 0, files of the user show as owned by root and everybody else's
as ``nobody``; ``/run/netns`` is not writable (named namespaces need a mount namespace too).
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from pytest_macvlan.kernel import privileges

_MAX_USERNS = "/proc/sys/user/max_user_namespaces"
_SYSCTLS = (
    ("user.max_user_namespaces", _MAX_USERNS, "0"),
    ("kernel.unprivileged_userns_clone", "/proc/sys/kernel/unprivileged_userns_clone", "0"),
    ("kernel.apparmor_restrict_unprivileged_userns", "/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
)


@dataclass(frozen=True)
class Status:
    """``active``: this process runs in a user namespace of its own. ``reason``: why it could
    not (empty when it did, or when it did not need to)."""

    active: bool = False
    reason: str = ""
    outer_uid: int = -1
    outer_gid: int = -1

    def describe(self) -> str:
        """A short phrase for the report header or a message: active, or why rootless mode is off."""
        if self.active:
            return f"rootless (user namespace, uid {self.outer_uid} mapped to 0)"
        return f"rootless mode unavailable: {self.reason}" if self.reason else ""


_status = Status()


def status() -> Status:
    """What :func:`enter_if_needed` did in this process."""
    return _status


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def thread_count() -> int:
    """How many threads this process has (``unshare(CLONE_NEWUSER)`` needs exactly one)."""
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 1


def explain(err: int) -> str:
    """Why ``unshare(CLONE_NEWUSER)`` failed with ``err``: the sysctl or mechanism behind it."""
    what = f"unshare(CLONE_NEWUSER) failed: {os.strerror(err)}"
    blocking = [
        f"{name} = {value} ({path})"
        for name, path, bad in _SYSCTLS
        if (value := _read(path)) is not None and value == bad
    ]
    if blocking:
        return f"{what}; user namespaces are disabled: {', '.join(blocking)}"
    if err == errno.ENOSPC:
        return f"{what}; the limit user.max_user_namespaces ({_read(_MAX_USERNS)}) is reached"
    if not os.path.exists("/proc/self/ns/user"):
        return f"{what}; this kernel has no user namespaces (CONFIG_USER_NS)"
    seccomp = next(
        (line.split()[1] for line in (_read("/proc/self/status") or "").splitlines() if line.startswith("Seccomp:")),
        "0",
    )
    if err == errno.EPERM and seccomp != "0":
        return f"{what}; a seccomp filter forbids it (a container's default profile does)"
    if err == errno.EPERM:
        return f"{what}; forbidden by a security module, or this process runs in a chroot"
    return what


def _write_maps(uid: int, gid: int) -> None:
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _unshare(*, user: bool) -> None:
    """``unshare`` a user (or network) namespace. libc is loaded only here: a root run never needs it."""
    from pytest_macvlan.kernel import libc

    libc.unshare(libc.CLONE_NEWUSER if user else libc.CLONE_NEWNET)


def describe_missing(missing: list[str]) -> str:
    """Why a topology cannot be built here: the capabilities missing, and why rootless mode is off."""
    why_not = status().describe()
    return (
        f"needs {', '.join(missing)} (creating network namespaces and links, raw sockets): "
        "run as root, or grant these capabilities" + (f"; {why_not}" if why_not else "")
    )


def mode() -> str:
    """A short description of the privilege mode for the report header."""
    if status().active:
        return status().describe()
    missing = privileges.missing_caps()
    return "root (all capabilities needed)" if not missing else f"unprivileged, missing {', '.join(missing)}"


def _probe() -> str | None:
    """Try it in a child first (a security module may allow the user namespace but no
    capabilities in it, and there is no way back): user namespace, network namespace, raw socket."""
    uid, gid = os.getuid(), os.getgid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, which reports through the pipe
        msg = b""
        try:
            os.close(r)
            try:
                _unshare(user=True)
            except OSError as exc:
                msg = explain(exc.errno or 0).encode()
            else:
                _write_maps(uid, gid)
                _unshare(user=False)
                socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        except BaseException as exc:
            msg = f"in a new user namespace: {exc}".encode()
        finally:
            os.write(w, msg)
            os._exit(0)
    os.close(w)
    try:
        chunks = []
        while chunk := os.read(r, 4096):
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode() or None


def enter_if_needed(allowed: bool = True) -> Status:
    """Enter a user namespace of this process's own if it lacks the capabilities a topology
    needs and the kernel allows it. Idempotent; returns what happened (also :func:`status`)."""
    global _status
    if _status.active or not privileges.missing_caps():
        return _status
    if not allowed:
        _status = Status(reason="not allowed by the caller")
        return _status
    threads = thread_count()
    if threads != 1:
        _status = Status(reason=f"the process already runs {threads} threads (unshare needs one)")
        return _status
    problem = _probe()
    if problem:
        _status = Status(reason=problem)
        return _status
    uid, gid = os.getuid(), os.getgid()
    try:
        _unshare(user=True)
        _write_maps(uid, gid)
    except OSError as exc:
        _status = Status(reason=explain(exc.errno or 0))
        return _status
    _status = Status(active=True, outer_uid=uid, outer_gid=gid)
    return _status

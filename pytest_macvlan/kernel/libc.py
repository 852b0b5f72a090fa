"""The few system calls Python 3.11's standard library lacks, and the one directory lock.

``setns``, ``unshare`` (``os.setns``/``os.unshare`` arrived in 3.12), ``mount`` and ``umount2``
through ctypes, each raising :class:`OSError` with the call named; :func:`locked`, an exclusive
``flock`` on a directory, as iproute2 takes on ``/run/netns``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNS = 0x00020000

# The interpreter is linked against libc: its symbols are already loaded (find_library would
# spawn ldconfig, which costs milliseconds at every start).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """Move the *calling thread* into the namespace ``fd`` refers to."""
    _check(_libc.setns(fd, nstype), f"setns(0x{nstype:x})")


def unshare(flags: int) -> None:
    """Give the *calling thread* new namespaces of the kinds in ``flags``."""
    _check(_libc.unshare(flags), f"unshare(0x{flags:x})")


def mount(source: str, target: Path, flags: int) -> None:
    """``mount(source, target, "none", flags, NULL)``."""
    if _libc.mount(source.encode(), str(target).encode(), b"none", flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or '(flags)'} on {target}: {os.strerror(err)}")


def umount2(target: Path, flags: int) -> None:
    """``umount2(target, flags)``."""
    if _libc.umount2(str(target).encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` (which must exist) for the ``with`` block."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

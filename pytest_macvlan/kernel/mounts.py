"""Give a namespace held by a file descriptor a name under ``/run/netns``, as ``ip netns`` does.

``ip netns add NAME`` (iproute2, ``ip/ipnetns.c``) makes ``/run/netns`` a shared mount point
(a bind mount of itself, when it is not a mount point yet), creates the empty file
``/run/netns/NAME`` and bind-mounts the namespace onto it; ``ip netns del`` lazily unmounts
the file and unlinks it. Here the namespace comes from one of this process's descriptors
(``/proc/self/fd/N``), so nothing has to be entered. The bind mount holds a reference to the
namespace: it outlives this process, and ``ip netns exec NAME ...`` and
``nsenter --net=/run/netns/NAME`` enter it.

No pytest here. Every function needs ``CAP_SYS_ADMIN``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from pathlib import Path

from pytest_macvlan.kernel import libc

NETNS_DIR = Path("/run/netns")
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 2
NAME_MAX = 255


def name_problem(name: str) -> str | None:
    """Why ``ip netns`` would refuse ``name`` (its ``invalid_name``), or None."""
    if not name or name in (".", "..") or "/" in name:
        return f"{name!r} cannot name a network namespace"
    if len(name.encode()) > NAME_MAX:
        return f"namespace name {name!r} is longer than {NAME_MAX} bytes"
    return None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> set[str]:
    """Every mount point of this mount namespace (a bind mount of a directory onto itself included,
    which ``os.path.ismount`` cannot see: same device on both sides)."""
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        return {_unescape(line.split()[4]) for line in f if len(line.split()) > 4}


def is_mount_point(path: Path) -> bool:
    """Is something mounted on ``path`` (a namespace bound to a name, for a file in /run/netns)?"""
    return str(path) in mount_points()


def prepare_dir(netns_dir: Path = NETNS_DIR, record: Path | None = None) -> None:
    """Make ``netns_dir`` exist and be a shared mount point, exactly as ``ip netns add`` does.

    What this call had to create (the directory, the self bind mount) is added to the JSON file
    ``record``, so :func:`release_dir` can take away only what this package made.
    """
    made: dict[str, bool] = {}
    try:
        netns_dir.mkdir(mode=0o755)
        made["dir"] = True
    except FileExistsError:
        pass
    with libc.locked(netns_dir):
        made_mount = False
        while True:
            try:
                libc.mount("", netns_dir, MS_SHARED | MS_REC)
                break
            except OSError as exc:
                if exc.errno != errno.EINVAL or made_mount:
                    raise
            # Not a mount point yet: make it one (a bind mount of itself), then share it.
            libc.mount(str(netns_dir), netns_dir, MS_BIND | MS_REC)
            made_mount = True
            made["mount"] = True
    if made and record is not None:
        old = _read_record(record)
        record.write_text(json.dumps({**old, **made}), encoding="utf-8")


def _read_record(record: Path) -> dict[str, bool]:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: bool(v) for k, v in data.items()} if isinstance(data, dict) else {}


def release_dir(netns_dir: Path = NETNS_DIR, record: Path | None = None) -> None:
    """Undo what :func:`prepare_dir` made (per ``record``), but only while ``netns_dir`` is empty.

    The unmount is not lazy: it fails (and is left alone) if anyone has a namespace mounted there.
    """
    if record is None or not record.exists():
        return
    made = _read_record(record)
    if not netns_dir.is_dir() or any(netns_dir.iterdir()):
        return
    # No lock on the directory here (an open descriptor would itself make the unmount fail):
    # anyone using it (an `ip netns add` holding its lock, a mount inside) makes it fail with EBUSY.
    if made.get("mount") and is_mount_point(netns_dir):
        try:
            libc.umount2(netns_dir, 0)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            return
    if made.get("dir"):
        with contextlib.suppress(OSError):  # not empty after all: someone else uses it now
            netns_dir.rmdir()
    record.unlink(missing_ok=True)


def attach(ns_fd: int, name: str, netns_dir: Path = NETNS_DIR) -> Path:
    """Bind the namespace behind this process's ``ns_fd`` to ``netns_dir/name`` (``ip netns attach``).

    The directory must have been prepared (:func:`prepare_dir`). Raises ``FileExistsError`` if
    the name is taken; never replaces anything.
    """
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    path = netns_dir / name
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0))
    try:
        libc.mount(f"/proc/self/fd/{ns_fd}", path, MS_BIND)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def detach(name: str, netns_dir: Path = NETNS_DIR) -> bool:
    """``ip netns del NAME``: lazy unmount, then unlink. False if there was nothing to remove."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    path = netns_dir / name
    found = path.exists()
    try:
        libc.umount2(path, MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted / not there: go on
            raise
    path.unlink(missing_ok=True)
    return found


def names(netns_dir: Path = NETNS_DIR) -> list[str]:
    """The names in ``netns_dir`` (what ``ip netns list`` shows), sorted."""
    try:
        return sorted(p.name for p in netns_dir.iterdir())
    except FileNotFoundError:
        return []

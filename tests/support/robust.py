"""Helpers for the robustness tests: who holds a network namespace, a process's descendants,
a large topology, and a child pytest run under a reaper.

A namespace is identified by its inode *and* its cookie (``SO_NETNS_COOKIE``): the kernel reuses
inode numbers of destroyed namespaces at once, never cookies, and other pytest runs on this
machine create namespaces all the time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.kernel import pidns
from pytest_macvlan.wait import wait_until

SO_NETNS_COOKIE = 71
REAPER = Path(__file__).with_name("reaper.py")
ROOT = Path(__file__).parents[2]
NsId = tuple[int, int]  # (inode, cookie)


def sock_cookie(sock: socket.socket) -> int:
    value: int = struct.unpack("Q", sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
    return value


def cookie_of_fd(fd: int) -> int:
    """The cookie of the namespace ``fd`` refers to (a socket made inside it tells)."""
    with nsmod.run_in(fd, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as sock:
        return sock_cookie(sock)


def current_ns_id() -> NsId:
    """(inode, cookie) of the calling thread's namespace."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        return os.stat("/proc/thread-self/ns/net").st_ino, sock_cookie(sock)


def ns_id_of_fd(fd: int) -> NsId:
    return os.fstat(fd).st_ino, cookie_of_fd(fd)


def _cookie_of_path(path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return cookie_of_fd(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _net_links() -> list[tuple[str, str]]:
    """(path, 'net:[N]') of every namespace reference held by a process: its threads' namespaces
    and its open descriptors."""
    out: list[tuple[str, str]] = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        paths = [f"/proc/{pid}/ns/net"]
        try:
            paths += [f"/proc/{pid}/task/{t}/ns/net" for t in os.listdir(f"/proc/{pid}/task")]
            paths += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:  # gone, or not ours to look at
            pass
        for path in paths:
            try:
                target = os.readlink(path)
            except OSError:
                continue
            if target.startswith("net:["):
                out.append((path, target))
    return out


def _nsfs_mounts() -> list[tuple[str, str]]:
    """(mount point, 'net:[N]') of every nsfs mount (``ip netns add`` makes one in /run/netns)."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if right.split()[:1] == ["nsfs"] and fields[3].startswith("net:["):
            out.append((fields[4], fields[3]))
    return out


def holders(targets: set[NsId]) -> list[str]:
    """Every process reference and mount that still holds one of ``targets``."""
    inodes = {f"net:[{ino}]": ino for ino, _ in targets}
    cookies = {cookie for _, cookie in targets}
    found = []
    for path, target in _net_links() + _nsfs_mounts():
        if target in inodes and _cookie_of_path(path) in cookies:
            found.append(f"{path} -> {target} ({_cmdline(path)})")
    return found


def _cmdline(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit():
        try:
            return Path(f"/proc/{parts[2]}/cmdline").read_text().replace("\0", " ").strip()
        except OSError:
            return "gone"
    return "mount"


def children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            kids += [int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    except OSError:
        pass
    return kids


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, except this process's maker of PID namespaces (which lives
    as long as the test process; the inits it forked are counted)."""
    maker = pidns.maker_pid()
    out, todo = [], children(pid)
    while todo:
        kid = todo.pop()
        if kid != maker:
            out.append(kid)
        todo += children(kid)
    return out


def large_spec(n: int = 24) -> dict[str, Any]:
    """A host namespace with a bridge and ``n`` veth ports; ``n`` namespaces each holding a
    macvlan on one of the host's veths: ``n + 1`` namespaces, ``3 n + 1`` links."""
    host_links: dict[str, Any] = {"br0": {"type": "bridge", "addr": ["10.99.0.1/16"]}}
    spec: dict[str, Any] = {"netns": {"host": {"link": host_links}}}
    for i in range(n):
        host_links[f"veth{i}"] = {"type": "veth", "peer": {"name": f"veth{i}_br", "master": "br0"}}
        spec["netns"][f"ns{i}"] = {
            "link": {f"m{i}": {"type": "macvlan", "link": f"host/veth{i}", "addr": [f"10.99.1.{i + 1}/16"]}}
        }
    return spec


@dataclass
class ReapedRun:
    """A command run under ``tests/support/reaper.py``: it ends only when every descendant has ended."""

    proc: subprocess.Popen[bytes]
    workdir: Path
    output: Path = field(init=False)

    def __post_init__(self) -> None:
        self.output = self.workdir / "output.txt"

    @property
    def main_pid(self) -> int:
        """The PID of the command (the reaper's direct child)."""
        text = wait_until(
            lambda: (self.workdir / "main.pid").read_text() if (self.workdir / "main.pid").exists() else "",
            lambda t: t.endswith("\n"),
            timeout=30,
            what="reaper writes the command's pid",
        )
        return int(text)

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def reaped(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.workdir / "reaped.json").read_text())
        return data

    def wait_for_states(self, count: int, timeout: float = 120) -> list[dict[str, Any]]:
        """Wait for ``count`` state files written by the inner tests (failing early if the run ended)."""
        states = self.workdir / "states"

        def probe() -> list[Path]:
            if self.proc.poll() is not None:
                raise AssertionError(f"the inner run ended early ({self.proc.returncode}):\n{self.text()[-4000:]}")
            return sorted(states.glob("*.json"))

        found = wait_until(
            probe, lambda p: len(p) >= count, timeout=timeout, what=f"{count} inner tests hold their topologies"
        )
        return [json.loads(p.read_text()) for p in found]

    def wait_ended(self, timeout: float = 60) -> int:
        """Wait until every process of the run has ended; on timeout, kill the survivors (by PID) and fail."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            survivors = descendants(self.proc.pid)
            shown = {p: _cmdline(f"/proc/{p}/x") for p in survivors}
            self.kill_all()
            raise AssertionError(f"processes of the run survive it: {shown}") from None

    def kill_all(self) -> None:
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)


def start_reaped(argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> ReapedRun:
    (workdir / "states").mkdir(parents=True, exist_ok=True)
    out = (workdir / "output.txt").open("wb")
    with out:
        proc = subprocess.Popen(
            [sys.executable, str(REAPER), str(workdir), "--", *argv],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOLD_STATE_DIR": str(workdir / "states"), **(env or {})},
        )
    return ReapedRun(proc, workdir)


HOLD_TEST = '''
"""Builds a large topology, starts a program in it and sniffs, records what it holds, then waits
until the run is killed, interrupted or timed out."""
import json, os, socket, struct, threading
from pathlib import Path

import pytest

from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.kernel import pidns

SPEC = {spec!r}


def cookie(sock):
    return struct.unpack("Q", sock.getsockopt(socket.SOL_SOCKET, 71, 8))[0]


def ns_id(fd):
    with nsmod.run_in(fd, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as s:
        return [os.fstat(fd).st_ino, cookie(s)]


def worker_ns_id():
    tid = nsmod.worker_thread_id()
    with nsmod.on_worker(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as s:
        return [os.stat(f"/proc/self/task/{{tid}}/ns/net").st_ino, cookie(s)]


@pytest.mark.parametrize("n", range({tests}))
def test_hold(netlab, n):
    topo = netlab.build(SPEC)
    caps = topo.sniff("host/br0", "ns0/m0")
    sleeper = topo["host"].popen("sleep", "3600")
    assert topo["ns0"].ping("10.99.0.1").ok
    name = f"{{os.environ.get('PYTEST_XDIST_WORKER', 'main')}}-{{n}}"
    state = {{
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "namespaces": [ns_id(ns.fd) for ns in topo],
        "worker": worker_ns_id(),
        "children": [sleeper.pid],
        "maker": pidns.maker_pid(),
        "captures": len(caps),
    }}
    out = Path(os.environ["HOLD_STATE_DIR"])
    (out / f"{{name}}.tmp").write_text(json.dumps(state))
    (out / f"{{name}}.tmp").rename(out / f"{{name}}.json")
    threading.Event().wait(3600)  # held until the run is killed, interrupted or timed out
'''


def hold_test(tests: int = 1, n: int = 24) -> str:
    return HOLD_TEST.format(spec=large_spec(n), tests=tests)


def state_ids(states: list[dict[str, Any]]) -> set[NsId]:
    ids: set[NsId] = set()
    for state in states:
        ids |= {(ino, cookie) for ino, cookie in state["namespaces"]}
        ino, cookie = state["worker"]
        ids.add((ino, cookie))
    return ids

"""Crash-proof cleanup: whatever ends a run (SIGKILL of pytest and its xdist workers, Ctrl-C,
pytest-timeout, an exception inside build), afterwards no namespace, link, mount or process of
it remains, and the runner's namespace is unchanged.

Each run is a child pytest under ``tests/support/reaper.py`` (a child subreaper: it exits only when every
process of the run has ended). Its tests record the (inode, cookie) of every namespace they
hold, the netns worker thread's own namespace, and the PID of a program started in the topology.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import BuildError, NetLab
from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.kernel import processes as procmod
from pytest_macvlan.wait import wait_until
from tests.support import runner_state
from tests.support.robust import (
    NsId,
    ReapedRun,
    current_ns_id,
    descendants,
    hold_test,
    holders,
    large_spec,
    sock_cookie,
    start_reaped,
    state_ids,
)

CLEANUP_TIMEOUT = 30.0


def runner_snapshot() -> dict[str, Any]:
    # /run/netns is left out: other runs on this machine may name namespaces at any time; the
    # namespaces of *this* run are looked for in every mount (ip netns add makes one) instead.
    snap = runner_state.snapshot()
    del snap["netns"]
    return snap


@pytest.fixture
def runner_unchanged() -> Iterator[None]:
    before = runner_snapshot()
    yield
    assert runner_state.diff(before, runner_snapshot()) == []


def inner_pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "pytest_macvlan", "-p", "no:cacheprovider", "-q", *args]


def start_holding(tmp_path: Path, *args: str, tests: int = 1) -> ReapedRun:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_hold.py").write_text(hold_test(tests))
    return start_reaped(inner_pytest(*args, "test_hold.py"), tmp_path)


def assert_nothing_remains(run: ReapedRun, states: list[dict[str, Any]], code: int) -> None:
    """After the run: every process of it has ended (the started programs too), and no process
    reference or mount holds any of its namespaces (the kernel then destroys them, links and all)."""
    assert run.wait_ended() == code, run.text()[-4000:]
    for state in states:
        for pid in state["children"]:  # ended, by teardown or with their PID namespace
            assert not is_sleeper(pid), f"the program started in the topology (pid {pid}) still runs"
    ids = state_ids(states)
    wait_until(
        lambda: holders(ids),
        lambda found: not found,
        timeout=CLEANUP_TIMEOUT,
        what="no reference to the run's namespaces",
        show="\n".join,
    )


def is_sleeper(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x003600\x00"
    except OSError:
        return False


def check_held(states: list[dict[str, Any]], expect: int) -> set[NsId]:
    """The positive control: while the run is alive, the scan does find every namespace it holds."""
    assert len(states) == expect
    ids = state_ids(states)
    assert len(ids) == expect * (len(large_spec()["netns"]) + 1), "namespaces are all distinct"
    found = "\n".join(holders(ids))
    missing = [ino for ino, _ in ids if f"net:[{ino}]" not in found]
    assert not missing, f"the scan misses held namespaces {missing}:\n{found}"
    return ids


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.usefixtures("runner_unchanged")
def test_sigkill_of_pytest_leaves_nothing(tmp_path: Path) -> None:
    run = start_holding(tmp_path)
    try:
        states = run.wait_for_states(1)
        check_held(states, 1)
        assert states[0]["pid"] == run.main_pid
        kill(run.main_pid)
        assert_nothing_remains(run, states, 128 + signal.SIGKILL)
        # The maker of PID namespaces (and the inits it forked) are orphaned and end on their own,
        # watching the killed process's pidfd; the program was killed with its PID namespace.
        assert states[0]["maker"] in run.reaped()["reaped"], "the maker of PID namespaces ended"
    finally:
        if run.proc.poll() is None:
            run.kill_all()


@pytest.mark.usefixtures("runner_unchanged")
def test_sigkill_of_pytest_and_its_xdist_workers_leaves_nothing(tmp_path: Path) -> None:
    run = start_holding(tmp_path, "-n", "2", tests=2)
    try:
        states = run.wait_for_states(2)
        check_held(states, 2)
        controller = run.main_pid
        workers = {s["pid"] for s in states}
        assert len(workers) == 2 and {s["ppid"] for s in states} == {controller}
        assert workers <= set(descendants(controller))
        kill(controller)
        for pid in workers:
            kill(pid)
        assert_nothing_remains(run, states, 128 + signal.SIGKILL)
    finally:
        if run.proc.poll() is None:
            run.kill_all()


@pytest.mark.usefixtures("runner_unchanged")
def test_keyboard_interrupt_leaves_nothing(tmp_path: Path) -> None:
    run = start_holding(tmp_path)
    try:
        states = run.wait_for_states(1)
        check_held(states, 1)
        os.kill(run.main_pid, signal.SIGINT)  # what Ctrl-C sends
        assert_nothing_remains(run, states, pytest.ExitCode.INTERRUPTED)
        assert "KeyboardInterrupt" in run.text()
    finally:
        if run.proc.poll() is None:
            run.kill_all()


@pytest.mark.parametrize("method", ["signal", "thread"])
@pytest.mark.usefixtures("runner_unchanged")
def test_pytest_timeout_leaves_nothing(tmp_path: Path, method: str) -> None:
    """``signal`` fails the test and tears down; ``thread`` dumps the stacks and ``os._exit``s."""
    pytest.importorskip("pytest_timeout", reason="pytest-timeout is in the dev extra: pip install -e .[dev]")
    # Only the test's call is timed: the build (in setup) may be slow on a busy machine.
    run = start_holding(tmp_path, "--timeout", "3", "--timeout-method", method, "-o", "timeout_func_only=true")
    try:
        states = run.wait_for_states(1)
        check_held(states, 1)
        assert_nothing_remains(run, states, pytest.ExitCode.TESTS_FAILED)
        assert "Timeout" in run.text()
    finally:
        if run.proc.poll() is None:
            run.kill_all()


# -- an exception inside build, in this process ------------------------------------------------


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[NsId]:
    """Every namespace the package creates from now on, as (inode, cookie)."""
    made: list[NsId] = []
    nsmod.worker_thread_id()  # started before anything is patched
    real = nsmod._thread_ns_fd

    def recording() -> int:
        if threading_is_worker():
            made.append(current_ns_id())
        return real()

    monkeypatch.setattr(nsmod, "_thread_ns_fd", recording)
    return made


def threading_is_worker() -> bool:
    return threading.get_native_id() == nsmod.worker_thread_id()


def own_children() -> list[int]:
    return descendants(os.getpid())


def _fail_in_namespaces(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    calls = []
    real = nsmod.unshare_net

    def failing() -> None:
        calls.append(1)
        if len(calls) == 5:
            raise exc
        real()

    monkeypatch.setattr(nsmod, "unshare_net", failing)


def _fail_in_firewall(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """The build fails when it starts iptables (every program starts through a supervisor)."""
    real = procmod.Supervisor.popen

    def failing(self: procmod.Supervisor, fd: int, argv: Any, *args: Any, **kw: Any) -> Any:
        if argv[0].startswith("iptables"):
            raise exc
        return real(self, fd, argv, *args, **kw)

    monkeypatch.setattr(procmod.Supervisor, "popen", failing)


@pytest.mark.parametrize("exc", [RuntimeError("injected"), KeyboardInterrupt()], ids=["RuntimeError", "Ctrl-C"])
@pytest.mark.parametrize("where", ["namespaces", "firewall"])
@pytest.mark.usefixtures("runner_unchanged")
def test_exception_inside_build_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, created: list[NsId], where: str, exc: BaseException
) -> None:
    spec = large_spec(8)
    spec["netns"]["host"]["iptables"] = ["-P FORWARD DROP"]
    children_before = own_children()
    {"namespaces": _fail_in_namespaces, "firewall": _fail_in_firewall}[where](monkeypatch, exc)
    with NetLab() as lab, pytest.raises(type(exc)):
        lab.build(spec)
    assert created, "the build created namespaces before failing"
    assert len(created) == (4 if where == "namespaces" else 9)
    assert holders(set(created)) == []
    assert own_children() == children_before


@pytest.mark.usefixtures("runner_unchanged")
def test_a_failing_firewall_rule_undoes_the_whole_build(created: list[NsId]) -> None:
    spec = large_spec(8)
    spec["netns"]["host"]["iptables"] = ["-A FORWARD -j NO_SUCH_TARGET"]
    with NetLab() as lab, pytest.raises(BuildError) as info:
        lab.build(spec)
    assert info.value.entry.startswith("netns.host.iptables"), str(info.value)
    assert len(created) == 9 and holders(set(created)) == []


def test_holders_sees_a_held_namespace_and_tells_reused_inodes_apart() -> None:
    """The scan finds a namespace held only by a descriptor, and not an other namespace that
    happens to have the same inode number (the cookie differs)."""
    with NetLab() as lab:
        topo = lab.build({"netns": {"a": {}}})
        fd = topo["a"].fd
        with nsmod.run_in(fd, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as s:
            nid = (os.fstat(fd).st_ino, sock_cookie(s))
        assert any(f"/proc/{os.getpid()}/fd/{fd} " in h for h in holders({nid})), holders({nid})
        assert holders({(nid[0], nid[1] + 10**9)}) == []
    assert holders({nid}) == []

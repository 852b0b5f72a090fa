"""Programs under test: ``Netns.spawn``/``run``/``path``, and nothing a topology starts outlives it.

Issue 12, items 1-3 and 12: a program that forks into the background or daemonizes, a SIGKILL of
the test process while programs are being started, an interrupt while a program is being
started, and teardown of programs that ignore SIGTERM (parallel, bounded). Every survivor is
looked for by a command line of the test's own (``sleep 3600.TOKEN``), in all of ``/proc``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import ClosedError, NetLab, Topology, WaitTimeout
from pytest_macvlan.wait import wait_until
from tests.support.specs import PAIR

SPAWNER = Path(__file__).parents[1] / "programs" / "spawner.py"
ROOT = Path(__file__).parents[2]


def token() -> str:
    return f"{os.getpid()}{threading.get_native_id()}{random.randrange(10**6):06d}"


def with_token(tok: str) -> list[int]:
    """PIDs of running processes whose command line mentions ``3600.TOK`` (zombies have none)."""
    found = []
    needle = f"3600.{tok}".encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue
    return found


def none_left(tok: str, timeout: float = 10.0) -> None:
    wait_until(lambda: with_token(tok), lambda pids: not pids, timeout=timeout, what=f"no process with 3600.{tok}")


@pytest.fixture
def pair() -> Iterator[Topology]:
    with NetLab() as lab:
        yield lab.build(PAIR)


# -- nothing outlives its topology ----------------------------------------------------------


def test_a_program_left_in_the_background_by_run_ends_with_the_topology() -> None:
    tok = token()
    with NetLab() as lab:
        topo = lab.build(PAIR)
        topo["a"].run("sh", "-c", f"sleep 3600.{tok} >/dev/null 2>&1 &")
        wait_until(lambda: with_token(tok), timeout=5, what="the background program runs")
    none_left(tok)


def test_a_daemon_that_forks_twice_ends_with_the_topology() -> None:
    tok = token()
    with NetLab() as lab:
        topo = lab.build(PAIR)
        p = topo["a"].spawn("sh", "-c", f"(setsid sleep 3600.{tok} >/dev/null 2>&1 &); echo forked")
        p.wait_for_output("forked")
        assert p.wait(5) == 0
        pids = wait_until(lambda: with_token(tok), timeout=5, what="the daemon runs")
        assert all(os.getppid() != pid for pid in pids)
        topo.close()
        none_left(tok)


def test_programs_that_ignore_sigterm_end_in_parallel_within_two_seconds() -> None:
    tok = token()
    with NetLab() as lab:
        topo = lab.build(PAIR)
        for i in range(100):
            topo["ab"[i % 2]].spawn("sh", "-c", f"trap '' TERM; sleep 3600.{tok} & exec sleep 3600.{tok}")
        wait_until(lambda: len(with_token(tok)), lambda n: n == 200, timeout=30, what="200 programs run")
        start = time.monotonic()
        topo.close()
        took = time.monotonic() - start
    assert took <= 2.0, f"teardown of 100 programs that ignore SIGTERM took {took:.2f}s"
    none_left(tok, timeout=2)


class Interrupt(BaseException):
    """What pytest-timeout (or Ctrl-C) raises in the test's thread."""


def test_an_interrupt_while_a_program_is_being_started_does_not_leak_it(
    monkeypatch: pytest.MonkeyPatch, pair: Topology
) -> None:
    """The caller is interrupted while it waits for the thread that forks: the program starts
    anyway, and ends with the topology (it was registered by the thread that forked it)."""
    tok = token()
    pair["a"].run("true")  # the topology's supervisor exists: the next wait is the program's
    real = Future.result
    armed = [True]

    def interrupted(self: Future[Any], timeout: float | None = None) -> Any:
        if armed[0] and threading.current_thread() is threading.main_thread():
            armed[0] = False
            raise Interrupt
        return real(self, timeout)

    monkeypatch.setattr(Future, "result", interrupted)
    with pytest.raises(Interrupt):
        pair["a"].spawn("sleep", f"3600.{tok}")
    monkeypatch.undo()
    wait_until(lambda: with_token(tok), timeout=5, what="the interrupted program started")
    pair.close()
    none_left(tok)


def kill_while_starting(moment: float, tok: str, *, all_started: bool = False) -> None:
    with subprocess.Popen(
        [sys.executable, str(SPAWNER), tok], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True
    ) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "ready\n", line + child.communicate(timeout=30)[1]
        if all_started:
            assert child.stdout.readline() == "all started\n"
        threading.Event().wait(moment)  # the attack: SIGKILL at this moment, whatever is going on
        child.kill()
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    none_left(tok)


@pytest.mark.parametrize("i", range(5))
def test_sigkill_while_programs_are_being_started_leaves_none(i: int) -> None:
    kill_while_starting(random.uniform(0, 0.05), token())


def test_sigkill_with_daemons_running_leaves_none() -> None:
    kill_while_starting(0, token(), all_started=True)


@pytest.mark.slow
def test_sigkill_at_50_random_moments_leaves_no_program_daemon_or_fork() -> None:
    for _ in range(50):
        kill_while_starting(random.uniform(0, 0.05), token())


# -- Netns.spawn, run, path -----------------------------------------------------------------

LISTEN = (
    "import socket,sys,time; s=socket.socket({family}); s.bind(('', {port})); "
    "{listen}print('up', flush=True); time.sleep(3600)"
)


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_spawn_wait_for_output_and_listen(pair: Topology, proto: str) -> None:
    kind = "socket.SOCK_STREAM" if proto == "tcp" else "socket.SOCK_DGRAM"
    code = LISTEN.format(family=f"socket.AF_INET, {kind}", port=8080, listen="s.listen(); " if proto == "tcp" else "")
    p = pair["b"].spawn(sys.executable, "-c", code)
    assert p.wait_for_output(r"^up$").group(0) == "up"
    p.wait_for_listen(8080, proto)
    assert p.returncode is None
    with pytest.raises(WaitTimeout, match="listening on tcp port 8081"):
        p.wait_for_listen(8081, timeout=0.2)


def test_spawn_wait_for_link_made_by_the_program(pair: Topology) -> None:
    p = pair["a"].spawn("ip", "link", "add", "made0", "type", "veth", "peer", "name", "made1")
    info = p.wait_for_link("made0")
    assert info.name == "made0" and info.kind == "veth"
    assert p.wait() == 0


def test_spawn_exits_early_fails_at_once_with_its_output(pair: Topology) -> None:
    p = pair["a"].spawn("sh", "-c", "echo to-out; echo to-err >&2; exit 3")
    start = time.monotonic()
    with pytest.raises(AssertionError, match="exited before output matching 'never'") as info:
        p.wait_for_output("never", timeout=30)
    assert time.monotonic() - start < 5
    assert "to-out" in str(info.value) and "to-err" in str(info.value)
    assert p.returncode == 3 and p.stdout == "to-out\n" and p.stderr == "to-err\n"


def test_spawn_env_cwd_and_run_input_env(pair: Topology, tmp_path: Path) -> None:
    p = pair["a"].spawn(
        "sh",
        "-c",
        'echo "$CNI_COMMAND $PWD"; [ -z "$HOME" ] && echo nohome',
        env={"CNI_COMMAND": "ADD", "HOME": None},
        cwd=tmp_path,
    )
    p.wait_for_output("nohome")
    assert p.stdout.splitlines()[0] == f"ADD {tmp_path}"
    done = pair["b"].run("sh", "-c", 'cat; echo "$X"', input="from stdin\n", env={"X": "y"})
    assert done.stdout == "from stdin\ny\n"
    with pytest.raises(ValueError, match="bad variable name"):
        pair["a"].run("true", env={"A=B": "c"})


def test_netns_path_is_accepted_by_nsenter_and_ip(pair: Topology) -> None:
    a, b = pair["a"], pair["b"]
    assert Path(a.path).resolve() == Path(f"/proc/{os.getpid()}/fd/{a.fd}").resolve()
    assert os.readlink(a.path) == f"net:[{a.inode}]"
    out = b.run("nsenter", f"--net={a.path}", "ip", "-br", "link", "show", "v0").stdout
    assert out.startswith("v0"), out
    b.run("ip", "link", "add", "mv0", "type", "veth", "peer", "name", "mv1")
    b.run("ip", "link", "set", "mv0", "netns", a.path)
    assert any(i.name == "mv0" for i in a.link_infos())


def test_a_failing_tests_report_shows_its_programs_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_program(netlab):
            topo = netlab.build({"netns": {"a": {}}})
            p = topo["a"].spawn("sh", "-c", "echo said-on-stdout; echo said-on-stderr >&2; exit 7")
            p.wait_for_output("said-on-stdout")
            p.wait()
            assert False, "deliberate"
        """
    )
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*pytest-macvlan program a: sh -c*", "*exited with 7*", "*said-on-stdout*", "*said-on-stderr*"]
    )


def test_a_program_cannot_be_started_after_teardown(pair: Topology) -> None:
    pair["a"].run("true")
    sup = pair.supervisor
    pair.close()
    with pytest.raises(ClosedError, match="programs have been stopped"):
        sup.popen(0, ["true"])

"""Bad input, hostile input, bad use at run time, and the host's safety.

- Every malformed spec of test_spec.py is refused before anything touches the kernel.
- Names and arguments with shell metacharacters or path separators never reach a shell or a path.
- Misuse at run time is a clear error naming the link or the wait, never a hang.
- A spec cannot reach the runner's interfaces: every namespace it names is a new one.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import NetLab, Topology, WaitTimeout
from pytest_macvlan.kernel import nsworker as nsmod
from tests.support.robust import descendants
from tests.support.specs import PAIR

SCENARIOS = Path(__file__).parents[2] / "scenarios"


VEPA = SCENARIOS / "vepa.toml" if (SCENARIOS / "vepa.toml").exists() else SCENARIOS / "private.toml"


SHELL_BAIT = ["$(touch {f})", "`touch {f}`", "; touch {f}", "&& touch {f}", "| touch {f}", "\ntouch {f}", "{f}*"]


def test_arguments_reach_the_program_literally(tmp_path: Path) -> None:
    """``Netns.run``/``popen`` pass argv to execve: no shell expands, splits or globs anything."""
    pwned = tmp_path / "pwned"
    args = [bait.format(f=pwned) for bait in SHELL_BAIT]
    with NetLab() as lab:
        ns = lab.build({"netns": {"a": {}}})["a"]
        done = ns.run("printf", "%s\\0", *args)
        assert done.stdout.split("\0")[:-1] == args
        p = ns.popen("printf", "%s\\0", *args)
        out, _ = p.communicate(timeout=10)
        assert out.split("\0")[:-1] == args
    assert not pwned.exists()
    assert not list(tmp_path.iterdir())


def test_firewall_rules_from_a_spec_never_reach_a_shell(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    bait = f"$(touch${{IFS}}{pwned});`touch${{IFS}}{pwned}`|&>{pwned}"
    spec = {"netns": {"a": {"iptables": [["-A", "INPUT", "-m", "comment", "--comment", bait, "-j", "ACCEPT"]]}}}
    with NetLab() as lab:
        ns = lab.build(spec)["a"]
        assert str(pwned) in ns.iptables("-S", "INPUT").stdout
        ns.iptables("-A", "INPUT", "-m", "comment", "--comment", f"| touch {pwned}", "-j", "DROP")
        assert f'"| touch {pwned}"' in ns.iptables("-S", "INPUT").stdout
    assert not pwned.exists()


@pytest.mark.parametrize("comment", ["two words", "$(x);`y`", 'a "quoted" \\ word', "#not a comment"])
def test_firewall_rule_arguments_from_a_spec_reach_iptables_literally(comment: str) -> None:
    spec = {"netns": {"a": {"iptables": [["-A", "INPUT", "-m", "comment", "--comment", comment, "-j", "ACCEPT"]]}}}
    with NetLab() as lab:
        ns = lab.build(spec)["a"]
        b = lab.build({"netns": {"b": {}}})["b"]
        b.iptables("-A", "INPUT", "-m", "comment", "--comment", comment, "-j", "ACCEPT")
        assert ns.iptables("-S", "INPUT").stdout == b.iptables("-S", "INPUT").stdout


@pytest.fixture
def pair() -> Iterator[Topology]:
    with NetLab() as lab:
        yield lab.build(PAIR)


def quick(call: Callable[[], object], deadline: float = 30.0) -> BaseException:
    """Call, expecting an exception, on a thread given ``deadline`` seconds to come back: a call
    still running then is a hang, and fails the test instead of blocking it."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    assert outcome, f"still running after {deadline:g}s: a hang instead of an error"
    err = outcome[0]
    assert err is not None, "no error"
    return err


def test_sniffing_or_sending_on_a_link_that_does_not_exist(pair: Topology) -> None:
    with pytest.raises(KeyError, match=r"no link 'a/nope' .*\(have: a/lo, a/v0\)"):
        pair.link("a/nope").sniff()
    with pytest.raises(KeyError, match="no link 'zz/v0'"):
        pair.sniff("zz/v0")
    with pytest.raises(ValueError, match="must be 'netns/name'"):
        pair.link("v0")
    vb = pair.link("b/v0")
    pair["a"].run("ip", "link", "del", "v0")  # behind the topology's back: both ends go
    err = quick(vb.sniff)
    assert isinstance(err, OSError) and err.strerror == "b/v0: cannot sniff: No such device (the link no longer exists)"
    err = quick(lambda: vb.send(b"\xff" * 60))
    assert isinstance(err, OSError) and err.strerror == "b/v0: cannot send: No such device (the link no longer exists)"
    err = quick(vb.info)
    assert isinstance(err, LookupError) and "b/v0 no longer exists" in str(err)


def test_sending_on_a_link_that_is_down_or_gone(pair: Topology) -> None:
    va = pair.link("a/v0")
    va.send(b"\xff" * 60)  # the send socket is open now
    va.set_down()
    err = quick(lambda: va.send(b"\xff" * 60))
    assert isinstance(err, OSError) and err.strerror == "a/v0: send failed: Network is down", err
    pair["a"].run("ip", "link", "del", "v0")
    err = quick(lambda: va.send(b"\xff" * 60))
    assert isinstance(err, OSError) and err.strerror is not None, err
    assert err.strerror.startswith("a/v0: send failed") and err.strerror.endswith("(the link no longer exists)"), err


@pytest.mark.parametrize(
    "deadline", [0, -1, None, math.nan, math.inf, 1e300], ids=["zero", "negative", "none", "nan", "inf", "1e300"]
)
def test_every_wait_needs_a_deadline(pair: Topology, deadline: Any) -> None:
    cap = pair.link("b/v0").sniff()
    for call in (
        lambda: cap.wait_for(timeout=deadline),
        lambda: pair.link("a/v0").wait_carrier(True, timeout=deadline),
        lambda: pair["a"].run("sleep", "3600", timeout=deadline),
        lambda: pair["a"].ping("127.0.0.1", timeout=deadline),
        lambda: pair["a"].echo("127.0.0.1", timeout=deadline),
    ):
        err = quick(call)
        assert isinstance(err, ValueError) and "timeout" in str(err), repr(err)


def test_a_program_that_hangs_is_ended_at_its_deadline(pair: Topology) -> None:
    forever = f"3600.{os.getpid()}{threading.get_native_id()}"  # a command line of this test's own
    err = quick(lambda: pair["a"].run("sleep", forever, timeout=0.5))
    assert isinstance(err, subprocess.TimeoutExpired) and err.cmd == ["sleep", forever], repr(err)
    assert not [pid for pid in descendants(os.getpid()) if _cmdline(pid) == f"sleep\0{forever}\0".encode()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_failing_program_says_why(pair: Topology) -> None:
    err = quick(lambda: pair["a"].run("ip", "link", "set", "nope", "up"))
    assert isinstance(err, subprocess.CalledProcessError)
    assert str(err).startswith("Command '['ip', 'link', 'set', 'nope', 'up']' returned non-zero exit status 1")
    assert 'Cannot find device "nope"' in str(err)


def test_a_wait_that_ends_says_what_it_saw(pair: Topology) -> None:
    err = quick(lambda: pair.link("a/v0").wait_carrier(False, timeout=0.2))
    assert isinstance(err, WaitTimeout) and "a/v0: carrier off" in str(err) and "last seen: flags=" in str(err)


def test_every_handle_refuses_use_after_teardown() -> None:
    """test_topology checks topo[...], sniff, send, run and wait_for; these are the rest."""
    from pytest_macvlan import ClosedError

    lab = NetLab()
    topo = lab.build(PAIR)
    a, link = topo["a"], topo.link("a/v0")
    cap = topo.link("b/v0").sniff()
    lab.close()
    calls: dict[str, Callable[[], object]] = {
        "ping": lambda: a.ping("192.168.9.3"),
        "popen": lambda: a.popen("sleep", "1"),
        "sysctl": lambda: a.sysctl("net.ipv4.ip_forward"),
        "link_infos": a.link_infos,
        "add_neigh": lambda: a.add_neigh("192.168.9.9", "02:00:00:00:00:01", "v0"),
        "iptables": lambda: a.iptables("-S"),
        "neighbours": a.neighbours,
        "set_up": link.set_up,
        "set_down": link.set_down,
        "set_hairpin": lambda: link.set_hairpin(True),
        "info": link.info,
        "carrier": lambda: link.carrier,
        "wait_carrier": link.wait_carrier,
        "topo.link": lambda: topo.link("a/v0"),
        "topo.sniff": lambda: topo.sniff("a/v0"),
        "assert_none": cap.assert_none,
    }
    wrong = {}
    for name, call in calls.items():
        err = quick(call)
        if not isinstance(err, ClosedError):
            wrong[name] = repr(err)
    assert wrong == {}
    assert cap.count() == 0 and cap.summary() == "b/v0: (no frames)", "what was captured stays readable"


def runner_eth0() -> dict[str, str]:
    """The runner's eth0 (this process's main thread sees the runner's namespace in /sys)."""
    eth0 = Path("/sys/class/net/eth0")
    keys = ("address", "ifindex", "flags", "mtu", "operstate")
    return {key: (eth0 / key).read_text() for key in keys} if eth0.exists() else {}


def test_a_full_run_never_enters_or_touches_the_runners_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the article's topology, sniff, send, ping, start programs and tear down, while every
    namespace the package enters, makes a socket in, or starts a program in is recorded."""
    runner = nsmod.runner_ns_inode()
    entered: list[int] = []
    real_setns, real_socket_in = nsmod.setns, nsmod.socket_in

    def setns(fd: int) -> None:
        entered.append(nsmod.ns_inode(fd))
        real_setns(fd)

    def socket_in(fd: int, *args: Any) -> Any:
        entered.append(nsmod.ns_inode(fd))
        return real_socket_in(fd, *args)

    monkeypatch.setattr(nsmod, "setns", setns)
    monkeypatch.setattr(nsmod, "socket_in", socket_in)
    before = runner_eth0()
    with NetLab() as lab:
        topo = lab.build(VEPA)
        inodes = {ns.inode for ns in topo}
        assert runner not in inodes and len(inodes) == len(topo.namespaces)
        cap = topo.link("ns2/macvl2").sniff()
        topo["ns1"].ping("192.168.9.3")
        macvl1 = topo.link("ns1/macvl1")
        macvl1.send(bytes.fromhex("ffffffffffff" + macvl1.mac.replace(":", "") + "88b5") + bytes(46))
        topo["S3"].run("ip", "-br", "link")
        topo["S3"].popen("sleep", "60")
        topo["ns1"].sysctl("net.ipv4.ip_forward", 1)
        cap.wait_for()
    assert entered, "the recording saw the package at work"
    assert runner not in entered
    assert runner_eth0() == before

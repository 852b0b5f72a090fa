"""No resource creep: build/teardown cycles of the article's vepa topology (with a capture, a
frame sent, a ping and a program started in each) bring open descriptors, threads and child
processes back to their starting counts."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from pytest_macvlan import NetLab, arp_request, icmp_echo_request, wait_until
from tests.support.robust import descendants

SCENARIOS = Path(__file__).parents[2] / "scenarios"
VEPA = SCENARIOS / "vepa.toml" if (SCENARIOS / "vepa.toml").exists() else SCENARIOS / "private.toml"


def counts() -> dict[str, object]:
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    status = Path("/proc/self/status").read_text()
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    return {
        "fds": sorted(fds.values()),
        "threads": threads,
        "python threads": sorted(t.name for t in threading.enumerate()),
        "children": descendants(os.getpid()),  # the programs are the inits' children
    }


def settled(before: dict[str, object]) -> None:
    """The counts come back to ``before``. Bounded: a joined thread's OS thread, or a reaped
    child, can take a moment to leave ``/proc``; a real leak stays, and the failure shows it."""
    wait_until(counts, lambda now: now == before, timeout=5.0, what=f"counts back to {before}", show=repr)


def cycle(lab: NetLab) -> None:
    topo = lab.build(VEPA)
    macvl1, macvl2 = topo.link("ns1/macvl1"), topo.link("ns2/macvl2")
    cap = macvl2.sniff()
    topo["ns1"].popen("sleep", "600")
    macvl1.send(bytes.fromhex("ffffffffffff" + macvl1.mac.replace(":", "") + "0806") + bytes(46))
    assert topo["ns1"].ping("192.168.9.3", timeout=2).ok
    cap.wait_for(icmp_echo_request(dst="192.168.9.3"))
    assert cap.count(arp_request()) >= 1
    topo.close()


def run_cycles(n: int) -> None:
    with NetLab() as lab:
        cycle(lab)  # warm-up: the worker thread starts, modules are imported, caches fill
    before = counts()
    with NetLab() as lab:
        for _ in range(n):
            cycle(lab)
    settled(before)


def test_build_teardown_cycles_leave_no_residue() -> None:
    run_cycles(25)


def test_the_counts_do_see_a_live_topology() -> None:
    """The control: while a topology lives, its descriptors and programs are counted."""
    before = counts()
    with NetLab() as lab:
        topo = lab.build(VEPA)
        sleeper = topo["ns1"].popen("sleep", "600")
        during = counts()
        assert sleeper.pid in during["children"]  # type: ignore[operator]
        assert sum(fd.startswith("net:[") for fd in during["fds"]) >= len(topo.namespaces)  # type: ignore[attr-defined]
    settled(before)


@pytest.mark.slow
def test_a_thousand_build_teardown_cycles_leave_no_residue() -> None:
    run_cycles(1000)

"""--keep-topology: kept namespaces outlive pytest, enterable and removable with the printed commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_macvlan.topology import keep
from pytest_macvlan.topology.keep import Kept
from tests.support.keeping import KeptTracker, mounted_names, netns_names, ns_run, tracking
from tests.support.specs import PAIR

TESTS = f"""
PAIR = {PAIR!r}


def test_fails(netlab):
    netlab.build(PAIR)
    assert False, "deliberate failure"


def test_passes(netlab):
    netlab.build(PAIR)
"""


# A private mount namespace with a /run of its own: what runs in it cannot see or touch the
# machine's /run/netns, and everything named there dies with it.
SANDBOX = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$@"', "sh"]


@pytest.fixture
def kept() -> Iterator[KeptTracker]:
    """Removes, after the test (even a failing one), what this test kept, and only that."""
    with tracking() as tracker:
        yield tracker


def test_a_kept_topology_outlives_its_descriptors_and_is_removed(kept: KeptTracker) -> None:
    from pytest_macvlan import NetLab

    run = keep.new_run_id()
    with NetLab() as lab:
        topo = lab.build(PAIR)
        record = keep.keep(topo, f"pmv-{run}-1", run=run, made_by="test", outcome="failed")
    # The lab is closed: this process holds no descriptor, only the names hold the namespaces.
    a, b = record.namespaces["a"], record.namespaces["b"]
    assert a == f"pmv-{run}-1-a" and mounted_names([a, b]) == [a, b]
    assert "v0@" in ns_run(a, "ip", "-br", "link").stdout
    ping = ns_run(a, "ping", "-c", "1", "-W", "2", "192.168.9.3")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert keep.state_path(record.id).is_file()
    assert [k.id for k in kept.mine()] == [record.id]

    assert keep.remove(record) == []
    assert mounted_names([a, b]) == [] and a not in netns_names() and b not in netns_names()
    assert not keep.state_path(record.id).exists()
    assert ns_run(a, "true").returncode != 0


def test_an_id_is_never_kept_twice(kept: KeptTracker) -> None:
    from pytest_macvlan import NetLab

    run = keep.new_run_id()
    with NetLab() as lab:
        first = keep.keep(lab.build(PAIR), f"pmv-{run}-1", run=run, made_by="test", outcome="failed")
        with pytest.raises(FileExistsError):
            keep.keep(lab.build(PAIR), f"pmv-{run}-1", run=run, made_by="test", outcome="failed")
    assert mounted_names(list(first.namespaces.values())) == list(first.namespaces.values())
    assert Kept.from_json(keep.state_path(first.id).read_text()) == first


def test_failed_test_is_kept_and_the_printed_commands_work(pytester: pytest.Pytester, kept: KeptTracker) -> None:
    pytester.makepyfile(test_net=TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan", "--keep-topology")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*= pytest-macvlan: kept topologies =*",
            "pmv-*-1: made by test_net.py::test_fails (failed) at *, spec <dict>",
            "  netns a: pmv-*-1-a  (links: v0)",
            "    ip netns exec pmv-*-1-a bash",
            "    nsenter --net=/run/netns/pmv-*-1-a bash",
            "  netns b: pmv-*-1-b  (links: v0)",
            "  remove it: * -m pytest_macvlan down pmv-*-1",
        ]
    )
    assert "test_passes" not in out.split("kept topologies")[1], "a passing test is not kept"
    mine = kept.mine()
    assert [k.made_by for k in mine] == ["test_net.py::test_fails"]
    names = list(mine[0].namespaces.values())

    enter = re.findall(r"^    ip netns exec (\S+) bash$", out, re.M)
    assert enter == names
    assert "192.168.9.2/24" in ns_run(enter[0], "ip", "-br", "addr").stdout
    nsenter = re.findall(r"^    nsenter (--net=\S+) bash$", out, re.M)
    done = subprocess.run(["nsenter", nsenter[1], "ip", "-br", "addr"], capture_output=True, text=True, timeout=30)
    assert "192.168.9.3/24" in done.stdout, done.stderr

    (remove,) = re.findall(r"^  remove it: (.+)$", out, re.M)
    done = subprocess.run(shlex.split(remove), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert kept.mine() == []
    assert mounted_names(names) == [] and not set(names) & set(netns_names())


def test_without_the_option_nothing_is_kept_with_always_everything(
    pytester: pytest.Pytester, kept: KeptTracker
) -> None:
    pytester.makepyfile(test_net=TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.assert_outcomes(passed=1, failed=1)
    assert "kept topologies" not in result.stdout.str()
    assert kept.mine() == []
    ours = re.compile(rf"pmv-\d{{6}}-\d{{6}}-{os.getpid()}\b")  # this process's run ids
    assert not [name for name in netns_names() if ours.match(name)]

    result = pytester.runpytest("-p", "pytest_macvlan", "--keep-topology=always", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    assert sorted((k.made_by, k.outcome) for k in kept.mine()) == [
        ("test_net.py::test_fails", "failed"),
        ("test_net.py::test_passes", "passed"),
    ]
    result.stdout.fnmatch_lines(["remove all 2: * -m pytest_macvlan down *"])


def test_a_module_scoped_topology_is_kept_when_a_test_of_its_module_fails(
    pytester: pytest.Pytester, kept: KeptTracker
) -> None:
    pytester.makepyfile(
        test_shared=f"""
        from pytest_macvlan.plugin import factories

        pair = factories.topology({PAIR!r}, scope="module")

        def test_one(pair):
            pass

        def test_two(pair):
            assert False, "deliberate"
        """
    )
    result = pytester.runpytest("-p", "pytest_macvlan", "--keep-topology", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    assert [(k.made_by, k.outcome) for k in kept.mine()] == [("test_shared.py", "failed")]
    result.stdout.fnmatch_lines(["pmv-*-1: made by test_shared.py (failed) at *"])


def test_down_all_removes_every_kept_topology_and_stray_names(tmp_path: Path) -> None:
    """In a private mount namespace with its own /run (a tmpfs), so that `down --all` can only see
    this test's topologies: the other runs' on this machine are out of its reach."""
    spec = tmp_path / "pair.toml"
    spec.write_text(
        textwrap.dedent("""
        [netns.a.link.v0]
        type = "veth"
        peer = { name = "v0", netns = "b" }

        [netns.b]
        """)
    )
    driver = tmp_path / "driver.py"
    driver.write_text(
        textwrap.dedent(f"""
        import json, os, subprocess, sys
        cli = [sys.executable, "-m", "pytest_macvlan"]
        def run(*argv):
            done = subprocess.run(argv, capture_output=True, text=True)
            return {{"rc": done.returncode, "out": done.stdout, "err": done.stderr}}
        r = {{"mounted_before": open("/proc/self/mountinfo").read()}}
        r["up1"] = run(*cli, "up", {str(spec)!r}, "--name", "one")
        r["up2"] = run(*cli, "up", {str(spec)!r})
        r["stray"] = run("ip", "netns", "add", "pmv-stray")
        r["list"] = run(*cli, "list", "--json")
        r["mounted"] = open("/proc/self/mountinfo").read()
        r["down"] = run(*cli, "down", "--all")
        r["after"] = sorted(os.listdir("/run"))
        r["base"] = sorted(os.listdir("/run/pytest-macvlan"))
        r["mounted_after"] = open("/proc/self/mountinfo").read()
        print(json.dumps(r))
        """)
    )
    done = subprocess.run(
        [*SANDBOX, sys.executable, str(driver)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["up1"]["rc"] == 0 and r["up2"]["rc"] == 0 and r["stray"]["rc"] == 0, r
    listed = json.loads(r["list"]["out"])
    assert sorted(k["id"] for k in listed["kept"])[1] == "pmv-one"
    assert all(all(k["alive"].values()) for k in listed["kept"])
    assert listed["orphans"] == ["pmv-stray"]
    made = set(r["mounted"].splitlines()) - set(r["mounted_before"].splitlines())
    assert {line.split()[4] for line in made} == {"/run/netns"} | {
        f"/run/netns/{name}" for k in listed["kept"] for name in k["namespaces"].values()
    } | {"/run/netns/pmv-stray"}
    assert r["down"]["rc"] == 0, r["down"]
    assert "removed pmv-one (pmv-one-a, pmv-one-b)" in r["down"]["out"]
    assert "removed pmv-stray (had no state file)" in r["down"]["out"]
    # Nothing is left: no names, no state files, and not /run/netns, which `up` made (dir and mount).
    assert r["after"] == ["pytest-macvlan"] and r["base"] == []
    assert r["mounted_after"] == r["mounted_before"]

"""--keep-topology: kept namespaces outlive pytest, enterable and removable with the printed commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_macvlan.kernel import mounts as namedns
from pytest_macvlan.topology import keep
from pytest_macvlan.topology.keep import Kept, KeptLink
from tests.support.keeping import KeptTracker, tracking


@pytest.fixture
def kept() -> Iterator[KeptTracker]:
    """Removes, after the test (even a failing one), what this test kept, and only that."""
    with tracking() as tracker:
        yield tracker


def test_run_ids_are_unique_within_a_process() -> None:
    ids = [keep.new_run_id(now=0, pid=42) for _ in range(3)]
    assert len(set(ids)) == 3
    assert re.fullmatch(r"\d{6}-\d{6}-42", ids[0])
    assert ids[1] == ids[0] + ".2"


def test_state_round_trips_and_tolerates_newer_fields() -> None:
    k = Kept(
        id="pmv-r-1",
        run="r",
        made_by="t.py::t",
        outcome="failed",
        created=1.0,
        pid=1,
        spec_source="x.toml",
        namespaces={"a": "pmv-r-1-a"},
        links=(KeptLink("a/v0", "veth", None, 2, "02:00:00:00:00:01", ("192.168.9.2/24",)),),
        pcaps=("/tmp/a.pcapng",),
    )
    assert Kept.from_json(k.to_json()) == k
    newer = json.loads(k.to_json()) | {"from_the_future": 1}
    assert Kept.from_json(json.dumps(newer)) == k


def test_select_by_id_namespace_or_run() -> None:
    def make(i: str, run: str) -> Kept:
        return Kept(i, run, "up", "up", 0.0, 1, "s", {"a": f"{i}-a"})

    one, two, other = make("pmv-r-1", "r"), make("pmv-r-2", "r"), make("pmv-q-1", "q")
    every = [one, two, other]
    assert keep.select(every, ["pmv-r-2"]) == ([two], [])
    assert keep.select(every, ["pmv-q-1-a", "nope"]) == ([other], ["nope"])
    assert keep.select(every, ["r", "pmv-r-1"]) == ([one, two], [])


def test_names_ip_netns_would_refuse() -> None:
    assert namedns.name_problem("pmv-x-1-ns1") is None
    assert namedns.name_problem("a/b") and namedns.name_problem("..") and namedns.name_problem("")
    assert namedns.name_problem("x" * 256)


def test_mount_points_are_read_from_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "64 27 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw\n"
        "65 64 0:4 net:[4026532178] /run/netns/pmv-a\\040b rw shared:2 - nsfs nsfs rw\n"
    )
    assert namedns.mount_points(str(info)) == {"/", "/run/netns", "/run/netns/pmv-a b"}

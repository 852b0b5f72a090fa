"""``--netlab-shard I/N`` and ``kernel run --guests N``: parts that are disjoint and cover every
test, refused bad input, and the parts' output merged as one guest would have written it."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.plugin.shard import parse, split
from pytest_macvlan.runner import catalogue
from pytest_macvlan.runner.lanes import LaneOptions
from pytest_macvlan.runner.shards import auto_guests, combined_exit, merge_outputs, run_guests, show_console

ROOT = Path(__file__).resolve().parents[2]


@given(st.integers(1, 40), st.integers(0, 200))
def test_the_parts_are_disjoint_and_cover_every_test(count: int, tests: int) -> None:
    items = list(range(tests))
    splits = [split(items, index, count) for index in range(1, count + 1)]
    parts = [keep for keep, _left in splits]
    assert sorted(k for part in parts for k in part) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert all(sorted(keep + left) == items for keep, left in splits)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1/2/3", "", "-1/2", "1 / 2x"])
def test_a_bad_shard_is_refused_with_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected I/N with 1 <= I <= N"):
        parse(text)


def test_parse() -> None:
    assert parse("1/1") == (1, 1)
    assert parse(" 2/3 ") == (2, 3)


def collect(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "pytest_macvlan", "-p", "no:cacheprovider", "--co", "-q", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def collected(*args: str) -> list[str]:
    done = collect(*args)
    assert done.returncode in (0, 4, 5), done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_plugin_splits_the_collected_tests_into_interleaved_parts() -> None:
    every = collected("tests/unit/test_wait.py")
    parts = [collected("tests/unit/test_wait.py", f"--netlab-shard={i}/3") for i in (1, 2, 3)]
    assert [parts[k % 3][k // 3] for k in range(len(every))] == every
    done = collect("--netlab-shard=4/3", "tests/unit/test_wait.py")
    assert done.returncode == 4 and "--netlab-shard '4/3': expected I/N" in done.stderr


def test_combined_exit() -> None:
    assert combined_exit([0, 0]) == 0
    assert combined_exit([0, 5]) == 0  # one part had nothing to run
    assert combined_exit([5, 5]) == 5
    assert combined_exit([0, 1, 2]) == 1
    assert combined_exit([5, 3]) == 3


def test_guests_only_split_a_uml_lane(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="host is not one"):
        run_guests(catalogue.kernel("host"), [], LaneOptions(out=tmp_path), 2)
    with pytest.raises(RunnerError, match="expected 1 to 16"):
        run_guests(catalogue.kernel("uml-6.12"), [], LaneOptions(out=tmp_path), 0)


def test_the_parts_output_is_merged_into_the_lane(tmp_path: Path) -> None:
    parts = [tmp_path / "guest-1", tmp_path / "guest-2"]
    for i, part in enumerate(parts):
        part.mkdir()
        claims = [
            {
                "nodeid": f"s.py::t{k}",
                "location": f"s.py:{5 + 5 * k}",  # 5, 10, 15, 20: in text order 10 < 15 < 20 < 5
                "verdict": "holds",
                "evidence": [{"pcap": f"pcaps/t{k}.pcapng"}],
            }
            for k in range(i, 4, 2)
        ]
        (part / "claims.json").write_text(json.dumps({"schema": "x", "kernel": {"release": "6.1"}, "claims": claims}))
        (part / "claims.md").write_text(f"| table {i} |\n")
        (part / "junit.xml").write_text(
            f'<testsuites><testsuite name="pytest" tests="2"><testcase name="t{i}"/></testsuite></testsuites>'
        )
    merge_outputs(parts, tmp_path)
    merged = json.loads((tmp_path / "claims.json").read_text())
    assert merged["kernel"] == {"release": "6.1"} and merged["schema"] == "x"
    assert [c["nodeid"] for c in merged["claims"]] == [f"s.py::t{k}" for k in range(4)]
    assert merged["claims"][1]["evidence"][0]["pcap"] == "guest-2/pcaps/t1.pcapng"  # relative to the lane
    assert "table 0" in (tmp_path / "claims.md").read_text() and "table 1" in (tmp_path / "claims.md").read_text()
    cases = [c.get("name") for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")]
    assert cases == ["t0", "t1"]


def test_a_part_without_claims_does_not_shift_the_others_paths(tmp_path: Path) -> None:
    """Guest 1 wrote no claims.json (it crashed): guest 2's pcap paths are still its own."""
    first, second = tmp_path / "guest-1", tmp_path / "guest-2"
    first.mkdir()
    second.mkdir()
    claim = {"nodeid": "s.py::t", "location": "s.py:3", "evidence": [{"pcap": "pcaps/t.pcapng"}]}
    (second / "claims.json").write_text(json.dumps({"schema": "x", "kernel": {}, "claims": [claim]}))
    merge_outputs([first, second], tmp_path)
    [merged] = json.loads((tmp_path / "claims.json").read_text())["claims"]
    assert merged["evidence"][0]["pcap"] == "guest-2/pcaps/t.pcapng"


@pytest.mark.parametrize(("cpus", "uml", "other"), [(1, 1, 1), (2, 2, 1), (8, 4, 1), (None, 1, 1)])
def test_auto_guests_are_one_per_core_for_uml_only(
    monkeypatch: pytest.MonkeyPatch, cpus: int | None, uml: int, other: int
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cpus)
    assert auto_guests("uml") == uml
    assert auto_guests("vng") == other and auto_guests("host") == other


def test_guests_option_takes_auto_or_a_number() -> None:
    from pytest_macvlan.runner.cli import _guests

    assert _guests("auto") == "auto" and _guests("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="auto or a number"):
        _guests("many")


def test_a_guests_console_is_shown_without_uml_noise_then_dropped_unless_kept(tmp_path: Path) -> None:
    out = tmp_path / "guest-1"
    out.mkdir()
    (out / "console.log").write_bytes(b"SELinux:  Initializing.\n3 passed in 1.0s\n")
    (out / "kernel.log").write_text("dmesg")
    shown = io.StringIO()
    show_console(out, "uml-6.1: guest 1/2", shown, keep=False)
    assert shown.getvalue() == "==== uml-6.1: guest 1/2 ====\n3 passed in 1.0s\n"
    assert not (out / "console.log").exists() and not (out / "kernel.log").exists()
    (out / "console.log").write_text("1 failed\n")
    show_console(out, "g", io.StringIO(), keep=True)
    assert (out / "console.log").exists()

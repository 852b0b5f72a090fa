"""The command line: ``python -m pytest_macvlan show|up|list|down`` and the ``pytest-macvlan`` script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_macvlan.cli import main as cli
from tests.support.keeping import CLI, ROOT, KeptTracker, mounted_names, netns_names, ns_run, tracking
from tests.support.specs import PRIVATE_TOML


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "private.toml"
    path.write_text(PRIVATE_TOML)
    return path


@pytest.fixture
def kept() -> Iterator[KeptTracker]:
    """Removes, after the test (even a failing one), what this test kept, and only that."""
    with tracking() as tracker:
        yield tracker


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_up_list_enter_down(spec: Path, kept: KeptTracker) -> None:
    label = f"t{os.getpid()}"
    done = kept.cli("up", str(spec), "--name", label)
    assert done.returncode == 0, done.stderr
    kid = f"pmv-{label}"
    names = {ns: f"{kid}-{ns}" for ns in ("host", "ns1", "ns2")}
    assert f"  remove it: {sys.executable} -m pytest_macvlan down {kid}" in done.stdout.splitlines()
    assert f"    ip netns exec {names['ns1']} bash" in done.stdout.splitlines()
    assert f"+-- netns ns1 = {names['ns1']} " in done.stdout
    # `up` has exited: the names alone hold the namespaces, and the topology works.
    assert mounted_names(list(names.values())) == list(names.values())
    assert "macvl1@" in ns_run(names["ns1"], "ip", "-br", "link").stdout
    ping = ns_run(names["ns1"], "ping", "-c", "1", "-W", "2", "192.168.9.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr

    listed = run_cli("list")
    assert listed.returncode == 0
    assert f"{kid}: made by `up` at " in listed.stdout and f"spec {spec}" in listed.stdout
    assert "ns1/macvl1 macvlan private 192.168.9.2/24" in listed.stdout
    as_json = {k["id"]: k for k in json.loads(run_cli("list", "--json").stdout)["kept"]}
    assert as_json[kid]["made_by"] == "up" and as_json[kid]["namespaces"] == names
    assert all(as_json[kid]["alive"].values())

    again = kept.cli("up", str(spec), "--name", label)
    assert again.returncode == cli.EXIT_FAILED and "kept already" in again.stderr

    down = run_cli("down", names["ns2"])  # any of its namespace names names the topology
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith(f"removed {kid} (")
    assert mounted_names(list(names.values())) == [] and not set(names.values()) & set(netns_names())
    assert kid not in run_cli("list").stdout
    assert kept.mine() == []


def test_down_by_run_id_and_unknown_names(spec: Path, kept: KeptTracker) -> None:
    done = kept.cli("up", str(spec))
    assert done.returncode == 0, done.stderr
    (record,) = kept.mine()
    assert record.id == f"pmv-{record.run}-1" and record.made_by == "up"
    down = run_cli("down", "pmv-no-such-thing", record.run)
    assert down.returncode == cli.EXIT_UNKNOWN
    assert "no kept topology named 'pmv-no-such-thing'" in down.stderr
    assert f"removed {record.id}" in down.stdout
    assert kept.mine() == []

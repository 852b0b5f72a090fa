"""The command line: ``python -m pytest_macvlan show|up|list|down`` and the ``pytest-macvlan`` script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_macvlan.cli import main as cli
from pytest_macvlan.kernel.privileges import missing_caps

from .keeping import CLI, ROOT, KeptTracker, mounted_names, netns_names, ns_run, tracking

privileged = pytest.mark.skipif(bool(missing_caps()), reason="needs root")
SPEC = """
description = "two private macvlans on a veth whose peer is a bridge port with hairpin on"

[netns.host.link.br0]
type = "bridge"
addr = ["192.168.9.1/24"]

[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0", hairpin = true }

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"
mode = "private"
addr = ["192.168.9.2/24"]

[netns.ns2.link.macvl2]
type = "macvlan"
link = "host/veth1"
mode = "private"
addr = ["192.168.9.3/24"]
"""
BAD = """
[netns.ns1.link.macvl1]
type = "macvlan"
link = "veth1"
mode = "privat"
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "private.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def kept() -> Iterator[KeptTracker]:
    """Removes, after the test (even a failing one), what this test kept, and only that."""
    with tracking() as tracker:
        yield tracker


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture
def unprivileged(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_macvlan.kernel.privileges as p

    monkeypatch.setattr(p, "effective_caps", lambda status_path="": 0)


# -- without privileges ---------------------------------------------------------------------


def test_show_prints_the_description_and_the_diagram(spec: Path) -> None:
    done = run_cli("show", str(spec))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        "two private macvlans on a veth whose peer is a bridge port with hairpin on",
        f"topology {spec}",
    ]
    assert "+-- netns host " in done.stdout
    assert any(line.startswith("| macvl1 ") and "macvlan private" in line and "on host/veth1" in line for line in lines)


def test_a_bad_spec_is_exit_2_with_the_spec_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    for command in ("show", "up"):
        done = run_cli(command, str(bad))
        assert done.returncode == cli.EXIT_USAGE
        assert done.stderr.strip() == (
            f"pytest-macvlan {command}: {bad}: netns.ns1.link.macvl1.mode: unknown macvlan mode 'privat' "
            "(one of private, vepa, bridge, passthru, source)"
        )
        assert done.stdout == ""
    done = run_cli("show", str(tmp_path / "missing.toml"))
    assert done.returncode == cli.EXIT_USAGE and "cannot read spec" in done.stderr


def test_usage_errors_are_exit_2(spec: Path) -> None:
    assert run_cli("down").returncode == cli.EXIT_USAGE
    assert run_cli("frobnicate").returncode == 2
    done = run_cli("up", str(spec), "--name", "bad/name")
    assert done.returncode == cli.EXIT_USAGE and "--name" in done.stderr


def test_without_privileges_up_and_down_say_so(
    spec: Path, unprivileged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["up", str(spec)]) == cli.EXIT_PRIVILEGES
    assert "pytest-macvlan up: needs CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW" in capsys.readouterr().err
    assert cli.main(["down", "--all"]) == cli.EXIT_PRIVILEGES
    assert "pytest-macvlan down: needs CAP_SYS_ADMIN" in capsys.readouterr().err


def test_the_command_line_does_not_import_pytest_scapy_or_pyroute2() -> None:
    code = (
        "import sys, pytest_macvlan.cli.main, pytest_macvlan.topology.keep, pytest_macvlan.topology.diagram\n"
        "import pytest_macvlan.kernel.mounts\n"
        "print(sorted(m for m in ('pytest', 'scapy', 'pyroute2') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_console_script_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["pytest-macvlan"] == "pytest_macvlan.cli.main:main"
    done = run_cli("--help")
    assert done.returncode == 0 and all(c in done.stdout for c in ("show", "up", "list", "down"))


# -- privileged ------------------------------------------------------------------------------


@privileged
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


@privileged
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

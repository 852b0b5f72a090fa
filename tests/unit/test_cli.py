"""The command line: ``python -m pytest_macvlan show|up|list|down`` and the ``pytest-macvlan`` script."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pytest_macvlan.cli import main as cli
from tests.support.keeping import CLI, ROOT
from tests.support.specs import PRIVATE_TOML

BAD = """
[netns.ns1.link.macvl1]
type = "macvlan"
link = "veth1"
mode = "privat"
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "private.toml"
    path.write_text(PRIVATE_TOML)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture
def unprivileged(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_macvlan.kernel.privileges as p

    monkeypatch.setattr(p, "effective_caps", lambda status_path="": 0)


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

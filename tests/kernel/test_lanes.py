"""Kernel lanes for real: a user-mode Linux 6.1 guest booted from the cache (fetched once, with
apt, into the user cache). Marked ``slow``: .ci/run runs them with ``-m slow``.

The guest is a process: its exit status, its read-only view of this machine, its timeout, and
that a matrix run leaves this machine as it was (network namespace, apt state, files)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "pytest_macvlan"]


def cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def uml61() -> str:
    done = cli("kernel", "fetch", "uml-6.1")
    assert done.returncode == 0, done.stderr
    return "uml-6.1"


def guests_with(marker: str) -> list[str]:
    """Processes whose command line mentions ``marker`` (a lane's output directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_exit_status_is_the_guests_and_logs_are_kept_when_it_fails(uml61: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cli("kernel", "run", uml61, "-q", "--out", str(out), "--command", "--", "sh", "-c", "uname -r; exit 7")
    assert done.returncode == 7, done.stderr
    assert (out / "status").read_text() == "7\n"
    assert "6.1." in (out / "console.log").read_text()
    assert (out / "kernel.log").stat().st_size > 0
    lane = json.loads((out / "lane.json").read_text())
    assert lane["name"] == "uml-6.1" and lane["exit"] == 7 and lane["release"].startswith("6.1.")
    assert not (out / ".guest").exists()


def test_guest_sees_this_machine_read_only_except_its_output(uml61: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    beside = tmp_path / "beside"
    script = f"echo ok > {out}/written && (echo no > {beside} 2>&1 || true) && (touch /etc/pmv-lane-probe || true)"
    done = cli("kernel", "run", uml61, "-q", "--out", str(out), "--keep-logs", "--command", "--", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    assert (out / "written").read_text() == "ok\n"
    assert not beside.exists()
    assert not Path("/etc/pmv-lane-probe").exists()
    assert "Read-only file system" in (out / "console.log").read_text()


def test_a_guest_past_its_timeout_is_killed_with_its_children(uml61: str, tmp_path: Path) -> None:
    out = tmp_path / "out-timeout"
    t0 = time.monotonic()
    done = cli("kernel", "run", uml61, "-q", "--out", str(out), "--timeout", "6", "--command", "--", "sleep", "600")
    took = time.monotonic() - t0
    assert done.returncode == 3, done.stderr
    assert "killed after the 6 s timeout" in done.stderr
    assert took < 40, took
    assert guests_with(str(out)) == []
    assert (out / "console.log").exists()  # kept: the run failed


# -- a matrix run changes nothing on this machine but its output and the cache -------------------

CLAIM_TEST = textwrap.dedent(
    """
    import pytest

    SPEC = {"netns": {"a": {"link": {"v0": {"type": "veth", "addr": ["192.168.9.2/24"],
            "peer": {"name": "v0", "netns": "b", "addr": ["192.168.9.3/24"]}}}}, "b": {}}}

    @pytest.mark.claim("a veth pair carries a ping", scenario="pair")
    def test_pair(netlab):
        topo = netlab.build(SPEC)
        assert topo["a"].ping("192.168.9.3").ok
    """
)


def run_out(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def snapshot(project: Path) -> dict[str, object]:
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    apt = {str(p): digest(p) for p in sorted(Path("/etc/apt").rglob("*")) if p.is_file()}
    files = {
        str(p.relative_to(project)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(project.rglob("*"))
        if "out" not in p.relative_to(project).parts
    }
    etc = {str(p): p.stat().st_mtime_ns for p in sorted(Path("/etc").iterdir())}
    return {
        "links": run_out(["ip", "-br", "link"]),
        "netns": {line.split()[0] for line in run_out(["ip", "netns", "list"]).splitlines()},
        "my netns": os.stat("/proc/thread-self/ns/net").st_ino,
        "apt": apt,
        "dpkg status": digest(Path("/var/lib/dpkg/status")),
        "project files": files,
        "/etc": etc,
    }


def test_a_matrix_run_leaves_this_machine_as_it_was(uml61: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_pair.py").write_text(CLAIM_TEST)
    before = snapshot(project)
    done = cli(
        "matrix", "--kernels", f"{uml61},host", "--out", "out/kernels", "--matrix-json", "out/matrix.json",
        "--", "test_pair.py", cwd=project,
    )  # fmt: skip
    after = snapshot(project)
    assert done.returncode == 0, done.stdout + done.stderr
    for key, value in before.items():
        if key == "netns":  # on a shared machine others may remove theirs meanwhile: none may be new
            now = after[key]
            assert isinstance(value, set) and isinstance(now, set)
            assert now - value == set(), key
        else:
            assert after[key] == value, key
    data = json.loads((project / "out/matrix.json").read_text())
    [row] = data["claims"]
    assert {k: v["verdict"] for k, v in row["results"].items()} == {"uml-6.1": "holds", "host": "holds"}
    assert [k["exit"] for k in data["kernels"]] == [0, 0]
    assert guests_with(str(project)) == []


# -- one lane over two guests --------------------------------------------------------------------

THREE_CLAIMS = CLAIM_TEST + textwrap.dedent(
    """

    @pytest.mark.claim("a veth pair carries a ping back", scenario="pair")
    def test_pair_back(netlab):
        topo = netlab.build(SPEC)
        assert topo["b"].ping("192.168.9.2").ok


    @pytest.mark.claim("the kernel is the guest's", scenario="pair")
    def test_release():
        import platform
        assert platform.release().startswith("6.1.")
    """
)


def test_a_lane_over_two_guests_runs_every_test_once_and_merges_their_output(uml61: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_pair.py").write_text(THREE_CLAIMS)
    out = project / "out"
    done = cli("kernel", "run", uml61, "-q", "--guests", "2", "--out", str(out), "--", "test_pair.py", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "guest 1/2: exit 0" in done.stderr and "guest 2/2: exit 0" in done.stderr
    claims = json.loads((out / "claims.json").read_text())["claims"]
    assert [(c["nodeid"].split("::")[1], c["verdict"]) for c in claims] == [
        ("test_pair", "holds"),
        ("test_pair_back", "holds"),
        ("test_release", "holds"),
    ]
    cases = sorted(str(c.get("name")) for c in ET.parse(out / "junit.xml").getroot().iter("testcase"))
    assert cases == ["test_pair", "test_pair_back", "test_release"]
    lane = json.loads((out / "lane.json").read_text())
    assert lane["exit"] == 0 and lane["release"].startswith("6.1.")
    assert (out / "status").read_text() == "0\n"
    assert (out / "guest-1" / "lane.json").is_file() and (out / "guest-2" / "lane.json").is_file()
    assert guests_with(str(out)) == []

"""What a failing test's report shows: the diagram, a section per capture, pcap files, JUnit properties."""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TESTS = """
import pytest

PAIR = '''
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
'''


def ping(topo):
    caps = topo.sniff("b/v0", "a/v0")
    assert topo["a"].ping("192.168.9.3").ok
    caps[0].wait_for(count=4)
    return caps


def test_fails(netlab):
    ping(netlab.build(PAIR))
    assert False, "deliberate failure"


def test_passes(netlab):
    ping(netlab.build(PAIR))


@pytest.fixture
def pinged(netlab):
    ping(netlab.build(PAIR))
    raise RuntimeError("deliberate setup error")


def test_setup_error(pinged):
    pass
"""


def epb_directions(path: Path) -> list[str]:
    """The direction of each frame of a pcapng file, from its EPB flags (1 in, 2 out)."""
    data = path.read_bytes()
    out: list[str] = []
    off = 0
    while off < len(data):
        btype, total = struct.unpack_from("=II", data, off)
        if btype == 6:
            caplen = struct.unpack_from("=I", data, off + 20)[0]
            opt = off + 28 + caplen + (-caplen % 4)
            while opt < off + total - 4:
                code, length = struct.unpack_from("=HH", data, opt)
                if code == 2:
                    flags = struct.unpack_from("=I", data, opt + 4)[0]
                    out.append({1: "in", 2: "out"}.get(flags & 3, "?"))
                if code == 0:
                    break
                opt += 4 + length + (-length % 4)
        off += total
    return out


def pcap_paths(result: pytest.RunResult) -> dict[str, Path]:
    """``{"test_fails/b/v0": path}`` from the report sections' ``pcap: PATH`` lines."""
    found: dict[str, Path] = {}
    for line in result.stdout.lines:
        if line.startswith("pcap: "):
            path = Path(line.split(" ", 1)[1])
            found[f"{path.parent.name}/{path.stem}"] = path
    return found


def test_a_failing_test_shows_diagram_frames_and_pcaps(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_net=TESTS)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("-p", "pytest_macvlan", f"--junitxml={junit}")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails _*",
            "*- pytest-macvlan topology <string> -*",
            "topology <string>",
            "+-- netns a -*",
            "| v0 * veth * peer b/v0 * 192.168.9.2/24 * #* *|",
            "*- pytest-macvlan captures: b/v0 -*",
            "pcap: */pytest-macvlan-pcaps/test_net.py_test_fails/b_v0.pcapng",
            "* b/v0 in  * ICMP echo request*",
            "* b/v0 out * ICMP echo reply*",
            "*- pytest-macvlan captures: a/v0 -*",
            "pcap: */test_net.py_test_fails/a_v0.pcapng",
        ]
    )
    result.stdout.fnmatch_lines(["*_ ERROR at setup of test_setup_error _*", "*pytest-macvlan captures: b/v0*"])
    pcaps = pcap_paths(result)
    assert set(pcaps) == {
        "test_net.py_test_fails/b_v0",
        "test_net.py_test_fails/a_v0",
        "test_net.py_test_setup_error/b_v0",
        "test_net.py_test_setup_error/a_v0",
    }
    assert all(p.is_relative_to(pytester.path.parent) for p in pcaps.values()), "under pytest's basetemp"
    assert not (pytester.path / "pytest-macvlan-pcaps").exists()
    # Directions are kept in the file: b receives the request and sends the reply.
    b = pcaps["test_net.py_test_fails/b_v0"]
    assert epb_directions(b) == ["in", "out", "in", "out"]
    assert epb_directions(pcaps["test_net.py_test_fails/a_v0"]) == ["out", "in", "out", "in"]
    if shutil.which("tcpdump"):
        done = subprocess.run(["tcpdump", "-e", "-n", "-r", str(b)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "ICMP echo request" in done.stdout and "ICMP echo reply" in done.stdout
        assert len(done.stdout.splitlines()) == 4
    # JUnit XML: the failing test case carries its pcap paths as properties.
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_fails"].iter("property")}
    assert props == {
        "pytest-macvlan pcap b/v0": str(b),
        "pytest-macvlan pcap a/v0": str(pcaps["test_net.py_test_fails/a_v0"]),
    }
    assert list(cases["test_passes"].iter("property")) == []


def test_passing_tests_write_no_pcaps_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_net=TESTS)
    where = pytester.path / "pcaps"
    result = pytester.runpytest("-p", "pytest_macvlan", "-k", "test_passes", "--pcap-dir", "pcaps")
    result.assert_outcomes(passed=1)
    assert not where.exists()
    assert "pytest-macvlan captures" not in result.stdout.str()
    result = pytester.runpytest("-p", "pytest_macvlan", "-k", "test_passes", "--pcap-dir", "pcaps", "--keep-pcaps")
    result.assert_outcomes(passed=1)
    written = sorted(p.relative_to(where).as_posix() for p in where.rglob("*.pcapng"))
    assert written == ["test_net.py_test_passes/a_v0.pcapng", "test_net.py_test_passes/b_v0.pcapng"]
    assert epb_directions(where / written[1])[:2] == ["in", "out"]


def test_pcap_dir_from_the_ini_file_is_relative_to_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_net=TESTS)
    ini = pytester.makeini("[pytest]\npcap_dir = out/pcaps\n")
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    result = pytester.runpytest("-p", "pytest_macvlan", "-k", "test_fails", "-c", str(ini), str(pytester.path))
    result.assert_outcomes(failed=1)
    assert (pytester.path / "out/pcaps/test_net.py_test_fails/b_v0.pcapng").is_file()
    assert not (pytester.path / "elsewhere/out").exists()

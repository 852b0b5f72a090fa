"""The claims report (pytest_macvlan.claims), tested with pytester."""

from __future__ import annotations

import json

import pytest

from tests.support.programs import program

pytestmark = pytest.mark.usefixtures("wide_terminal")

EVIDENCE = """
import pytest

PAIR = '''
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
'''

@pytest.mark.claim("a reaches b", source="beyond the article")
def test_ping(netlab):
    topo = netlab.build(PAIR)
    a, b = topo.sniff("a/v0", "b/v0")
    quiet = topo.link("a/v0").sniff()
    quiet.close()
    assert topo["a"].ping("192.168.9.3").ok
    b.wait_for(count=4)  # ARP request and reply, ICMP echo request and reply

@pytest.mark.claim("nothing captured", source="beyond the article")
def test_no_capture(netlab):
    netlab.build(PAIR)
"""


def table_lines(stdout: list[str]) -> list[str]:
    """The table: from its title to the line before the next section or the Markdown notice."""
    start = next(i for i, line in enumerate(stdout) if "macvlan claims:" in line)
    end = next(
        (i for i in range(start + 1, len(stdout)) if stdout[i].startswith(("=", "claims table written"))), len(stdout)
    )
    return stdout[start:end]


def test_evidence_counts_frames_per_interface_and_direction(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pair=EVIDENCE)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-md", "claims.md", "--claims-json", "claims.json")
    result.assert_outcomes(passed=2)
    # ARP request + reply and ICMP echo request + reply: two in, two out on each end
    result.stdout.fnmatch_lines(["pair *a reaches b*holds*a/v0 in 2 out 2; b/v0 in 2 out 2; a/v0 0"])
    result.stdout.fnmatch_lines(["pair *nothing captured*holds*-"])
    assert "| a/v0 in 2 out 2; b/v0 in 2 out 2; a/v0 0 |" in (pytester.path / "claims.md").read_text()
    doc = json.loads((pytester.path / "claims.json").read_text())
    [pair] = [c for c in doc["claims"] if c["claim"] == "a reaches b"]
    a, b, quiet = pair["evidence"]
    assert (a["capture"], a["in"], a["out"], a["dropped"], a["pcap"]) == ("a/v0", 2, 2, 0, None)
    assert len(a["frames"]) == 4 and any("Request who-has 192.168.9.3 tell 192.168.9.2" in f for f in a["frames"]), a
    assert any("ICMP echo reply" in f for f in b["frames"]), b
    assert (quiet["in"], quiet["out"], quiet["frames"]) == (0, 0, [])


def test_same_table_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=program("claims_verdicts"), test_pair=EVIDENCE)
    serial = pytester.runpytest("-p", "pytest_macvlan", "--claims-md", "serial.md", "--claims-json", "serial.json")
    parallel = pytester.runpytest(
        "-p", "pytest_macvlan", "-n", "2", "--claims-md", "parallel.md", "--claims-json", "parallel.json"
    )
    parallel.assert_outcomes(passed=8, failed=1, skipped=1)
    assert "2 workers" in parallel.stdout.str()
    assert table_lines(parallel.outlines) == table_lines(serial.outlines)
    assert (pytester.path / "parallel.md").read_text() == (pytester.path / "serial.md").read_text()

    def comparable(name: str) -> list[dict[str, object]]:
        claims = json.loads((pytester.path / name).read_text())["claims"]
        for c in claims:  # timestamps and MACs differ from run to run: compare the number of frames
            for e in c["evidence"]:
                e["frames"] = len(e["frames"])
        return claims  # type: ignore[no-any-return]

    assert comparable("parallel.json") == comparable("serial.json")
    parallel.stdout.fnmatch_lines(["pair *a reaches b*holds*a/v0 in 2 out 2; b/v0 in 2 out 2; a/v0 0"])

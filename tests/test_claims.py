"""The claims report (pytest_macvlan.claims), tested with pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_macvlan.kernel.privileges import missing_caps
from pytest_macvlan.plugin.claims import Row, column_widths, markdown, text_table

privileged = pytest.mark.skipif(bool(missing_caps()), reason="needs root")

VERDICTS = """
import pytest

@pytest.mark.claim("the default mode is vepa")
def test_holds():
    pass

@pytest.mark.claim("each frame appears twice", differs="once in each direction")
def test_differs():
    pass

@pytest.mark.claim("two private macvlans talk")
def test_fails():
    assert 1 + 1 == 3, "the kernel disagrees"

@pytest.mark.claim("VLAN 12 sees nothing")
def test_skipped():
    pytest.skip("kernel lacks 8021q: no VLANs here")

@pytest.mark.claim("named scenario", scenario="general")
@pytest.mark.parametrize("variant", ["plain", "vlan"])
def test_param(variant):
    pass

def test_not_a_claim():
    pass
"""

EVIDENCE = """
import pytest

PAIR = '''
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
'''

@pytest.mark.claim("a reaches b")
def test_ping(netlab):
    topo = netlab.build(PAIR)
    a, b = topo.sniff("a/v0", "b/v0")
    quiet = topo.link("a/v0").sniff()
    quiet.close()
    assert topo["a"].ping("192.168.9.3").ok
    b.wait_for(count=4)  # ARP request and reply, ICMP echo request and reply

@pytest.mark.claim("nothing captured")
def test_no_capture(netlab):
    netlab.build(PAIR)
"""


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows on one line each, so that fnmatch sees whole rows."""
    monkeypatch.setenv("COLUMNS", "250")


def table_lines(stdout: list[str]) -> list[str]:
    """The table: from its title to the line before the next section or the Markdown notice."""
    start = next(i for i, line in enumerate(stdout) if "macvlan claims:" in line)
    end = next(
        (i for i in range(start + 1, len(stdout)) if stdout[i].startswith(("=", "claims table written"))), len(stdout)
    )
    return stdout[start:end]


def test_table_shows_one_row_per_claim_with_its_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=VERDICTS)
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*= macvlan claims: 6 claims, 3 hold, 1 differ from the article, 1 fail, 1 skipped =*",
            "scenario*claim*verdict*evidence",
            "article *the default mode is vepa*holds*-",
            "article *each frame appears twice*differs from the article: once in each direction*",
            "article *two private macvlans talk*FAILS: AssertionError: the kernel disagrees*",
            "article *VLAN 12 sees nothing*skipped: kernel lacks 8021q: no VLANs here*",
            "general[[]plain[]] *named scenario*holds*",
            "general[[]vlan[]] *named scenario*holds*",
        ]
    )
    assert "test_not_a_claim" not in "\n".join(table_lines(result.outlines))


def test_no_claims_no_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*macvlan claims*")


def test_claims_md_writes_the_same_table_as_markdown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=VERDICTS)
    target = pytester.path / "out" / "claims.md"
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-md", str(target))
    result.stdout.fnmatch_lines([f"claims table written to {target}"])
    text = target.read_text()
    assert "| scenario | claim | verdict | evidence |" in text
    assert "| article | the default mode is vepa | holds | - |" in text
    assert "| article | each frame appears twice | differs from the article: once in each direction | - |" in text
    assert "| article | VLAN 12 sees nothing | skipped: kernel lacks 8021q: no VLANs here | - |" in text
    assert "| article | two private macvlans talk | FAILS: AssertionError: the kernel disagrees |" in text
    assert "6 claims, 3 hold, 1 differ from the article, 1 fail, 1 skipped" in text


def test_setup_error_and_claim_without_text(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_setup="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no topology")

        @pytest.mark.claim("needs a topology")
        def test_x(broken):
            pass
        """
    )
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.stdout.fnmatch_lines(["setup *needs a topology*FAILS: error in setup: RuntimeError: no topology*"])
    pytester.makepyfile(test_setup="import pytest\n@pytest.mark.claim()\ndef test_x(): pass\n")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.stderr.fnmatch_lines(["*test_x: @pytest.mark.claim needs the claim as text*"])


def test_vlan_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "pytest_macvlan", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.vlan: *802.1Q*"])


@privileged
def test_evidence_counts_frames_per_interface_and_direction(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pair=EVIDENCE)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-md", "claims.md")
    result.assert_outcomes(passed=2)
    # ARP request + reply and ICMP echo request + reply: two in, two out on each end
    result.stdout.fnmatch_lines(["pair *a reaches b*holds*a/v0 in 2 out 2; b/v0 in 2 out 2; a/v0 0"])
    result.stdout.fnmatch_lines(["pair *nothing captured*holds*-"])
    assert "| a/v0 in 2 out 2; b/v0 in 2 out 2; a/v0 0 |" in (pytester.path / "claims.md").read_text()


@privileged
def test_same_table_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=VERDICTS, test_pair=EVIDENCE)
    serial = pytester.runpytest("-p", "pytest_macvlan", "--claims-md", "serial.md")
    parallel = pytester.runpytest("-p", "pytest_macvlan", "-n", "2", "--claims-md", "parallel.md")
    parallel.assert_outcomes(passed=7, failed=1, skipped=1)
    assert "2 workers" in parallel.stdout.str()
    assert table_lines(parallel.outlines) == table_lines(serial.outlines)
    assert (pytester.path / "parallel.md").read_text() == (pytester.path / "serial.md").read_text()
    parallel.stdout.fnmatch_lines(["pair *a reaches b*holds*a/v0 in 2 out 2; b/v0 in 2 out 2; a/v0 0"])


def test_long_skip_reasons_become_notes_and_cells_wrap() -> None:
    reason = "scenarios/vepa_vlan.toml: kernel lacks 8021q (802.1Q VLAN sub-interfaces): Unknown device type"
    rows = [
        Row(f"t::{n}", ("t.py", n), "vepa[vlan]", f"claim {n} " + "word " * 12, outcome="skipped", detail=reason)
        for n in range(2)
    ]
    lines = text_table(rows, 80)
    assert all(len(line) <= 80 for line in lines[:-2]), lines
    assert sum("skipped [1]" in line for line in lines) == 2, lines
    assert "\n".join(lines).count("kernel lacks 8021q") == 1, lines
    assert lines[-2].startswith("[1] skipped: scenarios/vepa_vlan.toml")
    assert f"skipped: {reason}" in markdown(rows)  # Markdown keeps it in the row


def test_column_widths_keep_the_scenario_and_share_the_rest() -> None:
    assert column_widths([8, 10, 5, 7], 100) == [8, 10, 5, 7]
    assert column_widths([8, 90, 5, 70], 80) == [8, 34, 5, 33]


def test_markdown_escapes_pipes_and_newlines(tmp_path: Path) -> None:
    row = Row("t::x", ("t.py", 1), "s", "a | b", differs="line one\nline two", outcome="passed")
    assert "| s | a \\| b | differs from the article: line one line two | - |" in markdown([row])

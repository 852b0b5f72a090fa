"""The claims report (pytest_macvlan.claims), tested with pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_macvlan.plugin.claims import Row, column_widths, markdown, text_table
from tests.support.programs import program

pytestmark = pytest.mark.usefixtures("wide_terminal")


def table_lines(stdout: list[str]) -> list[str]:
    """The table: from its title to the line before the next section or the Markdown notice."""
    start = next(i for i, line in enumerate(stdout) if "macvlan claims:" in line)
    end = next(
        (i for i in range(start + 1, len(stdout)) if stdout[i].startswith(("=", "claims table written"))), len(stdout)
    )
    return stdout[start:end]


def test_table_shows_one_row_per_claim_with_its_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=program("claims_verdicts"))
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
    pytester.makepyfile(test_article=program("claims_verdicts"))
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


def test_the_library_registers_no_article_markers(pytester: pytest.Pytester) -> None:
    """The article's ``vlan`` marker belongs to scenarios/ (its conftest), not to the plugin."""
    result = pytester.runpytest("-p", "pytest_macvlan", "--markers")
    assert not [line for line in result.stdout.lines if line.startswith("@pytest.mark.vlan")]
    result.stdout.fnmatch_lines(["@pytest.mark.claim(*"])


def test_the_plugin_works_without_xdist(pytester: pytest.Pytester) -> None:
    """pytest-xdist is optional: with it disabled the claims report still comes out."""
    pytester.makepyfile(test_article=program("claims_verdicts"))
    result = pytester.runpytest("-p", "pytest_macvlan", "-p", "no:xdist")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*macvlan claims:*"])


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

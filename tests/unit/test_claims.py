"""The claims report (pytest_macvlan.claims), tested with pytester."""

from __future__ import annotations

import json

import pytest

from pytest_macvlan.report.results import ClaimResult, ClaimSource, column_widths, markdown, text_table
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
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*= macvlan claims: the article: 5 claims: 1 hold, 1 hold more precisely, 1 differ, 1 fail, 1 skipped; "
            "beyond the article: 2 claims: 2 hold, 0 hold more precisely, 0 differ, 0 fail, 0 skipped =*",
            "-- the article: 5 claims*",
            "scenario*line*claim*verdict*evidence",
            "article *L17 *the default mode is vepa*holds*-",
            "article *L313 *each frame appears twice*holds, more precisely: once in each direction*",
            "article *L745 *only ARP is blocked*differs: the article: only ARP; the kernel: every broadcast*",
            "article *L743 *two private macvlans talk*FAILS: AssertionError: the kernel disagrees*",
            "article *L358 *VLAN 12 sees nothing*skipped: kernel lacks 8021q: no VLANs here*",
            "-- beyond the article: 2 claims*",
            "general[[]plain[]] *beyond *named scenario*holds*",
            "general[[]vlan[]] *beyond *named scenario*holds*",
        ]
    )
    assert "test_not_a_claim" not in "\n".join(table_lines(result.outlines))


def test_no_claims_no_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*macvlan claims*")


def test_claims_md_writes_both_parts_with_quote_and_gloss(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=program("claims_verdicts"))
    target = pytester.path / "out" / "claims.md"
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-md", str(target))
    result.stdout.fnmatch_lines([f"claims table written to {target}"])
    text = target.read_text()
    article, beyond = text.split("## Beyond the article")
    assert "## The article" in article
    assert "5 claims: 1 hold, 1 hold more precisely, 1 differ, 1 fail, 1 skipped." in article
    assert "| scenario | line | claim | the article says | verdict | evidence |" in article
    assert (
        "| article | L17 | the default mode is vepa | 「VEPA(default mode)」 (vepa is the default) | holds | - |"
        in article
    )
    assert "| holds, more precisely: once in each direction | - |" in article
    assert "| skipped: kernel lacks 8021q: no VLANs here | - |" in article
    assert "| FAILS: AssertionError: the kernel disagrees |" in article
    assert "2 claims: 2 hold," in beyond
    assert "| general[plain] | named scenario | beyond the article | holds | - |" in beyond


def test_claims_json_follows_the_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_article=program("claims_verdicts"))
    target = pytester.path / "out" / "claims.json"
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-json", str(target))
    result.stdout.fnmatch_lines([f"claims JSON written to {target}"])
    doc = json.loads(target.read_text())
    assert doc["schema"] == "pytest-macvlan/claims/1"
    assert doc["generated"].endswith("Z")
    assert set(doc["kernel"]) == {"name", "release", "firewall"}
    assert doc["kernel"]["firewall"] in ("nft", "legacy", "none")
    claims = {c["nodeid"].split("::")[1]: c for c in doc["claims"]}
    assert [c["verdict"] for c in doc["claims"]] == [
        "holds",
        "holds, more precisely",
        "differs",
        "FAILS",
        "skipped",
        "holds",
        "holds",
    ]
    first = claims["test_holds"]
    assert first == {
        "nodeid": "test_article.py::test_holds",
        "location": "test_article.py:8",
        "scenario": "article",
        "claim": "the default mode is vepa",
        "part": "article",
        "article": "L17",
        "quote": "VEPA(default mode)",
        "gloss": "vepa is the default",
        "source": None,
        "verdict": "holds",
        "detail": "",
        "evidence": [],
        "topology": None,
    }
    assert claims["test_precisely"]["detail"] == "once in each direction"
    assert claims["test_skipped"]["detail"] == "kernel lacks 8021q: no VLANs here"
    assert claims["test_param[plain]"]["part"] == "beyond"
    assert claims["test_param[plain]"]["source"] == "beyond the article"


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ('article="L313"', "needs quote and gloss"),
        ('article="313", quote="q", gloss="g"', "not of the form L313"),
        ('article="L9-3", quote="q", gloss="g"', "is empty"),
        ('quote="q"', "need article="),
        ('article="L1", quote="q", gloss="g", precisely="p", differs="d"', "not both"),
        ('source="kernel docs", differs="d"', "differs from what?"),
        ('source=""', "must be a non-empty string"),
    ],
)
def test_bad_claim_markers_are_refused(pytester: pytest.Pytester, marker: str, problem: str) -> None:
    pytester.makepyfile(f"import pytest\n@pytest.mark.claim('x', {marker})\ndef test_x(): pass\n")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.stderr.fnmatch_lines([f"*test_x: @pytest.mark.claim*{problem}*"])


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
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*macvlan claims:*"])


def test_long_skip_reasons_become_notes_and_cells_wrap() -> None:
    reason = "scenarios/vepa_vlan.toml: kernel lacks 8021q (802.1Q VLAN sub-interfaces): Unknown device type"
    rows = [
        ClaimResult(
            f"t::{n}",
            ("t.py", n),
            "vepa[vlan]",
            f"claim {n} " + "word " * 12,
            ClaimSource("L358", "q", "g"),
            outcome="skipped",
            detail=reason,
        )
        for n in range(2)
    ]
    lines = text_table(rows, 80)
    assert all(len(line) <= 80 for line in lines[:-2]), lines
    assert sum("skipped [1]" in line for line in lines) == 2, lines
    assert "\n".join(lines).count("kernel lacks 8021q") == 1, lines
    assert lines[-2].startswith("[1] skipped: scenarios/vepa_vlan.toml")
    assert f"skipped: {reason}" in markdown(rows, "6.x")  # Markdown keeps it in the row


def test_column_widths_keep_the_first_columns_and_share_the_rest() -> None:
    assert column_widths([8, 10, 5, 7], 100, keep=1) == [8, 10, 5, 7]
    assert column_widths([8, 90, 5, 70], 80, keep=1) == [8, 34, 5, 33]
    assert column_widths([8, 5, 90, 70], 80) == [8, 5, 34, 33]


def test_markdown_escapes_pipes_and_newlines() -> None:
    row = ClaimResult(
        "t::x", ("t.py", 1), "s", "a | b", ClaimSource("L1", "q|q", "g"), differs="line one\nline two", outcome="passed"
    )
    assert "| s | L1 | a \\| b | 「q\\|q」 (g) | differs: line one line two | - |" in markdown([row], "6.x")

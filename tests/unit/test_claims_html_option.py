"""``--claims-html PATH``: the page is made from the run's claims JSON at the end of the run."""

from __future__ import annotations

import pytest

CLAIM_TESTS = """
import pytest

@pytest.mark.claim("a claim that holds")
def test_holds():
    pass

@pytest.mark.claim("a claim that fails")
def test_fails():
    assert False, "deliberate"
"""


def test_page_is_written_next_to_its_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-html", "out/claims.html")
    page = pytester.path / "out" / "claims.html"
    result.stdout.fnmatch_lines(["claims page written to out/claims.html (*MB)"])
    assert (pytester.path / "out" / "claims.json").is_file()  # --claims-json defaulted to PATH.json
    text = page.read_text(encoding="utf-8")
    assert "a claim that holds" in text and 'data-class="holds"' in text and 'data-class="fails"' in text


def test_an_explicit_claims_json_is_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-json", "data/c.json", "--claims-html", "page/c.html")
    assert (pytester.path / "data" / "c.json").is_file()
    assert (pytester.path / "page" / "c.html").is_file()
    result.stdout.fnmatch_lines(["claims page written to page/c.html*"])

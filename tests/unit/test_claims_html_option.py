"""``--claims-html PATH``: the page is made from the run's claims JSON at the end of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

CLAIM_TESTS = """
import pytest

@pytest.mark.claim("a claim that holds")
def test_holds():
    pass

@pytest.mark.claim("a claim that fails")
def test_fails():
    assert False, "deliberate"
"""

#: Stands in for the claims JSON writer (pytest_macvlan.report.results) where it is not there yet.
FAKE_WRITER = """
import shutil
from pathlib import Path

def pytest_sessionfinish(session):
    path = session.config.option.claims_json
    if path and not session.config.option.fake_writes_nothing:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "run" / "claims.json", path)
        shutil.copytree(DATA / "run" / "pcaps", Path(path).parent / "pcaps", dirs_exist_ok=True)

def pytest_addoption(parser, pluginmanager):
    parser.addoption("--claims-json", dest="claims_json", default=None)
    parser.addoption("--fake-writes-nothing", action="store_true")
"""


def has_claims_json_writer(pytester: pytest.Pytester) -> bool:
    help_lines = pytester.runpytest_subprocess("-p", "pytest_macvlan", "--help").stdout.lines
    return any(line.lstrip().startswith("--claims-json") for line in help_lines)


@pytest.fixture
def writer(pytester: pytest.Pytester) -> bool:
    """True: the real writer is loaded; False: a fake one (a conftest) copies the fixture JSON."""
    if has_claims_json_writer(pytester):
        return True
    pytester.makeconftest(f"DATA = __import__('pathlib').Path({str(DATA)!r})\n" + FAKE_WRITER)
    return False


def test_page_is_written_next_to_its_json(pytester: pytest.Pytester, writer: bool) -> None:
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-html", "out/claims.html")
    result.assert_outcomes(passed=1, failed=1)
    page = pytester.path / "out" / "claims.html"
    result.stdout.fnmatch_lines(["claims page written to out/claims.html (*MB)"])
    assert (pytester.path / "out" / "claims.json").is_file()  # --claims-json defaulted to PATH.json
    text = page.read_text(encoding="utf-8")
    if writer:
        assert "a claim that holds" in text and 'data-class="holds"' in text and 'data-class="fails"' in text
    else:
        claims = json.loads((DATA / "run" / "claims.json").read_text(encoding="utf-8"))["claims"]
        assert text.count('<td class="c ') == len(claims)
        assert 'href="pcaps/host/S3_veth1_br.pcapng"' in text


def test_an_explicit_claims_json_is_used(pytester: pytest.Pytester, writer: bool) -> None:
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-json", "data/c.json", "--claims-html", "page/c.html")
    assert (pytester.path / "data" / "c.json").is_file()
    assert (pytester.path / "page" / "c.html").is_file()
    result.stdout.fnmatch_lines(["claims page written to page/c.html*"])


def test_no_json_no_page(pytester: pytest.Pytester, writer: bool) -> None:
    if writer:
        pytest.skip("the real writer always writes its JSON")
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    result = pytester.runpytest("-p", "pytest_macvlan", "--claims-html", "c.html", "--fake-writes-nothing")
    result.stdout.fnmatch_lines(["claims page not written: this run wrote no claims JSON at c.json"])
    assert not (pytester.path / "c.html").exists()

"""Every claim in scenarios/ names its source; every quote is verbatim at the article's cited lines.

No privileges: the claim markers are read from the scenario modules' source (``ast``), not run.
The article is ``../shared/article/macvlan-article.txt`` relative to the repository.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import pytest

from pytest_macvlan.report.results import ClaimSource, article_lines
from tests.support.article import ARTICLE, SCENARIOS


@dataclass(frozen=True)
class Marker:
    where: str
    text: str
    fields: dict[str, str]


def claim_markers() -> list[Marker]:
    found: list[Marker] = []
    for path in sorted(SCENARIOS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.claim":
                    kwargs = {k.arg: ast.literal_eval(k.value) for k in deco.keywords if k.arg}
                    text = ast.literal_eval(deco.args[0]) if deco.args else ""
                    found.append(Marker(f"{path.name}::{node.name}", text, kwargs))
    return found


MARKERS = claim_markers()


def article() -> list[str]:
    if not ARTICLE.exists():
        pytest.skip(f"the article is not here ({ARTICLE}): quotes cannot be checked")
    return ARTICLE.read_text(encoding="utf-8").splitlines()


def test_the_scenarios_have_claims() -> None:
    assert len(MARKERS) >= 40, [m.where for m in MARKERS]
    assert len({m.where for m in MARKERS}) == len(MARKERS), "one claim per test"


@pytest.mark.parametrize("marker", MARKERS, ids=[m.where for m in MARKERS])
def test_every_claim_names_its_source(marker: Marker) -> None:
    f = marker.fields
    source = ClaimSource(f.get("article"), f.get("quote"), f.get("gloss"), f.get("source"))
    assert source.problem() is None, f"{marker.where}: {source.problem()}"
    assert not (f.get("precisely") and f.get("differs")), f"{marker.where}: precisely= or differs=, not both"
    if f.get("differs"):
        assert f.get("article"), f"{marker.where}: differs= needs the article's line"


ARTICLE_MARKERS = [m for m in MARKERS if m.fields.get("article")]


@pytest.mark.parametrize("marker", ARTICLE_MARKERS, ids=[m.where for m in ARTICLE_MARKERS])
def test_every_quote_is_verbatim_at_its_lines(marker: Marker) -> None:
    lines = article()
    first, last = article_lines(marker.fields["article"])
    assert last <= len(lines), f"{marker.where}: {marker.fields['article']} is past the article's end ({len(lines)})"
    cited = "\n".join(lines[first - 1 : last])
    quote = marker.fields["quote"]
    assert quote in cited, f"{marker.where}: {quote!r} is not at {marker.fields['article']}:\n{cited}"


def test_a_differs_verdict_quotes_the_article() -> None:
    """``differs`` is for a contradiction: its text quotes the article's words it contradicts."""
    for m in MARKERS:
        differs = m.fields.get("differs")
        if differs:
            assert m.fields["quote"] in differs or "「" in differs, f"{m.where}: differs= should quote the article"


def test_the_check_catches_a_wrong_line() -> None:
    """The control: a quote cited at the wrong line is not found there."""
    lines = article()
    assert "双份" in lines[312]  # L313
    assert "双份" not in "\n".join(lines[313:320])

"""The claims page in a real browser: headless Chromium (Debian's), driven by Playwright.

By default the page is rendered from the fixture JSON under ``data/matrix``. To check the page a
real run produced (as ``.ci/run`` does for the matrix), set ``PYTEST_MACVLAN_REPORT_JSON`` to its
claims or matrix JSON and ``PYTEST_MACVLAN_REPORT_HTML`` to the page made from it.
``PYTEST_MACVLAN_REPORT_PNG`` names where the screenshot goes (default: the test's tmp dir).
Without Chromium or Playwright the test is skipped, unless ``PYTEST_MACVLAN_BROWSER_REQUIRED=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import pytest

from pytest_macvlan.report.html import COLOURS, write_html
from pytest_macvlan.report.matrixfile import Matrix, load, verdict_class

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Route

DATA = Path(__file__).parent / "data"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


MAX_CLICKS = 80  # about 0.15 s each
CELLS_JS = """() => Array.from(document.querySelectorAll("td.c")).map(td => {
  const row = Number(td.parentElement.id.slice(2));
  const a = td.querySelector("a");
  const target = document.getElementById(a.getAttribute("href").slice(1));
  return {row, col: Array.from(td.parentElement.querySelectorAll("td.c")).indexOf(td),
          cls: td.dataset.class, colour: getComputedStyle(td).backgroundColor,
          href: a.getAttribute("href"), heading: target ? target.querySelector("h2").textContent : null};
})"""
VISIBLE_PANELS_JS = """() => Array.from(document.querySelectorAll("section.ev"))
  .filter(s => getComputedStyle(s).display !== "none").map(s => s.id)"""


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, Path]:
    """(the JSON, the page): a real run's when the environment names one, else the fixture's."""
    given = os.environ.get("PYTEST_MACVLAN_REPORT_JSON")
    if given:
        page = os.environ.get("PYTEST_MACVLAN_REPORT_HTML")
        json_path = Path(given).resolve()
        if page:
            return json_path, Path(page).resolve()
        return json_path, write_html(json_path, tmp_path / "page" / "report.html").resolve()
    copy = tmp_path / "matrix"
    shutil.copytree(DATA / "matrix", copy)
    return copy / "matrix.json", write_html(copy / "matrix.json", copy / "report.html").resolve()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[BrowserContext]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("PYTEST_MACVLAN_BROWSER_REQUIRED") == "1":
            pytest.fail(f"{CHROMIUM} is missing (Debian package chromium)")
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    if os.environ.get("PYTEST_MACVLAN_BROWSER_REQUIRED") == "1":
        import playwright.sync_api as pw
    else:
        pw = pytest.importorskip("playwright.sync_api")
    with pw.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1500, "height": 950},
        )
        try:
            yield context
        finally:
            context.close()


def _allowed(url: str, roots: list[Path]) -> bool:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return False
    path = Path(unquote(parsed.path)).resolve()
    return any(path.is_relative_to(root) for root in roots)


def test_page_in_chromium(report: tuple[Path, Path], browser_page: BrowserContext, tmp_path: Path) -> None:
    json_path, page_path = report
    m: Matrix = load(json_path)
    roots = [page_path.parent, json_path.parent]
    seen: list[str] = []
    refused: list[str] = []
    dialogs: list[str] = []
    console: list[str] = []

    def route(r: Route) -> None:
        url = r.request.url
        if _allowed(url, roots):
            r.continue_()
        else:
            refused.append(url)
            r.abort()

    browser_page.route("**/*", route)
    page = browser_page.new_page()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.append(message.text)

    page.on("request", lambda request: seen.append(request.url))
    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.goto(page_path.as_uri())

    # Nothing the JSON says ran as script.
    assert page.evaluate("document.scripts.length") == 0

    # Every cell is there, coloured by its verdict, and links to its own evidence (one query).
    kernels = [k.name for k in m.kernels]
    cells = page.evaluate(CELLS_JS)
    assert len(cells) == len(m.claims) * len(kernels)
    by_place = {(cell["row"], cell["col"]): cell for cell in cells}
    classes: dict[tuple[int, int], str] = {}
    for r, claim in enumerate(m.claims):
        for c, name in enumerate(kernels):
            res = claim.results.get(name)
            css = classes[r, c] = verdict_class(res.verdict if res is not None else "not run")
            cell = by_place[r, c]
            assert cell["cls"] == css, (claim.text, name)
            assert cell["colour"] == _rgb(COLOURS[css]), (claim.text, name, css, cell["colour"])
            assert cell["href"] == f"#e-{r}-{c}" and cell["heading"] == claim.text, (claim.text, name)
    assert page.locator("tr.varies").count() + page.locator("tr.same").count() == len(m.claims)

    # Clicking a cell opens its evidence, and only that: every cell of a small page; of a big one,
    # one cell per row (each column in turn) and the first cells whose verdict is not "holds".
    chosen = list(classes)
    if len(chosen) > MAX_CLICKS:
        per_row = [(r, r % len(kernels)) for r in range(len(m.claims))]
        chosen = per_row + [p for p in chosen if classes[p] not in ("holds", "precise") and p not in per_row]
        chosen = chosen[:MAX_CLICKS]
    shot_cell: tuple[int, int] | None = None  # for the screenshot: frames and a picture, a verdict other than holds
    shot_interesting = False
    for r, c in chosen:
        claim, name = m.claims[r], kernels[c]
        page.locator(f"#r-{r} td.c").nth(c).locator("a").click()
        panel = page.locator(f"#e-{r}-{c}")
        assert panel.is_visible(), (claim.text, name)
        assert page.evaluate(VISIBLE_PANELS_JS) == [f"e-{r}-{c}"]
        res = claim.results.get(name)
        text = panel.inner_text()
        for cap in res.evidence if res is not None else ():
            assert cap.label in text
            if cap.frames:
                assert cap.frames[0].split()[0] in text
        img = panel.locator("img.topo")
        if img.count() and res is not None and res.svg and (m.base / res.svg).is_file():
            page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=img.element_handle())
            if any(cap.frames for cap in res.evidence) and (shot_cell is None or not shot_interesting):
                shot_cell, shot_interesting = (r, c), classes[r, c] != "holds"
    page.locator(f"#e-{chosen[-1][0]}-{chosen[-1][1]} a.close").click()
    assert page.evaluate(VISIBLE_PANELS_JS) == []

    # The filter keeps only the rows whose verdict varies across kernels.
    page.locator("#only-varies").check()
    visible = page.locator("tr.varies:visible, tr.same:visible").count()
    assert visible == sum(claim.varies for claim in m.claims)
    page.locator("#only-varies").uncheck()

    # A screenshot with one cell's evidence open.
    if shot_cell is not None:
        page.locator(f"#r-{shot_cell[0]} td.c").nth(shot_cell[1]).locator("a").click()
    png = Path(os.environ.get("PYTEST_MACVLAN_REPORT_PNG") or tmp_path / "report.png")
    png.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(png))
    assert png.stat().st_size > 10_000

    assert page_path.as_uri() in seen, seen  # requests are observed (file:// included)
    assert not refused, f"requests that would leave the page: {refused}"
    assert all(_allowed(url, roots) for url in seen), seen
    assert not dialogs, dialogs
    assert not [line for line in console if "Content Security Policy" in line], console

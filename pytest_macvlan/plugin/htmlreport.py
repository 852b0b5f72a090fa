"""The claims as an HTML page (``--claims-html PATH``) and pictures in pytest-html's report.

- ``--claims-html PATH`` renders the run's claims JSON (``--claims-json``; when that option is
  not given, the JSON is written next to the page as ``PATH`` with the suffix ``.json``) into one
  self-contained page (:mod:`pytest_macvlan.report.html`) at the end of the run.
- When pytest-html writes a report (``--html``), a failing test's row gets, as extras, the SVG
  picture of each of its topologies (:mod:`pytest_macvlan.report.svg`; needs Graphviz) and,
  per capture, the frames (tcpdump style) and a link to its pcap file (written by
  :mod:`pytest_macvlan.plugin.failures`).

Registered through ``pytest_plugins`` in ``pytest_macvlan/__init__.py``.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from pytest_macvlan.plugin.core import LAB_KEY
from pytest_macvlan.plugin.failures import PCAP_PROPERTY

if TYPE_CHECKING:
    from pytest_macvlan.topology.handles import Topology

_JSON_OPTION = "claims_json"  # the dest of --claims-json (pytest_macvlan.plugin.claims)
_STARTED_KEY = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("macvlan", "pytest-macvlan: real-kernel network topologies")
    group.addoption(
        "--claims-html",
        metavar="PATH",
        default=None,
        help="also write the claims as one self-contained HTML page to PATH (its data: --claims-json, "
        "else PATH with the suffix .json); pcaps and topology pictures are linked, next to the JSON",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    page = config.getoption("claims_html", None)
    if page and not hasattr(config, "workerinput"):  # the xdist controller writes reports
        if not hasattr(config.option, _JSON_OPTION):
            raise pytest.UsageError("--claims-html needs the claims JSON writer (--claims-json), which is not loaded")
        if not getattr(config.option, _JSON_OPTION):
            setattr(config.option, _JSON_OPTION, str(Path(page).with_suffix(".json")))
        config.stash[_STARTED_KEY] = time.time()
        config.pluginmanager.register(ClaimsPage(config, Path(page)), "pytest-macvlan-claims-html")
    if config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
        config.pluginmanager.register(HtmlExtras(config), "pytest-macvlan-html-extras")


class ClaimsPage:
    """Renders the page once the claims JSON of this run has been written."""

    def __init__(self, config: pytest.Config, page: Path) -> None:
        self.config = config
        self.page = page

    @pytest.hookimpl(trylast=True)  # after the claims JSON is written (terminal summary or earlier)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        from pytest_macvlan.report.html import write_html
        from pytest_macvlan.report.matrixfile import ReportError

        source = Path(str(getattr(self.config.option, _JSON_OPTION)))
        try:
            fresh = source.stat().st_mtime >= self.config.stash[_STARTED_KEY] - 1
        except OSError:
            fresh = False
        if not fresh:
            terminalreporter.write_line(f"claims page not written: this run wrote no claims JSON at {source}")
            return
        try:
            write_html(source, self.page)
        except (ReportError, OSError) as exc:
            terminalreporter.write_line(f"claims page not written: {exc}")
            return
        size = self.page.stat().st_size
        terminalreporter.write_line(f"claims page written to {self.page} ({size / 1e6:.2f} MB)")


def _labs_topologies(item: pytest.Item) -> Iterator[Topology]:
    for node in item.listchain():
        lab = node.stash.get(LAB_KEY, None)
        if lab is not None:
            yield from lab.topologies


def _link(path: str, html_path: str | None) -> str:
    """A link to ``path`` from pytest-html's report: relative to it when its place is known."""
    if html_path:
        rel = os.path.relpath(Path(path).resolve(), Path(html_path).resolve().parent)
        return quote(Path(rel).as_posix(), safe="/")
    return Path(path).resolve().as_uri()


class HtmlExtras:
    """Adds a failing test's topology pictures and captures to its row in pytest-html's report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: after the failures module wrote the pcaps
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.failed and report.when in ("setup", "call"):
            try:
                extras = self.extras(item)
            except Exception as exc:  # never lose the test's own report over this
                extras = [_extra(f"could not add topology pictures and captures: {exc!r}", "text", "pytest-macvlan")]
            if extras:
                report.extras = [*getattr(report, "extras", []), *extras]  # type: ignore[attr-defined]
        return report

    def extras(self, item: pytest.Item) -> list[dict[str, Any]]:
        """Per topology of ``item``: its picture; per capture: its frames and a link to its pcap."""
        from pytest_macvlan.errors import SpecError
        from pytest_macvlan.report.svg import SvgError, render
        from pytest_macvlan.topology.diagram import live_of

        out: list[dict[str, Any]] = []
        pcaps = {
            str(k).removeprefix(PCAP_PROPERTY + " "): str(v)
            for k, v in item.user_properties
            if str(k).startswith(PCAP_PROPERTY)
        }
        html_path = getattr(self.config.option, "htmlpath", None)
        for topo in _labs_topologies(item):
            name = Path(topo.spec.source).name
            try:
                svg = render(topo.spec, live_of(topo) if not topo.closed else None)
            except (SvgError, SpecError) as exc:
                out.append(_extra(f"no picture: {exc}", "text", f"topology {name}", "text/plain", "txt"))
            else:
                data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
                out.append(_extra(data, "image", f"topology {name}", "image/svg+xml", "svg"))
            for cap in topo.captures:
                out.append(_extra(cap.summary(), "text", f"captures {cap.label}", "text/plain", "txt"))
                if cap.label in pcaps:
                    out.append(_extra(_link(pcaps[cap.label], html_path), "url", f"pcap {cap.label}"))
        return out


def _extra(
    content: str, format_type: str, name: str, mime_type: str | None = None, extension: str | None = None
) -> dict[str, Any]:
    """One pytest-html extra (the dict ``pytest_html.extras`` makes, without importing it)."""
    return {
        "name": name,
        "format_type": format_type,
        "content": content,
        "mime_type": mime_type,
        "extension": extension,
    }

"""The claims report: one row per ``@pytest.mark.claim`` test, printed at the end of the run.

Each claim test's row says which scenario it belongs to, the claim, the verdict (``holds``,
``differs from the article: HOW``, ``FAILS``, ``skipped: REASON``) and the evidence: the
frames its captures counted, per interface and direction. ``--claims-md PATH`` writes the
same table as Markdown.

Everything the table needs travels in the test reports (``user_properties``), so the table
is built from ``pytest_runtest_logreport`` alone and comes out the same under pytest-xdist,
where the controller that prints it never sees the test items.
"""

from __future__ import annotations

import platform
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_macvlan.topology.handles import Topology
    from pytest_macvlan.topology.lab import NetLab

#: ``user_properties`` names; only strings travel, so xdist can ship them to the controller.
PROP_CLAIM = "macvlan_claim"
PROP_DIFFERS = "macvlan_claim_differs"
PROP_SCENARIO = "macvlan_scenario"
PROP_EVIDENCE = "macvlan_evidence"
NO_EVIDENCE = "-"
MESSAGE_LIMIT = 120
MIN_TABLE_WIDTH = 120
SKIP_NOTE_OVER = 40


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("macvlan", "pytest-macvlan: real-kernel network topologies")
    group.addoption(
        "--claims-md",
        metavar="PATH",
        default=None,
        help="also write the claims table (scenario, claim, verdict, evidence) as Markdown to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # an xdist worker only ships reports; the controller reports
        config.pluginmanager.register(ClaimsReport(config), "pytest-macvlan-claims")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            continue
        text = marker.args[0] if marker.args else marker.kwargs.get("text")
        if not isinstance(text, str) or not text.strip():
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim needs the claim as text: claim('...')")
        item.user_properties.append((PROP_CLAIM, text.strip()))
        differs = marker.kwargs.get("differs")
        if differs:
            item.user_properties.append((PROP_DIFFERS, str(differs).strip()))
        item.user_properties.append((PROP_SCENARIO, scenario_of(item, marker.kwargs.get("scenario"))))


def scenario_of(item: pytest.Item, given: object = None) -> str:
    """The marker's ``scenario``, else the module's name without ``test_``; plus ``[param id]``."""
    name = str(given) if given else item.path.stem.removeprefix("test_")
    callspec = getattr(item, "callspec", None)
    return f"{name}[{callspec.id}]" if callspec is not None else name


def pytest_macvlan_teardown(node: pytest.Item | pytest.Collector, lab: NetLab) -> None:
    if isinstance(node, pytest.Item) and node.get_closest_marker("claim") is not None:
        node.user_properties.append((PROP_EVIDENCE, evidence(lab.topologies)))


def evidence(topologies: list[Topology]) -> str:
    """``"S3/veth1_br in 3 out 3; ns2/macvl2 0"``: the frames each capture saw, by direction."""
    parts: list[str] = []
    for n, topo in enumerate(topologies, start=1):
        prefix = f"#{n} " if len(topologies) > 1 else ""
        for cap in topo.captures:
            counts = cap.count_by_direction()
            seen = f"in {counts['in']} out {counts['out']}" if counts["in"] or counts["out"] else "0"
            drops = cap.drops
            parts.append(f"{prefix}{cap.label} {seen}" + (f" (kernel dropped {drops})" if drops else ""))
    return "; ".join(parts) or NO_EVIDENCE


@dataclass
class Row:
    nodeid: str
    location: tuple[str, int]
    scenario: str
    claim: str
    differs: str | None = None
    outcome: str = "not run"  # passed | failed | skipped | not run
    detail: str = ""
    evidence: str = NO_EVIDENCE

    @property
    def verdict(self) -> str:
        if self.outcome == "passed":
            return f"differs from the article: {self.differs}" if self.differs else "holds"
        if self.outcome == "failed":
            return f"FAILS: {self.detail}" if self.detail else "FAILS"
        if self.outcome == "skipped":
            return f"skipped: {self.detail}"
        return "not run"


class ClaimsReport:
    """Collects claim rows from the reports (on the xdist controller too) and prints the table."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, Row] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = {str(k): str(v) for k, v in report.user_properties}
        if PROP_CLAIM not in props:
            return
        row = self.rows.get(report.nodeid)
        if row is None:
            path, lineno = report.location[0], report.location[1] or 0
            row = Row(
                report.nodeid, (path, lineno), props.get(PROP_SCENARIO, "?"), props[PROP_CLAIM], props.get(PROP_DIFFERS)
            )
            self.rows[report.nodeid] = row
        root = f"{self.config.rootpath}/"
        if PROP_EVIDENCE in props:
            row.evidence = props[PROP_EVIDENCE]
        if report.skipped:
            if row.outcome != "failed":
                xfail = getattr(report, "wasxfail", None)
                row.outcome, row.detail = (
                    ("failed", f"(xfail) {xfail}") if xfail is not None else ("skipped", skip_reason(report))
                )
                row.detail = row.detail.replace(root, "")
        elif report.failed:
            if row.outcome != "failed":
                where = "" if report.when == "call" else f"error in {report.when}: "
                row.outcome, row.detail = "failed", (where + failure_message(report)).replace(root, "")
        elif report.when == "call" and row.outcome == "not run":
            row.outcome = "passed"

    def ordered(self) -> list[Row]:
        return sorted(self.rows.values(), key=lambda r: (r.location, r.nodeid))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        rows = self.ordered()
        path = self.config.getoption("claims_md")
        if path:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(markdown(rows), encoding="utf-8")
        if not rows:
            return
        terminalreporter.write_sep("=", f"macvlan claims: {tally(rows)}")
        for line in text_table(rows, max(shutil.get_terminal_size().columns, MIN_TABLE_WIDTH)):
            terminalreporter.write_line(line)
        if path:
            terminalreporter.write_line(f"claims table written to {path}")


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(reason).removeprefix("Skipped: ")


def failure_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or report.longreprtext)
    first = " ".join(text.strip().splitlines()[:1])
    return first if len(first) <= MESSAGE_LIMIT else first[: MESSAGE_LIMIT - 3] + "..."


def tally(rows: list[Row]) -> str:
    holds = sum(r.outcome == "passed" and not r.differs for r in rows)
    differ = sum(r.outcome == "passed" and bool(r.differs) for r in rows)
    fails = sum(r.outcome == "failed" for r in rows)
    skipped = sum(r.outcome == "skipped" for r in rows)
    return f"{len(rows)} claims, {holds} hold, {differ} differ from the article, {fails} fail, {skipped} skipped"


HEADER = ("scenario", "claim", "verdict", "evidence")


def cells(row: Row) -> tuple[str, str, str, str]:
    return row.scenario, row.claim, row.verdict, row.evidence


def text_table(rows: list[Row], width: int) -> list[str]:
    """Aligned columns within ``width``; a cell too long for its column wraps onto more lines.

    A long skip reason (the same one, typically, for every claim that needs a missing kernel
    feature) is given once, as a numbered note under the table.
    """
    notes: dict[str, int] = {}
    table = [HEADER]
    for row in rows:
        scenario, claim, verdict, found = cells(row)
        if row.outcome == "skipped" and len(row.detail) > SKIP_NOTE_OVER:
            verdict = f"skipped [{notes.setdefault(row.detail, len(notes) + 1)}]"
        table.append((scenario, claim, verdict, found))
    widths = column_widths([max(len(line[i]) for line in table) for i in range(len(HEADER))], width - 2 * 3)
    out: list[str] = []
    for line in table:
        wrapped = [textwrap.wrap(cell, w, break_on_hyphens=False) or [""] for cell, w in zip(line, widths, strict=True)]
        for i in range(max(len(w) for w in wrapped)):
            parts = [(w[i] if i < len(w) else "").ljust(n) for w, n in zip(wrapped, widths, strict=True)]
            out.append("  ".join(parts).rstrip())
    for reason, n in notes.items():
        out += textwrap.wrap(f"[{n}] skipped: {reason}", width, subsequent_indent="    ")
    return out


def column_widths(natural: list[int], total: int) -> list[int]:
    """The first column (scenario) keeps its width; the others share the rest, the narrow ones first."""
    widths = list(natural)
    rest = sorted(range(1, len(natural)), key=lambda i: natural[i])
    left = max(total - natural[0], 12 * len(rest))
    for n, i in enumerate(rest):
        widths[i] = min(natural[i], left // (len(rest) - n))
        left -= widths[i]
    return widths


def markdown(rows: list[Row]) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    lines = [
        "# The article's claims on this kernel",
        "",
        f"Kernel {platform.release()}: {tally(rows)}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "| " + " | ".join("---" for _ in HEADER) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"

"""The claims report: one row per ``@pytest.mark.claim`` test, printed at the end of the run.

A claim names where it comes from. A claim of the reference article cites its line (or range)
and quotes it verbatim, with an English gloss::

    @pytest.mark.claim(
        "on veth1_br each frame appears twice (hairpin)",
        article="L313", quote="又都发回veth1_br接口,所以数据包是双份的",
        gloss="sent back out of veth1_br as well, so each packet appears twice",
        precisely="twice is once in each direction: received from veth1, sent back to it",
    )

Any other claim names its ``source=`` (kernel documentation, a commit, "beyond the article").
The report has two parts, *the article* and *beyond the article*, each with its own counts.

Verdicts, one vocabulary (see :mod:`pytest_macvlan.report.results`):

- ``holds``;
- ``holds, more precisely: ...``: the kernel shows a detail the article does not state
  (``precisely=``);
- ``differs: ...``: only where the kernel contradicts the article's words, quoting both
  (``differs=``);
- ``FAILS: ...``: the test failed;
- ``skipped: reason``.

The evidence is what each capture of the test's topologies saw: frames in and out, frames the
kernel dropped, and each frame summarised like ``tcpdump -e -n``. A test may add evidence of its
own (a measurement) with :func:`record_evidence` and a measured detail with :func:`record_detail`.

``--claims-md PATH`` writes the report as Markdown (quote and gloss per article claim);
``--claims-json PATH`` writes the per-run JSON (schema ``pytest-macvlan/claims/1``).
Everything the report needs travels in the test reports (``user_properties``, strings only),
so it is built from ``pytest_runtest_logreport`` alone and comes out the same under
pytest-xdist, where the controller that prints it never sees the test items.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_macvlan.report.results import (
    ClaimResult,
    ClaimSource,
    Evidence,
    by_part,
    evidence_from_string,
    evidence_to_string,
    header,
    markdown,
    ordered,
    tally,
    text_table,
    write_json,
)

if TYPE_CHECKING:
    from pytest_macvlan.topology.handles import Topology
    from pytest_macvlan.topology.lab import NetLab

#: ``user_properties`` names; only strings travel, so xdist can ship them to the controller.
PROP_CLAIM = "macvlan_claim"
PROP_META = "macvlan_claim_meta"  # JSON: scenario, article, quote, gloss, source, precisely, differs, topology
PROP_EVIDENCE = "macvlan_evidence"  # JSON: the captures' evidence
PROP_EXTRA = "macvlan_evidence_extra"  # JSON: one evidence entry a test recorded itself
PROP_MEASURED = "macvlan_claim_measured"  # text: a measured detail for the verdict
MESSAGE_LIMIT = 120
MIN_TABLE_WIDTH = 120
SOURCE_KEYS = ("article", "quote", "gloss", "source")
KERNEL_NAME_ENV = "PYTEST_MACVLAN_KERNEL_NAME"  # the lane's name in the JSON; "host" by default


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("macvlan", "pytest-macvlan: real-kernel network topologies")
    group.addoption(
        "--claims-md",
        metavar="PATH",
        default=None,
        help="also write the claims report (the article's claims with line, quote and gloss; "
        "the claims beyond it) as Markdown to PATH",
    )
    group.addoption(
        "--claims-json",
        metavar="PATH",
        default=None,
        help="also write the claims report as JSON (schema pytest-macvlan/claims/1) to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # an xdist worker only ships reports; the controller reports
        config.pluginmanager.register(ClaimsReport(config), "pytest-macvlan-claims")


def claim_meta(item: pytest.Item, marker: pytest.Mark) -> dict[str, str | None]:
    """The marker's fields, validated; raises :class:`pytest.UsageError` naming the test."""
    kw = marker.kwargs
    fields: dict[str, str | None] = {}
    for key in (*SOURCE_KEYS, "precisely", "differs"):
        value = kw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim({key}=...) must be a non-empty string")
        fields[key] = " ".join(value.split()) if isinstance(value, str) and key != "quote" else value
    source = ClaimSource(fields["article"], fields["quote"], fields["gloss"], fields["source"])
    problem = source.problem()
    if problem is not None and (source.article or source.quote or source.gloss):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim: {problem}")
    if fields["precisely"] and fields["differs"]:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.claim: give precisely= (a detail the article does not state) "
            "or differs= (the kernel contradicts the article), not both"
        )
    if fields["differs"] and not source.article:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim(differs=...) needs article=: differs from what?")
    fields["scenario"] = scenario_of(item, kw.get("scenario"))
    topo = item.get_closest_marker("topology")
    spec = topo.args[0] if topo is not None and topo.args else None
    fields["topology"] = Path(spec).stem if isinstance(spec, str) and spec.endswith(".toml") else None
    return fields


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            continue
        text = marker.args[0] if marker.args else marker.kwargs.get("text")
        if not isinstance(text, str) or not text.strip():
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim needs the claim as text: claim('...')")
        item.user_properties.append((PROP_CLAIM, text.strip()))
        item.user_properties.append((PROP_META, json.dumps(claim_meta(item, marker), ensure_ascii=False)))


def scenario_of(item: pytest.Item, given: object = None) -> str:
    """The marker's ``scenario``, else the module's name without ``test_``; plus ``[param id]``."""
    name = str(given) if given else item.path.stem.removeprefix("test_")
    callspec = getattr(item, "callspec", None)
    return f"{name}[{callspec.id}]" if callspec is not None else name


def record_evidence(
    node: pytest.Item,
    capture: str,
    lines: list[str],
    measurement: Mapping[str, float | int | str] | None = None,
    received: int = 0,
    sent: int = 0,
) -> None:
    """Add one evidence entry of the test's own (a measurement: its lines and numbers)."""
    entry = Evidence(capture, received, sent, 0, tuple(lines), None, dict(measurement or {}) or None)
    node.user_properties.append((PROP_EXTRA, evidence_to_string([entry])))


def record_detail(node: pytest.Item, text: str) -> None:
    """A measured detail, shown after the verdict (``holds, more precisely: ... DETAIL``)."""
    node.user_properties.append((PROP_MEASURED, " ".join(text.split())))


def pytest_macvlan_teardown(node: pytest.Item | pytest.Collector, lab: NetLab) -> None:
    if isinstance(node, pytest.Item) and node.get_closest_marker("claim") is not None:
        node.user_properties.append((PROP_EVIDENCE, evidence_to_string(evidence(lab.topologies))))


def evidence(topologies: list[Topology]) -> list[Evidence]:
    """Per capture: frames in and out, frames the kernel dropped, and each frame's summary."""
    out: list[Evidence] = []
    for n, topo in enumerate(topologies, start=1):
        prefix = f"#{n} " if len(topologies) > 1 else ""
        for cap in topo.captures:
            frames = cap.frames
            shown = [f.summary() for f in frames[:FRAMES_SHOWN]]
            if len(frames) > FRAMES_SHOWN:
                shown.append(f"... {len(frames) - FRAMES_SHOWN} more frame(s)")
            out.append(
                Evidence(
                    f"{prefix}{cap.label}",
                    sum(f.direction == "in" for f in frames),
                    sum(f.direction == "out" for f in frames),
                    cap.drops,
                    tuple(shown),
                )
            )
    return out


FRAMES_SHOWN = 100


def firewall() -> str:
    """``nft`` or ``legacy``: the iptables backend this kernel takes, as the feature probe found
    it (the one the builder uses); before any probe, the backend installed as ``iptables``; or
    ``none``."""
    from pytest_macvlan.kernel import features

    probed = features.known()
    if probed is not None:
        return probed.firewall
    exe = shutil.which("iptables")
    if exe is None:
        return "none"
    try:
        shown = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "none"
    return "nft" if "nf_tables" in shown else "legacy" if "legacy" in shown else "none"


def kernel_info() -> dict[str, str]:
    """The kernel this run is on, for the claims JSON: its lane name, release and firewall backend."""
    return {"name": os.environ.get(KERNEL_NAME_ENV) or "host", "release": platform.release(), "firewall": firewall()}


class ClaimsReport:
    """Collects claim results from the reports (on the xdist controller too) and prints the report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, ClaimResult] = {}

    def result_for(self, report: pytest.TestReport, props: dict[str, str]) -> ClaimResult:
        """The claim row of ``nodeid``, made on first sight."""
        result = self.results.get(report.nodeid)
        if result is None:
            meta: dict[str, Any] = json.loads(props.get(PROP_META, "{}"))
            path, lineno = report.location[0], (report.location[1] or 0) + 1
            result = ClaimResult(
                report.nodeid,
                (path, lineno),
                meta.get("scenario") or "?",
                props[PROP_CLAIM],
                ClaimSource(*(meta.get(k) for k in SOURCE_KEYS)),
                precisely=meta.get("precisely"),
                differs=meta.get("differs"),
                topology=meta.get("topology"),
            )
            self.results[report.nodeid] = result
        return result

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = {str(k): str(v) for k, v in report.user_properties}
        if PROP_CLAIM not in props:
            return
        result = self.result_for(report, props)
        root = f"{self.config.rootpath}/"
        evidence_: list[Evidence] = []
        for key, value in report.user_properties:
            if key in (PROP_EVIDENCE, PROP_EXTRA):
                evidence_ += evidence_from_string(str(value))
            elif key == PROP_MEASURED:
                result.measured = str(value)
        if evidence_:
            result.evidence = evidence_
        if report.skipped:
            if result.outcome != "failed":
                xfail = getattr(report, "wasxfail", None)
                result.outcome, result.detail = (
                    ("failed", f"(xfail) {xfail}") if xfail is not None else ("skipped", skip_reason(report))
                )
                result.detail = result.detail.replace(root, "")
        elif report.failed:
            if result.outcome != "failed":
                where = "" if report.when == "call" else f"error in {report.when}: "
                result.outcome, result.detail = "failed", (where + failure_message(report)).replace(root, "")
        elif report.when == "call" and result.outcome == "not run":
            result.outcome = "passed"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        results = ordered(self.results.values())
        md, js = self.config.getoption("claims_md"), self.config.getoption("claims_json")
        if md:
            target = Path(md)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(markdown(results, platform.release()), encoding="utf-8")
        if js:
            write_json(js, results, kernel_info())
        if not results:
            return
        terminalreporter.write_sep("=", f"macvlan claims: {header(results)}")
        width = max(shutil.get_terminal_size().columns, MIN_TABLE_WIDTH)
        for part, rows in by_part(results).items():
            if not rows:
                continue
            title = "the article" if part == "article" else "beyond the article"
            terminalreporter.write_line(f"-- {title}: {tally(rows)}")
            for line in text_table(rows, width):
                terminalreporter.write_line(line)
        for path, what in ((md, "claims table"), (js, "claims JSON")):
            if path:
                terminalreporter.write_line(f"{what} written to {path}")


def skip_reason(report: pytest.TestReport) -> str:
    """The reason of a skip report, without pytest's location prefix."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(reason).removeprefix("Skipped: ")


def failure_message(report: pytest.TestReport) -> str:
    """The first line of a failure's message, shortened for a table cell."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or report.longreprtext)
    first = " ".join(text.strip().splitlines()[:1])
    return first if len(first) <= MESSAGE_LIMIT else first[: MESSAGE_LIMIT - 3] + "..."

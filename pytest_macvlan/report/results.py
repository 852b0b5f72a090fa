"""The claims results: one :class:`ClaimResult` per claim test, and their JSON, Markdown and text forms.

This module knows nothing of pytest: :mod:`pytest_macvlan.plugin.claims` fills the results from the test
reports and calls the writers here.

Verdicts (one vocabulary, everywhere: terminal, Markdown, JSON):

- ``holds``: the kernel does what the article says.
- ``holds, more precisely: DETAIL``: it does, and shows a detail the article does not state
  (the marker's ``precisely=``).
- ``differs: DETAIL``: the kernel contradicts the article's words; DETAIL quotes both (the
  marker's ``differs=``). Only for a true contradiction: a detail the article leaves out is
  ``holds, more precisely``.
- ``FAILS: MESSAGE``: the test failed (or errored).
- ``skipped: REASON``: the test did not run here (a kernel feature is missing, ...).

Each claim belongs to one of two parts: *the article* (it cites a line ``article="L313"`` or a
range ``"L1120-1134"``, quotes those lines verbatim and glosses the quote in English) or *beyond
the article* (it names its ``source=``: kernel documentation, a commit, "beyond the article").
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

SCHEMA = "pytest-macvlan/claims/1"
Part = Literal["article", "beyond"]
PARTS: dict[Part, str] = {"article": "the article", "beyond": "beyond the article"}
VERDICTS = ("holds", "holds, more precisely", "differs", "FAILS", "skipped", "not run")
#: ``L313`` or ``L1120-1134``: the article's lines, 1-based, inclusive.
ARTICLE_LINES = re.compile(r"^L(\d+)(?:-(\d+))?$")
NO_EVIDENCE = "-"
SKIP_NOTE_OVER = 40
FRAMES_PER_CAPTURE = 100  # frame summaries kept per capture in the JSON (the counts cover them all)


def article_lines(ref: str) -> tuple[int, int]:
    """``"L313"`` -> ``(313, 313)``; ``"L1120-1134"`` -> ``(1120, 1134)``. Raises ValueError."""
    m = ARTICLE_LINES.match(ref)
    if m is None:
        raise ValueError(f"article line {ref!r} is not of the form L313 or L1120-1134")
    first = int(m.group(1))
    last = int(m.group(2) or first)
    if first < 1 or last < first:
        raise ValueError(f"article line range {ref!r} is empty or starts before line 1")
    return first, last


@dataclass(frozen=True)
class Evidence:
    """What one capture saw during a claim test: counts by direction, and each frame's summary."""

    capture: str
    received: int = 0
    sent: int = 0
    dropped: int = 0
    frames: tuple[str, ...] = ()
    pcap: str | None = None
    #: Numbers behind a measurement (a benchmark's evidence), else None.
    measurement: Mapping[str, float | int | str] | None = None

    def text(self) -> str:
        """``S3/veth1_br in 3 out 3`` (``0`` when it saw nothing), plus what the kernel dropped."""
        if self.measurement is not None:
            return f"{self.capture}: " + "; ".join(self.frames)
        seen = f"in {self.received} out {self.sent}" if self.received or self.sent else "0"
        return f"{self.capture} {seen}" + (f" (kernel dropped {self.dropped})" if self.dropped else "")

    def to_json(self) -> dict[str, Any]:
        """As the claims JSON has it."""
        out: dict[str, Any] = {
            "capture": self.capture,
            "in": self.received,
            "out": self.sent,
            "dropped": self.dropped,
            "frames": list(self.frames),
            "pcap": self.pcap,
        }
        if self.measurement is not None:
            out["measurement"] = dict(self.measurement)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evidence:
        """Back from the claims JSON (keys a newer version added are ignored)."""
        measurement = data.get("measurement")
        return cls(
            capture=str(data["capture"]),
            received=int(data.get("in", 0)),
            sent=int(data.get("out", 0)),
            dropped=int(data.get("dropped", 0)),
            frames=tuple(str(f) for f in data.get("frames", ())),
            pcap=data.get("pcap"),
            measurement=dict(measurement) if isinstance(measurement, Mapping) else None,
        )


def evidence_to_string(items: Iterable[Evidence]) -> str:
    """The evidence as one string (JSON), for pytest's ``user_properties`` (and xdist)."""
    return json.dumps([e.to_json() for e in items], ensure_ascii=False, separators=(",", ":"))


def evidence_from_string(text: str) -> list[Evidence]:
    """Evidence that travelled as a string (pytest's ``user_properties``), back as records."""
    if not text or text == NO_EVIDENCE:
        return []
    return [Evidence.from_json(item) for item in json.loads(text)]


@dataclass(frozen=True)
class ClaimSource:
    """Where a claim comes from: the article's lines, quote and gloss; or another source."""

    article: str | None = None
    quote: str | None = None
    gloss: str | None = None
    source: str | None = None

    @property
    def part(self) -> Part:
        return "article" if self.article else "beyond"

    def problem(self) -> str | None:
        """What is wrong with the source fields, or None: an article claim needs article, quote
        and gloss; any other claim needs ``source``."""
        if self.article:
            try:
                article_lines(self.article)
            except ValueError as exc:
                return str(exc)
            missing = [k for k in ("quote", "gloss") if not getattr(self, k)]
            if missing:
                return f"a claim citing the article ({self.article}) needs {' and '.join(missing)}"
            if self.source:
                return "give either article= (with quote= and gloss=) or source=, not both"
            return None
        if self.quote or self.gloss:
            return "quote= and gloss= need article= (the line they come from)"
        if not self.source:
            return "name where the claim comes from: article='L313', quote='...', gloss='...'; or source='...'"
        return None


@dataclass
class ClaimResult:
    """One claim test's result. ``outcome`` is pytest's (passed, failed, skipped, not run)."""

    nodeid: str
    location: tuple[str, int]  # path, 1-based line
    scenario: str
    claim: str
    source: ClaimSource = field(default_factory=ClaimSource)
    precisely: str | None = None
    differs: str | None = None
    outcome: str = "not run"
    detail: str = ""  # the failure message or skip reason
    measured: str = ""  # what the test recorded for the verdict's detail (a measurement)
    evidence: list[Evidence] = field(default_factory=list)
    topology: str | None = None

    @property
    def part(self) -> Part:
        return self.source.part

    @property
    def verdict(self) -> str:
        """The verdict's word(s), one of :data:`VERDICTS`."""
        if self.outcome == "passed":
            if self.differs:
                return "differs"
            return "holds, more precisely" if self.precisely else "holds"
        return {"failed": "FAILS", "skipped": "skipped"}.get(self.outcome, "not run")

    @property
    def verdict_detail(self) -> str:
        """The text that follows the verdict: how it differs, the detail, why it failed or was skipped."""
        if self.outcome == "passed":
            text = self.differs or self.precisely or ""
            return " ".join(t for t in (text, self.measured) if t)
        return self.detail

    @property
    def verdict_text(self) -> str:
        """``holds``, ``holds, more precisely: ...``, ``differs: ...``, ``FAILS: ...``, ``skipped: ...``."""
        detail = self.verdict_detail
        return f"{self.verdict}: {detail}" if detail else self.verdict

    @property
    def evidence_text(self) -> str:
        return "; ".join(e.text() for e in self.evidence) or NO_EVIDENCE

    def to_json(self) -> dict[str, Any]:
        """As the claims JSON has it."""
        return {
            "nodeid": self.nodeid,
            "location": f"{self.location[0]}:{self.location[1]}",
            "scenario": self.scenario,
            "claim": self.claim,
            "part": self.part,
            "article": self.source.article,
            "quote": self.source.quote,
            "gloss": self.source.gloss,
            "source": self.source.source,
            "verdict": self.verdict,
            "detail": self.verdict_detail,
            "evidence": [e.to_json() for e in self.evidence],
            "topology": None if self.topology is None else {"name": self.topology, "svg": None},
        }


def ordered(results: Iterable[ClaimResult]) -> list[ClaimResult]:
    """The results in the report's order: by location (file and line), then node id."""
    return sorted(results, key=lambda r: (r.location, r.nodeid))


def by_part(results: Iterable[ClaimResult]) -> dict[Part, list[ClaimResult]]:
    """The results split into the two parts, ``article`` and ``beyond``, each in report order."""
    parts: dict[Part, list[ClaimResult]] = {"article": [], "beyond": []}
    for r in ordered(results):
        parts[r.part].append(r)
    return parts


def tally(results: Sequence[ClaimResult]) -> str:
    """``12 claims: 7 hold, 3 hold more precisely, 1 differs, 0 fail, 1 skipped``."""
    n = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    text = (
        f"{len(results)} claims: {n['holds']} hold, {n['holds, more precisely']} hold more precisely, "
        f"{n['differs']} differ, {n['FAILS']} fail, {n['skipped']} skipped"
    )
    return text + (f", {n['not run']} not run" if n["not run"] else "")


def header(results: Iterable[ClaimResult]) -> str:
    """``the article: 30 claims: ...; beyond the article: 12 claims: ...`` (parts with claims only)."""
    parts = by_part(results)
    return "; ".join(f"{PARTS[p]}: {tally(rs)}" for p, rs in parts.items() if rs)


# -- JSON ------------------------------------------------------------------------------------


def to_json(
    results: Iterable[ClaimResult], kernel: Mapping[str, str], generated: datetime | None = None
) -> dict[str, Any]:
    """The per-run document (schema ``pytest-macvlan/claims/1``)."""
    when = (generated or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "schema": SCHEMA,
        "generated": when,
        "kernel": dict(kernel),
        "claims": [r.to_json() for r in ordered(results)],
    }


def write_json(path: str | Path, results: Iterable[ClaimResult], kernel: Mapping[str, str]) -> Path:
    """Write the per-run claims JSON to ``path`` (its directory is made if need be)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_json(results, kernel), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target


# -- Markdown --------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


ARTICLE_MD = ("scenario", "line", "claim", "the article says", "verdict", "evidence")
BEYOND_MD = ("scenario", "claim", "source", "verdict", "evidence")


def markdown(results: Iterable[ClaimResult], kernel: str) -> str:
    """Two sections, the article's claims (with line, quote and gloss) and the claims beyond it."""
    parts = by_part(results)
    lines = ["# The article's claims on this kernel", "", f"Kernel {kernel}.", ""]
    for part, rows in parts.items():
        if not rows:
            continue
        lines += [f"## {PARTS[part][0].upper()}{PARTS[part][1:]}", "", f"{tally(rows)}.", ""]
        head = ARTICLE_MD if part == "article" else BEYOND_MD
        lines += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
        for r in rows:
            cells: tuple[str, ...]
            if part == "article":
                said = f"「{r.source.quote}」 ({r.source.gloss})"
                cells = (r.scenario, r.source.article or "", r.claim, said, r.verdict_text, r.evidence_text)
            else:
                cells = (r.scenario, r.claim, r.source.source or "", r.verdict_text, r.evidence_text)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


# -- the terminal ----------------------------------------------------------------------------

TEXT_HEADER = ("scenario", "line", "claim", "verdict", "evidence")


def text_table(results: Sequence[ClaimResult], width: int) -> list[str]:
    """Aligned columns within ``width``; a cell too long for its column wraps onto more lines.

    ``line`` is the article's line for an article claim, ``beyond`` for the others. A long skip
    reason (the same one, typically, for every claim that needs a missing kernel feature) is
    given once, as a numbered note under the table.
    """
    notes: dict[str, int] = {}
    table = [TEXT_HEADER]
    for r in results:
        verdict = r.verdict_text
        if r.outcome == "skipped" and len(r.detail) > SKIP_NOTE_OVER:
            verdict = f"skipped [{notes.setdefault(r.detail, len(notes) + 1)}]"
        table.append((r.scenario, r.source.article or "beyond", r.claim, verdict, r.evidence_text))
    widths = column_widths([max(len(line[i]) for line in table) for i in range(len(TEXT_HEADER))], width - 2 * 4)
    out: list[str] = []
    for line in table:
        wrapped = [textwrap.wrap(cell, w, break_on_hyphens=False) or [""] for cell, w in zip(line, widths, strict=True)]
        for i in range(max(len(w) for w in wrapped)):
            parts = [(w[i] if i < len(w) else "").ljust(n) for w, n in zip(wrapped, widths, strict=True)]
            out.append("  ".join(parts).rstrip())
    for reason, n in notes.items():
        out += textwrap.wrap(f"[{n}] skipped: {reason}", width, subsequent_indent="    ")
    return out


def column_widths(natural: list[int], total: int, keep: int = 2) -> list[int]:
    """The first ``keep`` columns keep their width; the others share the rest, the narrow ones first."""
    widths = list(natural)
    rest = sorted(range(keep, len(natural)), key=lambda i: natural[i])
    left = max(total - sum(natural[:keep]), 12 * len(rest))
    for n, i in enumerate(rest):
        widths[i] = min(natural[i], left // (len(rest) - n))
        left -= widths[i]
    return widths

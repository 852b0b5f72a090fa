"""The claims x kernels matrix: lanes in parallel, one row per claim, one column per kernel.

Each lane leaves its claims in its output directory: ``claims.json`` (schema
``pytest-macvlan/claims/1``, when the plugin writes ``--claims-json``), else the claims
Markdown table (``claims.md``), read back. The matrix JSON (schema ``pytest-macvlan/matrix/1``)::

    {"schema": "pytest-macvlan/matrix/1", "generated": "ISO-8601 UTC",
     "kernels": [{"name": "uml-6.1", "release": "6.1.176", "firewall": "legacy", "exit": 0,
                  "duration_s": 21.3}],
     "claims": [{...the claim's fields except verdict/detail/evidence/topology...,
                 "results": {"uml-6.1": {"verdict": "holds", "detail": "", "evidence": [...],
                                         "topology": null}},
                 "varies": false}]}

Paths inside (pcaps, SVGs) are relative to the JSON file's directory. A claim a lane did not
report is ``not run`` there.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.runner import cache
from pytest_macvlan.runner.catalogue import Kernel
from pytest_macvlan.runner.lanes import LaneOptions, LaneResult, run_host
from pytest_macvlan.runner.uml import run_uml
from pytest_macvlan.runner.vng import run_vng

SCHEMA = "pytest-macvlan/matrix/1"
CLAIMS_SCHEMA = "pytest-macvlan/claims/1"
PER_LANE = ("verdict", "detail", "evidence", "topology")
VERDICT_WORDS = ("holds, more precisely", "holds", "differs", "FAILS", "skipped", "not run")
NOT_RUN: dict[str, Any] = {"verdict": "not run", "detail": "", "evidence": [], "topology": None}


# -- running ----------------------------------------------------------------------------------


def run_lane(k: Kernel, args: Sequence[str], opts: LaneOptions) -> LaneResult:
    """Run pytest ``args`` on ``k`` (a lane of its kind) and return what happened."""
    if k.kind == "host":
        return run_host(k, args, opts)
    if k.kind == "uml":
        return run_uml(k, args, opts)
    if k.kind == "vng":
        return run_vng(k, args, opts)
    raise RunnerError(f"no lane for {k.name}")


def run(
    kernels: Sequence[Kernel],
    args: Sequence[str],
    out_root: Path,
    *,
    jobs: int,
    base: LaneOptions,
    say: Callable[[str], None],
) -> list[LaneResult]:
    """Fetch what is missing (one at a time), then run the lanes, ``jobs`` at once."""
    root = cache.cache_root(base.cache)
    for k in kernels:
        if k.kind != "host":
            cache.fetch(k, root, say=say)

    def one(k: Kernel) -> LaneResult:
        opts = replace(base, out=out_root / k.name, echo=None)
        say(f"{k.name}: started")
        try:
            result = run_lane(k, args, opts)
        except RunnerError as exc:
            result = LaneResult(k.name, "?", "unknown", 3, 0.0, str(opts.out), None, str(exc))
        say(
            f"{k.name}: kernel {result.release}, pytest exit {result.exit}, {result.duration_s:.1f} s"
            + (f" ({result.problem})" if result.problem else "")
        )
        return result

    # The slowest first (a VM under emulation, then the oldest UML kernels), so that the others
    # fill the remaining CPUs meanwhile; results in the order asked for.
    order = sorted(kernels, key=lambda k: ({"vng": 0, "uml": 1, "host": 2}[k.kind], k.name))
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(kernels)))) as pool:
        futures = {k.name: pool.submit(one, k) for k in order}
        return [futures[k.name].result() for k in kernels]


# -- reading one lane's claims ----------------------------------------------------------------


def split_verdict(text: str) -> tuple[str, str]:
    """``"skipped: kernel lacks 8021q"`` -> ``("skipped", "kernel lacks 8021q")``;
    ``"differs from the article: X"`` -> ``("differs", "X")``."""
    for word in VERDICT_WORDS:
        if text.startswith(word):
            rest = text[len(word) :]
            rest = re.sub(r"^( from the article)?\s*:?\s*", "", rest)
            return word, rest.strip()
    return "FAILS", text


def _md_cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def claims_from_markdown(text: str) -> list[dict[str, Any]]:
    """The claims table written by ``--claims-md``, back as claims (no nodeid)."""
    rows: list[dict[str, Any]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None  # a new table (one per part, say) starts with its own header
            continue
        cells = _md_cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(set(c) <= {"-", ":", " "} for c in cells):
            continue
        row = dict(zip(header, cells, strict=False))
        if "claim" not in row or "verdict" not in row:
            continue
        verdict, detail = split_verdict(row.get("verdict", ""))
        rows.append(
            {
                "nodeid": None,
                "scenario": row.get("scenario", "?"),
                "claim": row.get("claim", "?"),
                "verdict": verdict,
                "detail": detail,
                "evidence": [] if row.get("evidence", "-") == "-" else [{"text": row.get("evidence")}],
                "topology": None,
            }
        )
    return rows


def rebase(value: Any, source_dir: Path, target_dir: Path) -> Any:
    """Relative ``pcap``/``svg`` paths in a lane's data, made relative to ``target_dir``."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("pcap", "svg") and isinstance(v, str) and v and not os.path.isabs(v):
                out[k] = os.path.relpath(source_dir / v, target_dir)
            else:
                out[k] = rebase(v, source_dir, target_dir)
        return out
    if isinstance(value, list):
        return [rebase(v, source_dir, target_dir) for v in value]
    return value


def lane_claims(out: Path, target_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A lane's claims (and its ``kernel`` record, when it wrote claims.json)."""
    path = out / "claims.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != CLAIMS_SCHEMA:
            raise RunnerError(f"{path}: schema {data.get('schema')!r}, expected {CLAIMS_SCHEMA}")
        return rebase(list(data.get("claims", [])), out, target_dir), dict(data.get("kernel") or {})
    md = out / "claims.md"
    if md.is_file():
        return claims_from_markdown(md.read_text(encoding="utf-8")), {}
    return [], {}


# -- merging ----------------------------------------------------------------------------------


def claim_key(claim: dict[str, Any]) -> str:
    """What identifies a claim across lanes: its node id, else scenario and claim text."""
    return str(claim.get("nodeid") or f"{claim.get('scenario')}::{claim.get('claim')}")


def merge(lanes: Sequence[LaneResult], target_dir: Path) -> dict[str, Any]:
    """The matrix (as the JSON schema) from the lanes' output directories."""
    rows: dict[str, dict[str, Any]] = {}
    kernels: list[dict[str, Any]] = []
    for lane in lanes:
        claims, kernel = lane_claims(Path(lane.out), target_dir)
        firewall = kernel.get("firewall") or lane.firewall
        record = {
            "name": lane.name,
            "release": kernel.get("release") or lane.release,
            "firewall": firewall,
            "exit": lane.exit,
            "duration_s": lane.duration_s,
        }
        if lane.problem:
            record["problem"] = lane.problem
        kernels.append(record)
        for claim in claims:
            key = claim_key(claim)
            row = rows.get(key)
            if row is None:
                row = {k: v for k, v in claim.items() if k not in PER_LANE}
                row["results"] = {}
                rows[key] = row
            row["results"][lane.name] = {k: claim.get(k, NOT_RUN[k]) for k in PER_LANE}
    for row in rows.values():
        for lane in lanes:
            row["results"].setdefault(lane.name, dict(NOT_RUN))
        words = [cell_word(r["verdict"]) for r in row["results"].values()]
        row["varies"] = len(set(words)) > 1
        # The kernels that ran the claim disagree (not only: some skipped it, lacking a feature).
        row["behaviour_varies"] = len({w for w in words if w not in ("skipped", "not run")}) > 1
    ordered = sorted(rows.values(), key=lambda r: (str(r.get("location") or ""), claim_key(r)))
    return {
        "schema": SCHEMA,
        "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kernels": kernels,
        "claims": ordered,
    }


def mark_of(row: dict[str, Any]) -> str:
    """``≠`` where the kernels that ran a claim disagree, ``~`` where it varies only by skips."""
    return "≠" if row.get("behaviour_varies") else "~" if row["varies"] else ""


def cell_word(verdict: str) -> str:
    """The word a matrix cell shows: ``holds, more precisely`` counts as ``holds``."""
    return "holds" if verdict.startswith("holds") else verdict


def failures(matrix: dict[str, Any]) -> list[str]:
    """``kernel: claim`` for every FAILS."""
    return [
        f"{name}: {row.get('scenario')}: {row.get('claim')}"
        for row in matrix["claims"]
        for name, result in row["results"].items()
        if result["verdict"] == "FAILS"
    ]


def skips(matrix: dict[str, Any], kernels: Sequence[str]) -> list[str]:
    """``kernel: claim (reason)`` for every claim skipped or not run on ``kernels``."""
    return [
        f"{name}: {row.get('scenario')}: {row.get('claim')} ({result.get('detail')})"
        for row in matrix["claims"]
        for name, result in row["results"].items()
        if name in kernels and result["verdict"] in ("skipped", "not run")
    ]


# -- writing ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(matrix: dict[str, Any], command: str = "") -> str:
    """The matrix as Markdown: the kernels, then one row per claim (reasons as notes)."""
    kernels = matrix["kernels"]
    names = [k["name"] for k in kernels]
    notes: dict[str, int] = {}

    def show(result: dict[str, Any]) -> str:
        word = cell_word(result["verdict"])
        if word in ("skipped", "not run") and result.get("detail"):
            return f"{word} [{notes.setdefault(_cell(result['detail']), len(notes) + 1)}]"
        return word

    varies = sum(bool(r["varies"]) for r in matrix["claims"])
    differ = sum(bool(r.get("behaviour_varies")) for r in matrix["claims"])
    lines = [
        "# The claims on each kernel",
        "",
        f"Generated {matrix['generated']}" + (f" by `{command}`" if command else "") + ": "
        f"{len(matrix['claims'])} claims on {len(kernels)} kernels; {varies} vary across kernels: "
        f"{differ} because the kernels that ran them disagree (≠), the others only because some kernels "
        "skipped them (~, the reason in the notes).",
        "",
        "| kernel | release | iptables backend | pytest exit | seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k in kernels:
        lines.append(
            f"| {k['name']} | {k['release']} | {k['firewall']} | {k['exit']} | {k['duration_s']:.1f} |"
            + (f" {_cell(k['problem'])}" if k.get("problem") else "")
        )
    header = ["", "scenario", "claim", *(f"{k['name']} ({k['release']})" for k in kernels)]
    lines += ["", "| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for row in matrix["claims"]:
        cells = [mark_of(row), row.get("scenario", ""), row.get("claim", "")]
        cells += [show(row["results"][n]) for n in names]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if notes:
        lines.append("")
        lines += [f"[{n}] {reason}  " for reason, n in notes.items()]
    return "\n".join(lines) + "\n"


def text_table(matrix: dict[str, Any], width: int = 160) -> list[str]:
    """The matrix for a terminal: the claim cut to fit, one column per kernel."""
    names = [k["name"] for k in matrix["kernels"]]
    col = max(8, *(len(n) for n in names))
    claim_w = max(30, width - 2 - (col + 1) * len(names))
    out = [" " * 2 + "claim".ljust(claim_w) + " " + " ".join(n.ljust(col) for n in names)]
    out.append(" " * 2 + "".ljust(claim_w) + " " + " ".join(k["release"][:col].ljust(col) for k in matrix["kernels"]))
    for row in matrix["claims"]:
        text = f"{row.get('scenario')}: {row.get('claim')}"
        text = text if len(text) <= claim_w else text[: claim_w - 3] + "..."
        mark = f"{mark_of(row) or ' '} "
        out.append(
            mark
            + text.ljust(claim_w)
            + " "
            + " ".join(cell_word(row["results"][n]["verdict"]).ljust(col) for n in names)
        )
    return out


def write(matrix: dict[str, Any], md: Path | None, js: Path | None, command: str) -> None:
    """Write the JSON and the Markdown where asked."""
    if js is not None:
        js.parent.mkdir(parents=True, exist_ok=True)
        js.write_text(json.dumps(matrix, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if md is not None:
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(markdown(matrix, command), encoding="utf-8")


README_BEGIN = "<!-- kernel-matrix:begin -->"
README_END = "<!-- kernel-matrix:end -->"


def update_readme(path: Path, matrix_md: str) -> None:
    """Put the matrix between the README's ``kernel-matrix`` markers (headings demoted)."""
    text = path.read_text(encoding="utf-8")
    once = text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    if not once or text.index(README_BEGIN) > text.index(README_END):
        raise RunnerError(f"{path}: needs one {README_BEGIN} line and one {README_END} line after it")
    body = re.sub(r"^# (.*)$", r"#### \1", matrix_md.strip(), flags=re.M)
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_BEGIN}\n{body}\n{README_END}{tail}", encoding="utf-8")


def lane_records(lanes: Sequence[LaneResult]) -> list[dict[str, Any]]:
    """The lanes as dictionaries."""
    return [asdict(lane) for lane in lanes]


def elapsed(t0: float) -> float:
    """Seconds since ``t0``, rounded."""
    return round(time.monotonic() - t0, 1)

"""A claims JSON (per run) or matrix JSON file, read into typed records for the HTML page.

The schemas are ``pytest-macvlan/claims/1`` (one run: one kernel) and ``pytest-macvlan/matrix/1``
(claims x kernels); a per-run file is read as a matrix of one kernel. Reading is tolerant of
missing optional keys (a default stands in) and strict about wrong types: a
:class:`ReportError` names the file and the entry. Paths inside stay relative to the file's
directory (:attr:`Matrix.base`). The writer of the per-run file is
:mod:`pytest_macvlan.report.results`; this module only reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_macvlan.errors import MacvlanError

SCHEMAS = ("pytest-macvlan/claims/1", "pytest-macvlan/matrix/1")
#: verdict word -> its kind (the page's CSS class), longest first: "holds, more precisely" before "holds".
VERDICTS: dict[str, str] = {
    "holds, more precisely": "precise",
    "not run": "notrun",
    "skipped": "skipped",
    "differs": "differs",
    "FAILS": "fails",
    "holds": "holds",
}
PARTS = (("article", "the article"), ("beyond", "beyond the article"))


class ReportError(MacvlanError, ValueError):
    """A claims or matrix JSON file is not what the page can show (names the file and entry)."""


@dataclass(frozen=True)
class Capture:
    """One capture of a run: its label (``NS/LINK``), frame counts by direction, frames, pcap path."""

    label: str
    n_in: int
    n_out: int
    dropped: int
    frames: tuple[str, ...]
    pcap: str | None


@dataclass(frozen=True)
class Result:
    """One claim on one kernel: verdict, detail, captures and the topology (name, picture path)."""

    verdict: str
    detail: str
    evidence: tuple[Capture, ...] = ()
    topology: str | None = None
    svg: str | None = None


@dataclass(frozen=True)
class Kernel:
    """One kernel column: name (``uml-6.1``, ``host``), exact release, firewall backend, exit, duration."""

    name: str
    release: str
    firewall: str
    exit: int | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class Claim:
    """One claim row: where its test is, what it says, its article line or source, a result per kernel."""

    nodeid: str
    location: str
    scenario: str
    text: str
    part: str
    article: str | None
    quote: str | None
    gloss: str | None
    source: str | None
    results: Mapping[str, Result]
    varies: bool


@dataclass(frozen=True)
class Matrix:
    """Claims x kernels, as read from one file."""

    generated: str
    kernels: tuple[Kernel, ...]
    claims: tuple[Claim, ...]
    base: Path  # the JSON's directory: paths inside are relative to it


def verdict_class(verdict: str) -> str:
    """The kind of a verdict (``precise`` for ``holds, more precisely: ...``); ``unknown`` if none."""
    for word, css in VERDICTS.items():
        if verdict == word or verdict.startswith((word + ":", word + " ")):
            return css
    return "unknown"


# -- loading (tolerant of missing optional keys) ----------------------------------------------


def _str(d: Mapping[str, Any], key: str, default: str = "") -> str:
    value = d.get(key)
    return default if value is None else str(value)


def _opt(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return None if value is None else str(value)


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    value = d.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | None):
        raise ReportError(f"{where}.{key}: not an integer: {value!r}")
    return value or 0


def _map(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ReportError(f"{where}: not an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where}: not a list")
    return value


def _result(d: Mapping[str, Any], where: str) -> Result:
    caps: list[Capture] = []
    for n, item in enumerate(_list(d.get("evidence"), f"{where}.evidence")):
        e = _map(item, f"{where}.evidence[{n}]")
        w = f"{where}.evidence[{n}]"
        frames = tuple(str(f) for f in _list(e.get("frames"), f"{w}.frames"))
        counts = (_int(e, "in", w), _int(e, "out", w), _int(e, "dropped", w))
        caps.append(Capture(_str(e, "capture", "?"), *counts, frames, _opt(e, "pcap")))
    topo = d.get("topology")
    topo = _map(topo, f"{where}.topology") if topo is not None else {}
    return Result(_str(d, "verdict", "not run"), _str(d, "detail"), tuple(caps), _opt(topo, "name"), _opt(topo, "svg"))


def parse(data: Mapping[str, Any], base: Path, source: str = "<data>") -> Matrix:
    """The :class:`Matrix` of a per-run claims JSON (one kernel) or a matrix JSON."""
    schema = data.get("schema")
    if schema not in SCHEMAS:
        raise ReportError(f"{source}: schema is {schema!r}, expected one of {', '.join(SCHEMAS)}")
    per_run = schema == SCHEMAS[0]
    raw_kernels = [data.get("kernel") or {}] if per_run else _list(data.get("kernels"), f"{source}: kernels")
    kernels: list[Kernel] = []
    for n, item in enumerate(raw_kernels):
        k = _map(item, f"{source}: kernels[{n}]")
        exit_code, duration = k.get("exit"), k.get("duration_s")
        names = (_str(k, "name", "host"), _str(k, "release", "?"), _str(k, "firewall", "?"))
        exit_code = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
        kernels.append(Kernel(*names, exit_code, float(duration) if isinstance(duration, int | float) else None))
    claims: list[Claim] = []
    for n, item in enumerate(_list(data.get("claims"), f"{source}: claims")):
        where = f"{source}: claims[{n}]"
        c = _map(item, where)
        if per_run:
            results = {kernels[0].name: _result(c, where)}
        else:
            raw = _map(c.get("results") or {}, f"{where}.results")
            results = {str(k): _result(_map(v, f"{where}.results.{k}"), f"{where}.results.{k}") for k, v in raw.items()}
        classes = {verdict_class(results[k.name].verdict) if k.name in results else "notrun" for k in kernels}
        varies = c.get("varies")
        part = _str(c, "part", "article" if c.get("article") else "beyond")
        claims.append(
            Claim(
                *(_str(c, "nodeid"), _str(c, "location"), _str(c, "scenario"), _str(c, "claim")),
                part if part in dict(PARTS) else "beyond",
                *(_opt(c, "article"), _opt(c, "quote"), _opt(c, "gloss"), _opt(c, "source")),
                results,
                varies if isinstance(varies, bool) else len(classes) > 1,
            )
        )
    return Matrix(_str(data, "generated"), tuple(kernels), tuple(claims), base)


def load(path: str | os.PathLike[str]) -> Matrix:
    """Read a claims or matrix JSON file (:class:`ReportError` when it cannot be shown)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read claims JSON: {exc}") from None
    return parse(_map(data, str(path)), path.resolve().parent, str(path))

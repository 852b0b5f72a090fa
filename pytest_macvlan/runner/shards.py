"""One kernel lane over several user-mode Linux guests (``kernel run NAME --guests N``).

A UML guest runs on one CPU, and most of a lane's time is the guest's own (each system call and
page fault is dear there: see docs/kernels.md). So a lane run alone on a machine with N cores can
split its tests over N guests, each running ``--netlab-shard I/N`` (:mod:`..plugin.shard`), and
merge their output into the lane's directory: claims.json (every claim once, in the report's
order, as one guest would have written it), claims.md (the parts' tables one after the other),
junit.xml (the parts' test suites), status and lane.json. Each guest keeps its own files
(pcaps; its console when it failed) under ``OUT/guest-I``, and each guest's console is shown
once all have ended. ``kernel run`` uses one guest per core by default (``--guests auto``, at
most :data:`AUTO_GUESTS`); the matrix runs one guest per kernel: its lanes already use the cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.runner.catalogue import Kernel
from pytest_macvlan.runner.lanes import LaneOptions, LaneResult, finish, prepare_out
from pytest_macvlan.runner.matrix import rebase
from pytest_macvlan.runner.uml import NOISE, run_uml

MAX_GUESTS = 16
#: ``--guests auto`` uses at most this many guests: past it, each guest's own start (boot, pytest,
#: collection) costs more than its share of the tests saves.
AUTO_GUESTS = 4
_NO_TESTS = 5  # pytest's exit status when a part collected nothing


def combined_exit(codes: Sequence[int]) -> int:
    """One exit status for the parts: the first that is neither 0 nor "no tests"; 5 only if
    every part collected nothing; else 0."""
    bad = [c for c in codes if c not in (0, _NO_TESTS)]
    if bad:
        return bad[0]
    return _NO_TESTS if codes and all(c == _NO_TESTS for c in codes) else 0


def run_guests(k: Kernel, args: Sequence[str], opts: LaneOptions, guests: int) -> LaneResult:
    """Run pytest ``args`` on ``k`` split over ``guests`` UML guests at once; one merged result."""
    if k.kind != "uml":
        raise RunnerError(f"--guests splits a lane over user-mode Linux guests: {k.name} is not one")
    if not 1 <= guests <= MAX_GUESTS:
        raise RunnerError(f"--guests {guests}: expected 1 to {MAX_GUESTS}")
    if guests == 1:
        return run_uml(k, args, opts)
    out = prepare_out(opts.out)
    t0 = time.monotonic()

    def one(i: int) -> LaneResult:  # its console kept, to be shown once all are done
        part = dataclasses.replace(opts, out=out / f"guest-{i}", echo=None, keep_logs=opts.keep_logs or bool(opts.echo))
        return run_uml(k, [*args, f"--netlab-shard={i}/{guests}"], part)

    with ThreadPoolExecutor(guests) as pool:
        parts = list(pool.map(one, range(1, guests + 1)))
    for i, p in enumerate(parts, start=1):
        if opts.echo is not None:
            show_console(Path(p.out), f"{k.name}: guest {i}/{guests}", opts.echo, keep=opts.keep_logs or p.exit != 0)
        opts.say(
            f"{k.name}: guest {i}/{guests}: exit {p.exit}, {p.duration_s:.1f} s"
            + (f"; {p.problem}" if p.problem else "")
        )
    merge_outputs([Path(p.out) for p in parts], out)
    first = parts[0]
    result = LaneResult(
        k.name,
        first.release,
        first.firewall,
        combined_exit([p.exit for p in parts]),
        round(time.monotonic() - t0, 2),
        str(out),
        max((p.boot_s for p in parts if p.boot_s is not None), default=None),
        "; ".join(f"guest {i}: {p.problem}" for i, p in enumerate(parts, start=1) if p.problem),
    )
    (out / "status").write_text(f"{result.exit}\n")
    finish(result, opts)
    return result


def auto_guests(kind: str) -> int:
    """``--guests auto``: one UML guest per core (a guest has one CPU), at most
    :data:`AUTO_GUESTS`; other kernels run in one."""
    return max(1, min(os.cpu_count() or 1, AUTO_GUESTS)) if kind == "uml" else 1


def show_console(out: Path, label: str, echo: IO[str], *, keep: bool) -> None:
    """A guest's console (pytest's output) on ``echo`` after it ended, under a heading; its
    console and kernel logs then dropped unless ``keep``."""
    try:
        lines = (out / "console.log").read_bytes().splitlines(keepends=True)
    except OSError:
        return
    echo.write(f"==== {label} ====\n")
    echo.write("".join(x.decode(errors="replace") for x in lines if not NOISE.search(x)))
    echo.flush()
    if not keep:
        for name in ("console.log", "kernel.log"):
            (out / name).unlink(missing_ok=True)


def _where(claim: dict[str, Any]) -> tuple[str, int, str]:
    """The report's order (``report.results.ordered``): file, line, node id. ``location`` is
    ``"path:line"`` in claims.json."""
    path, _, line = str(claim.get("location") or "").rpartition(":")
    return path, int(line) if line.isdigit() else 0, str(claim.get("nodeid") or "")


def merge_outputs(parts: Sequence[Path], out: Path) -> None:
    """The parts' claims.json, claims.md and junit.xml merged into ``out``."""
    docs = {
        p: json.loads((p / "claims.json").read_text(encoding="utf-8")) for p in parts if (p / "claims.json").is_file()
    }
    if docs:
        merged = dict(next(iter(docs.values())))
        claims = [c for p, d in docs.items() for c in rebase(d.get("claims", []), p, out)]
        merged["claims"] = sorted(claims, key=_where)
        (out / "claims.json").write_text(json.dumps(merged, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tables = [(p / "claims.md").read_text(encoding="utf-8") for p in parts if (p / "claims.md").is_file()]
    if tables:
        (out / "claims.md").write_text(
            "\n".join(f"<!-- guest {i} of {len(parts)} -->\n{t}" for i, t in enumerate(tables, start=1)),
            encoding="utf-8",
        )
    suites = ET.Element("testsuites")
    for p in parts:
        try:
            root = ET.parse(p / "junit.xml").getroot()
        except (OSError, ET.ParseError):
            continue
        suites.extend(root.iter("testsuite"))
    if len(suites):
        ET.ElementTree(suites).write(out / "junit.xml", encoding="utf-8", xml_declaration=True)

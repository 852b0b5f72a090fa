"""Kernel lanes: ``.venv/bin/python benchmarks/kernels.py [--reps N] [--json PATH]`` (also the
``kernels`` section of benchmarks/run.py). Run as root, from the repository.

- boot: ``pytest-macvlan kernel run uml-X --command -- true``: the guest kernel's uptime when the
  command starts (after mounting and loading the modules) and the whole run's wall time
  (process start to power-off), per UML kernel; target: command running within 3 s.
- suite: ``pytest-macvlan kernel run uml-X -- scenarios/`` alone, wall time per UML kernel, as
  a user runs it (``--guests auto``, the default: one guest per core, since a UML guest has one
  CPU; two on this machine), target 30 s; and in one guest (``--guests 1``), for comparison.
  A warm-up boot per kernel first (collection only) makes sure the kernel's feature-probe result
  is kept, as it is after any first run (a build's first boot probes: about 4 s under UML 5.10).
- matrix: ``pytest-macvlan matrix --kernels uml-5.10,uml-6.1,uml-6.12,uml-7.2,host`` (the
  scenarios), wall time on this machine; target 120 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_macvlan.runner.shards import auto_guests

REPO = Path(__file__).resolve().parent.parent
UML = ("uml-5.10", "uml-6.1", "uml-6.12", "uml-7.2")
CLI = [sys.executable, "-m", "pytest_macvlan"]


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, done


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p10": ordered[int(0.1 * (len(ordered) - 1))],
        "p90": ordered[round(0.9 * (len(ordered) - 1))],
        "n": len(ordered),
        "values": [round(v, 3) for v in values],
    }


def bench_kernels(reps: int = 3, suites: bool = True, whole: bool = True) -> dict[str, Any]:
    done = subprocess.run([*CLI, "kernel", "fetch", *UML], cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kernel fetch failed: {done.stderr[-2000:]}")
    out: dict[str, Any] = {"boot": {}, "suite": {}, "matrix": None}
    with tempfile.TemporaryDirectory(prefix="pmv-bench-kernels-", dir="/var/tmp") as tmp:
        for name in UML:
            at, wall = [], []
            for i in range(reps):
                lane = Path(tmp) / f"boot-{name}-{i}"
                took, done = timed([*CLI, "kernel", "run", name, "-q", "--out", str(lane), "--command", "--", "true"])
                if done.returncode != 0:
                    raise RuntimeError(f"{name}: {done.stderr[-2000:]}")
                at.append(json.loads((lane / "guest.json").read_text())["command_at_s"])
                wall.append(took)
            out["boot"][name] = {"command_at_s": summary(at), "wall_s": summary(wall)}
            print(f"   boot {name}: command at {statistics.median(at):.2f} s, run {statistics.median(wall):.2f} s")
        if suites:
            for name in UML:  # warm-up: a build's first boot probes its features, kept for the next
                lane = Path(tmp) / f"warm-{name}"
                argv = [*CLI, "kernel", "run", name, "-q", "--guests", "1", "--out", str(lane)]
                took, done = timed([*argv, "--", "scenarios/", "--collect-only", "-q"])
                out.setdefault("warm_up_s", {})[name] = round(took, 2)
                print(f"   warm-up {name} (collection; the feature probe if its result was not kept): {took:.1f} s")
            for guests in ("auto", "1"):
                for name in UML:
                    lane = Path(tmp) / f"suite-{name}-{guests}"
                    argv = [*CLI, "kernel", "run", name, "-q", "--guests", guests, "--out", str(lane)]
                    took, done = timed([*argv, "--", "scenarios/", "-q"])
                    result = json.loads((lane / "lane.json").read_text())
                    key = (
                        f"{name} (default: --guests auto, {auto_guests('uml')} here)"
                        if guests == "auto"
                        else f"{name} --guests 1"
                    )
                    out["suite"][key] = {
                        "wall_s": round(took, 2),
                        "exit": result["exit"],
                        "release": result["release"],
                    }
                    print(f"   suite {key}: {took:.1f} s (pytest exit {result['exit']})")
        if whole:
            kernels = ",".join((*UML, "host"))
            took, done = timed([*CLI, "matrix", "--kernels", kernels, "--out", str(Path(tmp) / "matrix")])
            out["matrix"] = {"kernels": kernels, "wall_s": round(took, 2), "exit": done.returncode}
            print(f"   matrix {kernels}: {took:.1f} s (exit {done.returncode})")
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    out = []
    for name, r in results.get("boot", {}).items():
        at, wall = r["command_at_s"], r["wall_s"]
        out.append(
            (
                f"{name}: boot to a running command",
                f"{at['median']:.2f} s ({at['p10']:.2f}-{at['p90']:.2f}); whole run {wall['median']:.2f} s",
                "<= 3 s",
                verdict(at["median"] <= 3.0),
            )
        )
    for name, r in results.get("suite", {}).items():
        one = name.endswith("--guests 1")  # for comparison: the target is for the default
        out.append(
            (
                f"{name}: scenarios suite",
                f"{r['wall_s']:.1f} s (exit {r['exit']})",
                "(one guest)" if one else "<= 30 s",
                "info" if one else verdict(r["wall_s"] <= 30 and r["exit"] == 0),
            )
        )
    m = results.get("matrix")
    if m:
        out.append(
            (
                f"matrix {m['kernels']}",
                f"{m['wall_s']:.1f} s (exit {m['exit']})",
                "<= 120 s",
                verdict(m["wall_s"] <= 120),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="boots per kernel")
    ap.add_argument("--no-suites", action="store_true")
    ap.add_argument("--no-matrix", action="store_true")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results-kernels.json")
    args = ap.parse_args(argv)
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "cpus": __import__("os").cpu_count()}
    results |= bench_kernels(args.reps, not args.no_suites, not args.no_matrix)
    table = rows(results)
    results["table"] = [dict(zip(("what", "measured", "target", "verdict"), r, strict=True)) for r in table]
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    for r in table:
        print("  ".join(r))
    return 0 if all(r[3] in ("met", "info") for r in table) else 1


if __name__ == "__main__":
    raise SystemExit(main())

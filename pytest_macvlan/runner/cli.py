"""``pytest-macvlan kernel list | fetch NAME | run NAME [-- PYTEST ARGS]`` and
``pytest-macvlan matrix [--kernels A,B] [-- PYTEST ARGS]``: registered by :func:`add_parsers`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.runner import cache, catalogue, matrix
from pytest_macvlan.runner.lanes import DEFAULT_MEMORY, DEFAULT_TIMEOUT_S, LaneOptions, LaneResult
from pytest_macvlan.runner.matrix import run_lane

PROG = "pytest-macvlan"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_STATUS = 3
DEFAULT_TESTS = "scenarios/"


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _split(args: argparse.Namespace) -> None:
    """``NAME [OPTIONS] -- PYTEST ARGS``: argparse hands everything after NAME to the remainder;
    options before ``--`` are parsed here (after the name and without ``--``, all is pytest's)."""
    rest = list(args.pytest_args)
    if "--" in rest:
        i = rest.index("--")
        before, rest = rest[:i], rest[i + 1 :]
        if before:
            args.options_parser.parse_args(before, namespace=args)
    args.pytest_args = rest


def _lane_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", default=DEFAULT_MEMORY, metavar="SIZE", help=f"guest memory (default {DEFAULT_MEMORY})")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"kill a guest still running after this long, with its children (default {DEFAULT_TIMEOUT_S:.0f})",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep console.log and kernel.log after a passing run too")
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="kernel cache (default $PYTEST_MACVLAN_KERNEL_CACHE, else $XDG_CACHE_HOME/pytest-macvlan/kernels)",
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], epilog: str = "") -> None:
    """Add ``kernel`` and ``matrix`` to the ``pytest-macvlan`` command's subcommands."""
    k = sub.add_parser("kernel", help="other kernels: list, fetch, run pytest on one", epilog=epilog)
    ksub = k.add_subparsers(dest="kernel_command", required=True, metavar="ACTION")
    p = ksub.add_parser("list", help="the kernels, and which are in the cache")
    p.add_argument("--cache", metavar="DIR", help="kernel cache directory")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_list)
    p = ksub.add_parser("fetch", help="download a kernel into the cache (apt, private lists; nothing installed)")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--cache", metavar="DIR", help="kernel cache directory")
    p.add_argument("--refresh", action="store_true", help="update the package lists and fetch again")
    p.set_defaults(func=cmd_fetch)
    p = ksub.add_parser(
        "run",
        help="boot a kernel and run pytest in it (exit status: pytest's)",
        description="Boot NAME and run `python -m pytest -p pytest_macvlan PYTEST_ARGS` in it; JUnit XML, "
        "claims and pcaps land in --out. The guest sees this machine's files read-only, except --out.",
    )
    p.add_argument("--out", metavar="DIR", help="output directory (default out/kernels/NAME)")
    p.add_argument("--command", action="store_true", help="the arguments after -- are a whole command, not pytest's")
    p.add_argument("-q", "--quiet", action="store_true", help="do not echo the guest's console")
    p.add_argument(
        "--guests",
        type=_guests,
        default="auto",
        metavar="N",
        help="split the tests over N user-mode Linux guests at once (--netlab-shard I/N), their output "
        "merged; default auto: one per core, at most 4 (a guest has one CPU)",
    )
    _lane_options(p)
    p.add_argument("name", metavar="NAME")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS")
    p.set_defaults(func=cmd_run, options_parser=_options_only(p))

    p = sub.add_parser(
        "matrix",
        help="run the tests on several kernels in parallel: one row per claim, one column per kernel",
        epilog=epilog,
    )
    p.add_argument(
        "--kernels", default=",".join(catalogue.DEFAULT_MATRIX), help="comma-separated (default: %(default)s)"
    )
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="lanes at once (default: the CPUs)")
    p.add_argument("--out", default="out/kernels", metavar="DIR", help="lanes' output (default out/kernels)")
    p.add_argument("--matrix-md", metavar="PATH", help="write the matrix as Markdown")
    p.add_argument("--matrix-json", metavar="PATH", help="write the matrix as JSON")
    p.add_argument(
        "--matrix-html",
        metavar="PATH",
        help="write the matrix as one self-contained HTML page (needs --matrix-json: its pcaps and pictures)",
    )
    p.add_argument("--readme", metavar="PATH", help="also put the Markdown matrix into PATH between its markers")
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="LANE_DIR",
        help="run nothing: merge lanes' output directories (from other jobs or machines) into the matrix",
    )
    p.add_argument(
        "--no-skip",
        default="",
        metavar="KERNELS",
        help="comma-separated kernels on which a skipped claim is a failure ('uml' for every uml-*)",
    )
    _lane_options(p)
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS", help=f"default: {DEFAULT_TESTS}")
    p.set_defaults(func=cmd_matrix, options_parser=_options_only(p))


def _guests(text: str) -> int | str:
    """``--guests``: ``auto`` or a whole number (checked against the maximum when it is used)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number of guests, not {text!r}") from None


def _resolve_guests(value: int | str, kind: str) -> int:
    from pytest_macvlan.runner.shards import auto_guests

    return auto_guests(kind) if value == "auto" else int(value)


def _options_only(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A parser of ``p``'s options alone (no positionals), for the ones given after NAME."""
    only = argparse.ArgumentParser(prog=p.prog, add_help=False)
    for action in p._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            only._add_action(action)
    return only


def _opts(args: argparse.Namespace, out: Path) -> LaneOptions:
    return LaneOptions(
        out=out,
        memory=args.memory,
        timeout_s=args.timeout,
        keep_logs=args.keep_logs,
        cache=Path(args.cache) if args.cache else None,
        say=_say,
    )


def cmd_list(args: argparse.Namespace) -> int:
    """``kernel list``: every kernel, and whether it is in the cache."""
    root = cache.cache_root(args.cache)
    rows = []
    for k in catalogue.KERNELS.values():
        have = cache.cached(k, root) if k.kind != "host" else None
        status = "running" if k.kind == "host" else (f"cached: {have.release}" if have else "not fetched")
        rows.append({"name": k.name, "kind": k.kind, "status": status, "description": k.description})
    if args.json:
        print(json.dumps({"cache": str(root), "kernels": rows}, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    swidth = max(len(r["status"]) for r in rows)
    for r in rows:
        print(f"{r['name'].ljust(width)}  {r['status'].ljust(swidth)}  {r['description']}")
    print(f"cache: {root}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """``kernel fetch NAME...``: download and unpack into the cache."""
    root = cache.cache_root(args.cache)
    status = 0
    for name in args.names:
        try:
            k = catalogue.kernel(name)
            if k.kind == "host":
                _say("host: nothing to fetch (the running kernel)")
                continue
            p = cache.fetch(k, root, refresh=args.refresh, say=_say)
            print(f"{k.name}: {p.package} {p.version}, kernel {p.release}, in {root / k.name}")
        except RunnerError as exc:
            _say(f"kernel fetch {name}: {exc}")
            status = EXIT_FAILED
    return status


def cmd_run(args: argparse.Namespace) -> int:
    """``kernel run NAME [-- PYTEST ARGS]``: one lane; the exit status is pytest's."""
    _split(args)
    try:
        k = catalogue.kernel(args.name)
        out = Path(args.out or f"out/kernels/{k.name}")
        opts = _opts(args, out)
        opts.echo = None if args.quiet else sys.stdout
        if args.command:
            if not args.pytest_args:
                raise RunnerError("--command needs the command after --")
            if k.kind == "uml":
                from pytest_macvlan.runner.uml import run_uml

                result = run_uml(k, [], opts, command=args.pytest_args)
            elif k.kind == "vng":
                from pytest_macvlan.runner.vng import run_vng

                result = run_vng(k, [], opts, command=args.pytest_args)
            else:
                raise RunnerError("--command runs in a guest: name a uml-* or debian-* kernel")
        elif (guests := _resolve_guests(args.guests, k.kind)) != 1:
            from pytest_macvlan.runner.shards import run_guests

            result = run_guests(k, args.pytest_args, opts, guests)
        else:
            result = run_lane(k, args.pytest_args, opts)
    except RunnerError as exc:
        _say(f"kernel run {args.name}: {exc}")
        return EXIT_USAGE
    _say(
        f"{result.name}: kernel {result.release}, exit {result.exit}, {result.duration_s:.1f} s; output in {result.out}"
        + (f"; {result.problem}" if result.problem else "")
    )
    return result.exit


def load_lane(out: Path) -> LaneResult:
    """A lane's result from its output directory (its lane.json), for ``--merge``."""
    try:
        data = json.loads((out / "lane.json").read_text())
        data["out"] = str(out.resolve())
        return LaneResult(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise RunnerError(f"--merge {out}: not a lane's output directory (no readable lane.json: {exc})") from None


def cmd_matrix(args: argparse.Namespace) -> int:
    """``matrix``: lanes in parallel (or ``--merge``d), one row per claim, one column per kernel."""
    t0 = time.monotonic()
    _split(args)
    try:
        if args.merge:
            lanes = [load_lane(Path(d)) for d in args.merge]
            kernels = [catalogue.kernel(lane.name) for lane in lanes]
        else:
            kernels = catalogue.parse_names(args.kernels)
        if args.jobs < 1:
            raise RunnerError("--jobs must be at least 1")
        tests = list(args.pytest_args)
        if not tests and not args.merge:
            if not Path(DEFAULT_TESTS).is_dir():
                raise RunnerError(f"no {DEFAULT_TESTS} here: give the tests to run after --")
            tests = [DEFAULT_TESTS]
        strict = [n.strip() for n in args.no_skip.split(",") if n.strip()]
        strict_names = {k.name for k in kernels if k.name in strict or (k.kind == "uml" and "uml" in strict)}
        unknown = [n for n in strict if n != "uml" and n not in catalogue.KERNELS]
        if unknown:
            raise RunnerError(f"--no-skip: no kernel named {', '.join(unknown)}")
        out_root = Path(args.out).resolve()
        if not args.merge:
            lanes = matrix.run(kernels, tests, out_root, jobs=args.jobs, base=_opts(args, out_root), say=_say)
        js = Path(args.matrix_json) if args.matrix_json else None
        if args.matrix_html and js is None:
            raise RunnerError("--matrix-html needs --matrix-json (the page links the files next to it)")
        md = Path(args.matrix_md) if args.matrix_md else None
        target = (js.parent if js else out_root).resolve()
        data = matrix.merge(lanes, target)
    except RunnerError as exc:
        _say(f"matrix: {exc}")
        return EXIT_USAGE
    command = f"{PROG} matrix --kernels {','.join(k.name for k in kernels)}" + (
        f" -- {shlex.join(tests)}" if args.pytest_args else ""
    )
    matrix.write(data, md, js, command)
    if args.matrix_html and js is not None:
        from pytest_macvlan.report.html import write_matrix_html

        page = write_matrix_html(js, args.matrix_html)
        _say(f"matrix: page written to {page}")
    if args.readme:
        try:
            matrix.update_readme(Path(args.readme), matrix.markdown(data, command))
        except (OSError, RunnerError) as exc:
            _say(f"matrix: --readme: {exc}")
            return EXIT_USAGE
    for line in matrix.text_table(data, max(shutil.get_terminal_size().columns, 120)):
        print(line)
    fails = matrix.failures(data)
    skipped = matrix.skips(data, sorted(strict_names))
    broken = [f"{k['name']}: pytest exit {k['exit']}" for k in data["kernels"] if k["exit"] not in (0, 5)]
    varies = sum(bool(r["varies"]) for r in data["claims"])
    print(
        f"{len(data['claims'])} claims x {len(kernels)} kernels in {matrix.elapsed(t0)} s: "
        f"{len(fails)} FAILS, {varies} rows vary across kernels"
        + (f"; {len(skipped)} skipped where --no-skip forbids it" if skipped else "")
    )
    for line in fails + [f"skipped (--no-skip): {s}" for s in skipped] + broken:
        print(f"  {line}")
    for path in (md, js):
        if path:
            print(f"written: {path}")
    if not data["claims"]:
        _say("matrix: no lane reported any claim")
        return EXIT_FAILED
    return EXIT_FAILED if fails or skipped or broken else 0

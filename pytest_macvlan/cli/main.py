"""The command line: ``python -m pytest_macvlan`` (or ``pytest-macvlan``). No pytest here.

- ``show SPEC [--svg PATH]``: validate a spec and print its diagram (and write it as SVG),
  without building anything;
- ``up SPEC``: build a spec and keep it (namespaces named ``pmv-...`` in ``/run/netns``),
  to explore by hand with ``ip netns exec``;
- ``list``: the kept topologies (made by ``up`` or by ``pytest --keep-topology``);
- ``down NAME...`` / ``down --all``: remove kept topologies (only this package's).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pytest_macvlan.errors import BuildError, SpecError
from pytest_macvlan.kernel import privileges, rootless
from pytest_macvlan.spec.names import netns_name_problem
from pytest_macvlan.topology import keep

EXIT_OK = 0
EXIT_FAILED = 1  # the kernel refused a build, a removal failed
EXIT_USAGE = 2  # bad arguments or a bad spec (argparse's code for usage errors, too)
EXIT_UNKNOWN = 3  # a name that is not a kept topology
EXIT_PRIVILEGES = 4  # needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW)

PROG = "pytest-macvlan"
EPILOG = (
    "exit status: 0 ok, 1 the kernel refused or a removal failed, 2 usage or bad spec, "
    "3 unknown name, 4 missing privileges"
)


def _err(command: str, message: str) -> None:
    print(f"{PROG} {command}: {message}", file=sys.stderr)


def _python() -> str:
    return sys.executable or "python3"


def _missing(command: str, needed: Sequence[str]) -> bool:
    missing = [c for c in privileges.missing_caps() if c in needed]
    if missing:
        _err(command, rootless.describe_missing(missing))
    return bool(missing)


# -- show ----------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    """``show SPEC``: validate a spec and print its picture (``--svg PATH`` writes an SVG too)."""
    from pytest_macvlan.spec.parse import load_spec
    from pytest_macvlan.topology.diagram import render

    try:
        spec = load_spec(Path(args.spec))
        if args.svg is not None:
            from pytest_macvlan.report.svg import SvgError, write_svg

            try:
                write_svg(spec, args.svg)
            except (SvgError, OSError) as exc:
                _err("show", f"--svg {args.svg}: {exc}")
                return EXIT_FAILED
    except SpecError as exc:
        _err("show", str(exc))
        return EXIT_USAGE
    if spec.description.strip():
        print(spec.description.strip())
    print(render(spec))
    if args.svg is not None:
        print(f"picture written to {args.svg}")
    return EXIT_OK


# -- up ------------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    """``up SPEC``: build a spec and keep it, under names in ``/run/netns``, for a human."""
    from pytest_macvlan.spec.parse import load_spec
    from pytest_macvlan.topology.lab import NetLab

    if args.name is not None:
        problem = netns_name_problem(args.name)
        if problem:
            _err("up", f"--name: {problem}")
            return EXIT_USAGE
    try:
        spec = load_spec(Path(args.spec).resolve())
    except SpecError as exc:
        _err("up", str(exc))
        return EXIT_USAGE
    if _missing("up", list(privileges.CAPS)):
        return EXIT_PRIVILEGES
    run = args.name if args.name is not None else keep.new_run_id()
    kept_id = f"{keep.PREFIX}{run}" if args.name is not None else f"{keep.PREFIX}{run}-1"
    if keep.state_path(kept_id).exists():
        _err("up", f"{kept_id} is kept already (`{PROG} list`; `{PROG} down {kept_id}` removes it)")
        return EXIT_FAILED
    with NetLab() as lab:
        try:
            topo = lab.build(spec)
        except BuildError as exc:  # KernelFeatureError included; everything built was undone
            _err("up", str(exc))
            return EXIT_FAILED
        try:
            record = keep.keep(topo, kept_id, run=run, made_by="up", outcome="up")
        except (OSError, ValueError) as exc:
            _err("up", f"could not keep the topology: {exc}")
            return EXIT_FAILED
    # Leaving the lab released this process's descriptors: only the names hold the namespaces now.
    print(record.diagram)
    print(keep.describe(record, _python()))
    return EXIT_OK


# -- list ----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """``list``: the kept topologies, who made them and how to enter each namespace."""
    records, problems = keep.load_all()
    stray = keep.orphans(records)
    for problem in problems:
        _err("list", problem)
    if args.json:
        out = [
            {**asdict(k), "alive": {n: keep.is_alive(n) for n in k.namespaces.values()}, "when": k.when}
            for k in records
        ]
        print(json.dumps({"kept": out, "orphans": stray}, indent=2))
        return EXIT_OK
    if not records and not stray:
        print("no kept topologies")
        return EXIT_OK
    for k in records:
        print(keep.describe(k, _python()))
        gone = [n for n in k.namespaces.values() if not keep.is_alive(n)]
        if gone:
            print(f"  !! gone from /run/netns (removed by other means?): {', '.join(gone)}")
        links = ", ".join(
            f"{link.ref} {link.kind}{' ' + link.mode if link.mode else ''}"
            + (f" {' '.join(link.addrs)}" if link.addrs else "")
            for link in k.links
        )
        print(f"  links: {links or 'none'}")
        if args.verbose and k.diagram:
            print("\n".join("  " + line for line in k.diagram.splitlines()))
    if stray:
        print(f"names in /run/netns without a state file (`{PROG} down --all` removes them): {', '.join(stray)}")
    return EXIT_OK


# -- down ----------------------------------------------------------------------------------


def cmd_down(args: argparse.Namespace) -> int:
    """``down ID... | --all``: remove kept topologies (only this package's)."""
    if not args.all and not args.names:
        _err("down", "name the kept topologies to remove (an id, a namespace name or a run id), or --all")
        return EXIT_USAGE
    if _missing("down", ["CAP_SYS_ADMIN"]):
        return EXIT_PRIVILEGES
    records, problems = keep.load_all()
    for problem in problems:
        _err("down", problem)
    stray = keep.orphans(records)
    unknown: list[str] = []
    if args.all:
        chosen, stray_chosen = records, stray
    else:
        chosen, unknown = keep.select(records, args.names)
        stray_chosen = [n for n in unknown if n in stray]
        unknown = [n for n in unknown if n not in stray]
    status = EXIT_OK
    for name in unknown:
        _err("down", f"no kept topology named {name!r} (`{PROG} list` shows them)")
        status = EXIT_UNKNOWN
    for k in chosen:
        failures = keep.remove(k)
        for failure in failures:
            _err("down", f"{k.id}: {failure}")
        if failures:
            status = EXIT_FAILED
        else:
            print(f"removed {k.id} ({', '.join(k.namespaces.values()) or 'no namespaces'})")
    for name in stray_chosen:
        failures = keep.remove_orphan(name)
        for failure in failures:
            _err("down", failure)
        if failures:
            status = EXIT_FAILED
        else:
            print(f"removed {name} (had no state file)")
    if args.all and not chosen and not stray_chosen:
        print("no kept topologies")
    return status


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build, keep, list and remove pytest-macvlan topologies by hand.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("show", help="validate a spec and print its diagram (builds nothing)", epilog=EPILOG)
    p.add_argument("spec", metavar="SPEC", help="a TOML spec file")
    p.add_argument("--svg", metavar="PATH", help="also write the topology as an SVG picture (needs Graphviz)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("up", help="build a spec and keep it, to explore by hand (needs root)", epilog=EPILOG)
    p.add_argument("spec", metavar="SPEC", help="a TOML spec file")
    p.add_argument(
        "--name",
        metavar="LABEL",
        help="name it pmv-LABEL (namespaces pmv-LABEL-NETNS) instead of pmv-RUNID-1",
    )
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("list", help="show kept topologies: who made them, when, namespaces, links", epilog=EPILOG)
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="with each topology's diagram")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("down", help="remove kept topologies (needs root)", epilog=EPILOG)
    p.add_argument("names", nargs="*", metavar="NAME", help="a kept topology's id, one of its namespaces, or a run id")
    p.add_argument("--all", action="store_true", help="every kept topology (and stray pmv- names in /run/netns)")
    p.set_defaults(func=cmd_down)

    from pytest_macvlan.runner.cli import add_parsers  # kernel lanes: `kernel ...`, `matrix`

    add_parsers(sub, EPILOG)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except BrokenPipeError:  # `... | head`: the reader has gone, which is not an error
        sys.stderr.close()
        return EXIT_OK
    return status

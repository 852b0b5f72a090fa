"""Kept topologies: built namespaces that outlive the process, under names in ``/run/netns``.

A topology is kept by giving each of its namespaces a name ``pmv-<run>-<n>-<netns>``
(:mod:`pytest_macvlan.namedns` bind-mounts it, as ``ip netns`` does) and writing a small JSON
state file ``/run/pytest-macvlan/kept/pmv-<run>-<n>.json`` saying who kept it, when, from which
spec, with which namespaces and links. ``<run>`` is unique per process (time and PID), so a
later run can never take or remove a name by accident. The state file is written *before* the
names, so every ``pmv-`` name in ``/run/netns`` has a state file unless something died half-way
(``down --all`` removes such orphans too).

Used by the pytest plugin (``--keep-topology``) and by the command line (``up``, ``list``,
``down``). No pytest here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_macvlan.kernel import libc
from pytest_macvlan.kernel import mounts as namedns
from pytest_macvlan.topology.diagram import live_of, render

if TYPE_CHECKING:
    from pytest_macvlan.topology.handles import Topology

PREFIX = "pmv-"
BASE_DIR = Path("/run/pytest-macvlan")
STATE_DIR = BASE_DIR / "kept"
_DIR_RECORD = "netns-dir.json"  # in STATE_DIR's parent: what prepare_dir made in /run/netns
_issued: set[str] = set()


def new_run_id(now: float | None = None, pid: int | None = None) -> str:
    """``YYMMDD-HHMMSS-PID``: unique per run (and per xdist worker, each its own process).

    Several runs in one process (pytester's in-process runs) get ``.2``, ``.3`` ... appended.
    """
    base = f"{time.strftime('%y%m%d-%H%M%S', time.localtime(now))}-{os.getpid() if pid is None else pid}"
    run, k = base, 1
    while run in _issued:
        k += 1
        run = f"{base}.{k}"
    _issued.add(run)
    return run


@dataclass(frozen=True)
class KeptLink:
    """One link of a kept topology, as it was when kept."""

    ref: str
    kind: str
    mode: str | None
    ifindex: int
    mac: str
    addrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kept:
    """The state file of one kept topology."""

    id: str
    run: str
    made_by: str  # a test's node id, a module's, or "up"
    outcome: str  # "failed", "passed" or "up"
    created: float
    pid: int
    spec_source: str
    namespaces: dict[str, str]  # the spec's namespace name -> its name in /run/netns
    links: tuple[KeptLink, ...] = ()
    diagram: str = ""
    pcaps: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The record as the JSON of its state file."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Kept:
        """A record read back from a state file (keys a newer version added are ignored)."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in json.loads(text).items() if k in known}  # newer files may say more
        d["links"] = tuple(KeptLink(**{**link, "addrs": tuple(link.get("addrs", ()))}) for link in d.get("links", ()))
        d["pcaps"] = tuple(d.get("pcaps", ()))
        return cls(**d)

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))


def state_path(kept_id: str, state_dir: Path = STATE_DIR) -> Path:
    """Where the state file of ``kept_id`` lives."""
    return state_dir / f"{kept_id}.json"


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One lock (``flock`` on the base directory) for keeping and removing, across processes."""
    state_dir.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with libc.locked(state_dir.parent):
        yield


def keep(
    topo: Topology,
    kept_id: str,
    *,
    run: str,
    made_by: str,
    outcome: str,
    pcaps: Sequence[str] = (),
    state_dir: Path = STATE_DIR,
    netns_dir: Path = namedns.NETNS_DIR,
) -> Kept:
    """Give every namespace of ``topo`` a name in ``netns_dir`` so it outlives this process.

    ``topo`` must still be open; closing it afterwards (as teardown does) only releases this
    process's descriptors: the names keep the namespaces and their links alive. Programs
    started with ``Netns.popen`` are stopped by that teardown as usual. On failure nothing
    stays behind and the error propagates.
    """
    if not kept_id.startswith(PREFIX):
        raise ValueError(f"a kept topology's id starts with {PREFIX!r}: {kept_id!r}")
    topo.check_open()
    names = {ns.name: f"{kept_id}-{ns.name}" for ns in topo.namespaces}
    for name in names.values():
        problem = namedns.name_problem(name)
        if problem:
            raise ValueError(problem)
    record = Kept(
        id=kept_id,
        run=run,
        made_by=made_by,
        outcome=outcome,
        created=time.time(),
        pid=os.getpid(),
        spec_source=topo.spec.source,
        namespaces=names,
        links=tuple(
            KeptLink(
                link.ref,
                link.kind,
                link.mode,
                link.ifindex,
                link.mac,
                tuple(str(a) for a in (link.spec.addrs if link.declared else ())),
            )
            for link in topo.links
        ),
        diagram=render(topo.spec, live_of(topo, names)),
        pcaps=tuple(pcaps),
    )
    with _locked(state_dir):
        state_dir.mkdir(mode=0o755, exist_ok=True)
        path = state_path(kept_id, state_dir)
        with open(path, "x", encoding="utf-8") as f:  # never overwrite: ids are unique
            f.write(record.to_json())
        attached: list[str] = []
        try:
            namedns.prepare_dir(netns_dir, state_dir.parent / _DIR_RECORD)
            for ns in topo.namespaces:
                namedns.attach(ns.fd, names[ns.name], netns_dir)
                attached.append(names[ns.name])
        except BaseException:
            for name in attached:
                with contextlib.suppress(OSError):
                    namedns.detach(name, netns_dir)
            path.unlink(missing_ok=True)
            _release(state_dir, netns_dir)
            raise
    return record


def load_all(state_dir: Path = STATE_DIR) -> tuple[list[Kept], list[str]]:
    """Every kept topology (oldest first), and a problem per unreadable state file."""
    kept: list[Kept] = []
    problems: list[str] = []
    for path in sorted(state_dir.glob(f"{PREFIX}*.json")) if state_dir.is_dir() else []:
        try:
            kept.append(Kept.from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"{path}: unreadable state file ({exc})")
    kept.sort(key=lambda k: (k.created, k.id))
    return kept, problems


def orphans(kept: Iterable[Kept], netns_dir: Path = namedns.NETNS_DIR) -> list[str]:
    """``pmv-`` names in ``netns_dir`` that no state file accounts for."""
    known = {name for k in kept for name in k.namespaces.values()}
    return [n for n in namedns.names(netns_dir) if n.startswith(PREFIX) and n not in known]


def select(kept: Sequence[Kept], wanted: Iterable[str]) -> tuple[list[Kept], list[str]]:
    """The kept topologies named by ``wanted`` (an id, one of its namespace names, or a run id),
    and the names that match nothing."""
    chosen: list[Kept] = []
    unknown: list[str] = []
    for name in wanted:
        hits = [k for k in kept if name in (k.id, k.run) or name in k.namespaces.values()]
        if not hits:
            unknown.append(name)
        chosen.extend(k for k in hits if k not in chosen)
    return chosen, unknown


def remove(kept: Kept, state_dir: Path = STATE_DIR, netns_dir: Path = namedns.NETNS_DIR) -> list[str]:
    """Remove a kept topology: unmount and unlink its names (``ip netns del``), then its state file.

    The kernel destroys each namespace, with its links, once nothing holds it. Returns problems
    (the rest is still removed).
    """
    problems: list[str] = []
    with _locked(state_dir):
        for name in kept.namespaces.values():
            problems += _detach(name, netns_dir)
        if not problems:
            state_path(kept.id, state_dir).unlink(missing_ok=True)
        _release(state_dir, netns_dir)
    return problems


def remove_orphan(name: str, state_dir: Path = STATE_DIR, netns_dir: Path = namedns.NETNS_DIR) -> list[str]:
    """Remove a name under ``/run/netns`` that has our prefix but no state file; returns the problems met."""
    with _locked(state_dir):
        problems = _detach(name, netns_dir)
        _release(state_dir, netns_dir)
    return problems


def _detach(name: str, netns_dir: Path) -> list[str]:
    if not name.startswith(PREFIX):  # never touch a name this package did not make
        return [f"{name}: not a pytest-macvlan name, left alone"]
    try:
        namedns.detach(name, netns_dir)
    except OSError as exc:
        return [f"{netns_dir / name}: {exc.strerror or exc}"]
    return []


def _release(state_dir: Path, netns_dir: Path) -> None:
    """When no topology is kept any more, take away the state directory and what this package
    made in ``/run/netns`` (the directory, its self bind mount), if nobody else uses them."""
    if state_dir.is_dir() and not any(state_dir.iterdir()):
        state_dir.rmdir()
    if state_dir.is_dir():
        return
    with contextlib.suppress(OSError):
        namedns.release_dir(netns_dir, state_dir.parent / _DIR_RECORD)


def is_alive(name: str, netns_dir: Path = namedns.NETNS_DIR) -> bool:
    """Is ``name`` still bound to a namespace in ``netns_dir``?"""
    return namedns.is_mount_point(netns_dir / name)


def down_command(kept_id: str, python: str) -> str:
    """The command that removes ``kept_id``, quoted for a shell."""
    return f"{shlex.quote(python)} -m pytest_macvlan down {kept_id}"


def describe(kept: Kept, python: str, netns_dir: Path = namedns.NETNS_DIR) -> str:
    """What a user needs to explore a kept topology: its namespaces, how to enter each, how to remove it."""
    by = "`up`" if kept.made_by == "up" else f"{kept.made_by} ({kept.outcome})"
    lines = [f"{kept.id}: made by {by} at {kept.when}, spec {kept.spec_source}"]
    links_of: dict[str, list[str]] = {}
    for link in kept.links:
        ns, _, name = link.ref.partition("/")
        links_of.setdefault(ns, []).append(name)
    for ns, name in kept.namespaces.items():
        lines.append(f"  netns {ns}: {name}  (links: {', '.join(links_of.get(ns, [])) or 'none'})")
        lines.append(f"    ip netns exec {name} bash")
        lines.append(f"    nsenter --net={netns_dir / name} bash")
    for pcap in kept.pcaps:
        lines.append(f"  pcap: {pcap}")
    lines.append(f"  remove it: {down_command(kept.id, python)}")
    return "\n".join(lines)

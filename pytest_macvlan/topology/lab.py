"""A lab: builds topologies from specs and tears all of them down at once. No pytest here."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from pytest_macvlan.spec.model import TopologySpec
from pytest_macvlan.spec.parse import SpecSource, load_spec
from pytest_macvlan.topology.builder import build_spec
from pytest_macvlan.topology.handles import Topology
from pytest_macvlan.topology.undo import UndoFailure


def build(spec: TopologySpec) -> Topology:
    """Build ``spec``; the returned topology is ready (links up, carrier on, addresses set).

    Nothing is left behind on failure: what the builder made is undone before it raises.
    """
    built = build_spec(spec)
    try:
        return Topology(spec, built)
    except BaseException:
        built.undo.unwind()
        raise


class NetLab:
    """``lab.build(spec)`` returns a built :class:`Topology`; ``lab.close()`` tears down every one."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base
        self.topologies: list[Topology] = []

    def load(self, spec: SpecSource | TopologySpec) -> TopologySpec:
        """``spec`` validated (paths relative to the lab's base directory)."""
        return spec if isinstance(spec, TopologySpec) else load_spec(spec, base=self.base)

    def build(self, spec: SpecSource | TopologySpec) -> Topology:
        """Build ``spec`` (a TOML path, TOML text, a dict, or a parsed spec)."""
        topo = build(self.load(spec))
        self.topologies.append(topo)
        return topo

    def summary(self) -> str:
        """The frames of every capture of every topology, tcpdump-style."""
        return "\n".join(t.summary() for t in self.topologies if t.captures)

    def close(self) -> list[UndoFailure]:
        """Tear down every topology, newest first; returns the undo steps that failed."""
        failures: list[UndoFailure] = []
        while self.topologies:
            failures += self.topologies.pop().close()
        return failures

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

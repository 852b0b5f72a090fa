"""The handle on a built topology: :class:`Topology` (its namespaces are :class:`~.namespace.Netns`,
their links :class:`~.links.Link`; both re-exported here).

Nothing here imports pytest or scapy. A topology is torn down by :meth:`Topology.close`
(one LIFO undo stack); after that every handle raises :class:`ClosedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType

from pytest_macvlan.capture.sniffer import DEFAULT_RCVBUF, Capture
from pytest_macvlan.errors import ClosedError
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.kernel.records import (
    NeighbourTable,
)
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, IFF_UP
from pytest_macvlan.spec.fragment import merge
from pytest_macvlan.spec.model import LinkRef, TopologySpec
from pytest_macvlan.spec.parse import SpecSource, read_document
from pytest_macvlan.topology.builder import Built, extend
from pytest_macvlan.topology.links import Link
from pytest_macvlan.topology.membership import Membership
from pytest_macvlan.topology.namespace import Netns
from pytest_macvlan.topology.undo import UndoFailure


class Topology:
    """A built topology. ``topo["ns1"]`` is a :class:`Netns`; ``topo.link("ns1/macvl1")`` a :class:`Link`.

    It owns what the builder handed over (:class:`~.builder.Built`): the undo stack, the
    namespaces' descriptors and sockets. :meth:`apply` adds to it at run time.
    """

    def __init__(self, spec: TopologySpec, built: Built) -> None:
        self.spec = spec
        self.undo = built.undo
        self._netns: dict[str, Netns] = {}
        self.captures: list[Capture] = []
        self.programs = proc.Programs(f"topology from {spec.source}", self.undo.push)
        self.closed = False
        self.teardown_failures: list[UndoFailure] = []
        self._adopt(built)

    def _adopt(self, built: Built) -> None:
        for name, (fd, rtnl) in built.namespaces.items():
            self._netns[name] = Netns(self, name, fd, rtnl)
        for ref, info in built.links.items():
            ns = self._netns[ref.netns]
            ns.adopt(Link(ns, ref.name, info.index, self.spec.link(ref)))

    # -- run-time changes ------------------------------------------------------------------

    def apply(self, fragment: SpecSource) -> None:
        """Add what ``fragment`` declares to the live topology, in the spec's own vocabulary.

        ``fragment`` is TOML text, a TOML path or a dict, shaped like a spec: new namespaces,
        new links (stacked on links that exist, if need be), addresses of existing links, and a
        namespace's routes, neighbour entries, sysctls and firewall rules. It is validated
        together with the topology's spec before anything changes (a
        :class:`~pytest_macvlan.errors.SpecError` names the fragment's entry); a kernel error
        undoes what the fragment had added and raises :class:`~pytest_macvlan.errors.BuildError`.
        What it adds is torn down with the topology. ::

            topo.apply('''
            [netns.ns5.link.macvl5]
            type = "macvlan"
            link = "host/veth2.11"
            addr = ["192.168.9.5/24"]
            ''')
        """
        self.check_open()
        data, source = read_document(fragment)
        merged, delta = merge(self.spec, data, source)
        namespaces = {name: (ns.fd, ns.rtnl) for name, ns in self._netns.items()}
        existing = {LinkRef(name, info.name): info for name, ns in self._netns.items() for info in ns.rtnl.dump_links()}
        built = extend(merged, delta, namespaces, existing)
        self.spec = merged
        self.undo.adopt(built.undo)
        self._adopt(built)

    # -- lookup ----------------------------------------------------------------------------

    def check_open(self) -> None:
        """Raise ClosedError if the topology has been torn down."""
        if self.closed:
            raise ClosedError(f"topology from {self.spec.source} has been torn down")

    def netns(self, name: str) -> Netns:
        """The namespace ``name`` (``topo[name]`` says the same)."""
        self.check_open()
        try:
            return self._netns[name]
        except KeyError:
            raise KeyError(f"no namespace {name!r} in {self.spec.source} (have: {', '.join(self._netns)})") from None

    __getitem__ = netns

    def link(self, ref: str) -> Link:
        """``"ns1/macvl1"``: the link ``macvl1`` in namespace ``ns1``, however it was made (by the
        spec, :meth:`apply`, or a program under test): see :meth:`Netns.link`."""
        self.check_open()
        ns, sep, name = ref.partition("/")
        if not sep:
            raise ValueError(f"link reference {ref!r} must be 'netns/name'")
        if ns not in self._netns:
            have = ", ".join(self._netns)
            raise KeyError(f"no link {ref!r}: no namespace {ns!r} in {self.spec.source} (have: {have})")
        return self._netns[ns].link(name)

    @property
    def namespaces(self) -> list[Netns]:
        """The namespaces, in the spec's order."""
        return list(self._netns.values())

    @property
    def links(self) -> list[Link]:
        """The handles given out so far (every declared link, and those looked up since)."""
        return [link for ns in self._netns.values() for link in ns.known_links]

    def on_teardown(self, what: str, fn: Callable[[], object]) -> None:
        """Undo ``fn`` (LIFO) when the topology is torn down."""
        self.undo.push(what, fn)

    def __iter__(self) -> Iterator[Netns]:
        return iter(self.namespaces)

    @property
    def supervisor(self) -> proc.Supervisor:
        """The PID namespace of this topology's programs (made on first use; see :mod:`.supervisor`)."""
        return self.programs.supervisor

    @property
    def processes(self) -> list[proc.Process]:
        """The programs started with :meth:`Netns.spawn`, in order."""
        return self.programs.processes

    # -- captures --------------------------------------------------------------------------

    def sniff(self, *refs: str, rcvbuf: int = DEFAULT_RCVBUF) -> list[Capture]:
        """Start a capture on each of ``refs`` (``"ns/link"``); all are ready when this returns."""
        return [self.link(r).sniff(rcvbuf=rcvbuf) for r in refs]

    def summary(self) -> str:
        """The frames of every capture of this topology, one tcpdump-style line each."""
        return "\n".join(f"== {c.label}\n{c.summary()}" for c in self.captures)

    # -- life cycle ------------------------------------------------------------------------

    def close(self) -> list[UndoFailure]:
        """Tear everything down (LIFO). Returns the undo steps that failed (they are also logged)."""
        if self.closed:
            return []
        self.closed = True
        self.teardown_failures = self.undo.unwind()
        return self.teardown_failures

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._netns)} netns, {len(self.links)} links"
        return f"<Topology {self.spec.source}: {state}>"


__all__ = ["IFF_LOWER_UP", "IFF_UP", "Link", "Membership", "NeighbourTable", "Netns", "Topology"]

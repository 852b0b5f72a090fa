"""Handles on a built topology: :class:`Topology` and :class:`Netns` (:class:`Link` is in
:mod:`.links`, re-exported here).

Nothing here imports pytest or scapy. A topology is torn down by :meth:`Topology.close`
(one LIFO undo stack); after that every handle raises :class:`ClosedError`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from ipaddress import ip_address, ip_network
from types import TracebackType

from pytest_macvlan.capture.sniffer import DEFAULT_RCVBUF, Capture
from pytest_macvlan.errors import ChangeError, ClosedError
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.kernel import ping as pingmod
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.kernel import queries
from pytest_macvlan.kernel.changes import FDB_STATES, fdb_entry, route
from pytest_macvlan.kernel.messages import add_neigh
from pytest_macvlan.kernel.records import (
    Address,
    BridgeVlan,
    FdbEntry,
    LinkState,
    MdbEntry,
    NeighbourTable,
    Route,
)
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, IFF_UP, Request, RtnlSocket
from pytest_macvlan.spec.fragment import merge
from pytest_macvlan.spec.model import LinkRef, RouteSpec, TopologySpec
from pytest_macvlan.spec.parse import SpecSource, read_document
from pytest_macvlan.topology.builder import Built, extend
from pytest_macvlan.topology.links import Link
from pytest_macvlan.topology.membership import Membership
from pytest_macvlan.topology.undo import UndoFailure
from pytest_macvlan.wait import wait_until


class Topology:
    """A built topology. ``topo["ns1"]`` is a :class:`Netns`; ``topo.link("ns1/macvl1")`` a :class:`Link`.

    It owns what the builder handed over (:class:`~.builder.Built`): the undo stack, the
    namespaces' descriptors and sockets. :meth:`apply` adds to it at run time.
    """

    def __init__(self, spec: TopologySpec, built: Built) -> None:
        self.spec = spec
        self.undo = built.undo
        self._netns: dict[str, Netns] = {}
        self._links: dict[LinkRef, Link] = {}
        self.captures: list[Capture] = []
        self.programs = proc.Programs(f"topology from {spec.source}", self.undo.push)
        self.closed = False
        self.teardown_failures: list[UndoFailure] = []
        self._adopt(built)

    def _adopt(self, built: Built) -> None:
        for name, (fd, rtnl) in built.namespaces.items():
            self._netns[name] = Netns(self, name, fd, rtnl)
        for ref, info in built.links.items():
            self._links[ref] = Link(self._netns[ref.netns], ref.name, info.index, self.spec.link(ref))

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
        if self.closed:
            raise ClosedError(f"topology from {self.spec.source} has been torn down")

    def netns(self, name: str) -> Netns:
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
        return list(self._netns.values())

    @property
    def links(self) -> list[Link]:
        return list(self._links.values())

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
        state = "closed" if self.closed else f"{len(self._netns)} netns, {len(self._links)} links"
        return f"<Topology {self.spec.source}: {state}>"


class Netns:
    """A network namespace of a topology, held by a file descriptor (it has no name in /run/netns)."""

    def __init__(self, topo: Topology, name: str, fd: int, rtnl: RtnlSocket) -> None:
        self.topology = topo
        self.name = name
        self.fd = fd
        self.rtnl = rtnl
        self.inode = rtnl.ns_ino

    def _open(self) -> None:
        self.topology.check_open()

    @property
    def path(self) -> str:
        """``/proc/PID/fd/N``: the test process's descriptor of this namespace, a path that
        ``nsenter --net=PATH``, ``ip link set DEV netns PATH`` and CNI's ``CNI_NETNS`` accept."""
        self._open()
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    # -- what a Link needs of its namespace (links.Host) --------------------------------------

    def check_open(self) -> None:
        """Raise :class:`ClosedError` once the topology is torn down."""
        self.topology.check_open()

    def sibling(self, name: str) -> Netns:
        """Another namespace of the same topology."""
        return self.topology.netns(name)

    def moved(self, link: Link, old: str) -> None:
        """``link``, known as ``old/NAME`` until now, is in this namespace now (``old`` empty: deleted)."""
        links = self.topology._links
        links.pop(LinkRef(old or self.name, link.name), None)
        if old:
            links[LinkRef(self.name, link.name)] = link

    def on_teardown(self, what: str, fn: Callable[[], object]) -> None:
        """Undo ``fn`` (LIFO) when the topology is torn down."""
        self.topology.undo.push(what, fn)

    def keep_capture(self, cap: Capture) -> None:
        """Keep ``cap`` with the topology's captures (a failing test's report shows them)."""
        self.topology.captures.append(cap)

    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout: float = 10.0,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a program inside (no shell) and wait: ``ns.run("ip", "-br", "link")``. ``input``: its
        stdin; ``env``: added to the test's environment (None removes); killed at ``timeout``."""
        self._open()
        if not argv:
            raise ValueError("run() needs a program to run")
        sup = self.topology.supervisor
        return proc.run(sup, self.fd, argv, check=check, timeout=timeout, input=input, env=proc.environment(env))

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        """Start a program inside (stdout/stderr are pipes); it, and everything it starts, ends
        when the topology is torn down. :meth:`spawn` is the friendlier way."""
        self._open()
        if not argv:
            raise ValueError("popen() needs a program to run")
        p: subprocess.Popen[str] = self.topology.supervisor.popen(self.fd, argv)
        return p

    def spawn(
        self,
        *argv: str,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> proc.Process:
        """Start a program under test (no shell): a :class:`~pytest_macvlan.kernel.processes.Process`
        (``wait_for_output``, ``wait_for_listen``, ``wait_for_link``, ``returncode``, ``stdout``).
        It and all it forks or daemonizes end with the topology, or when the test process dies."""
        self._open()
        if not argv:
            raise ValueError("spawn() needs a program to run")
        label = f"{self.name}: {' '.join(argv)[:80]}"
        p = proc.spawn(self.topology.supervisor, self.fd, argv, label, env=proc.environment(env), cwd=cwd)
        self.topology.processes.append(p)
        return p

    def ping(
        self,
        dst: str,
        count: int = 1,
        timeout: float = 1.0,
        interval: float = 0.2,
        *,
        interface: str | None = None,
        broadcast: bool = False,
        size: int | None = None,
        deadline: float | None = None,
    ) -> proc.PingResult:
        """``ping -c COUNT -W TIMEOUT [-I IFACE] [-b] [-s SIZE] [-w DEADLINE] DST`` inside (IPv4 or
        IPv6 ``dst``); never raises on failure: look at the result (``received``/``transmitted``)."""
        self._open()
        argv, limit = pingmod.command(dst, count, timeout, interval, interface, broadcast, size, deadline)
        done = proc.run(self.topology.supervisor, self.fd, argv, check=False, timeout=limit)
        return proc.parse_ping(dst, done.stdout + done.stderr, done.returncode)

    # -- what the kernel says now (one netlink dump each, no ``ip`` process) -----------------

    def link(self, name: str) -> Link:
        """A handle on the link ``name`` in this namespace, however it was made (by the spec, by
        :meth:`Topology.apply`, or by a program under test with ``ip link add``). Raises
        ``KeyError`` (listing the links there) when there is none; :meth:`wait_link` waits."""
        self._open()
        state = queries.get_link(self.rtnl, name=name)
        if state is None:
            have = ", ".join(f"{self.name}/{s.name}" for s in self.link_states())
            raise KeyError(f"no link '{self.name}/{name}' in namespace {self.name} (have: {have})")
        return self._handle(state)

    def _handle(self, state: LinkState) -> Link:
        ref = LinkRef(self.name, state.name)
        links = self.topology._links
        cached = links.get(ref)
        if cached is not None and cached.ifindex == state.index and cached.netns is self:
            return cached
        spec = cached._spec if cached is not None else None
        link = links[ref] = Link(self, state.name, state.index, spec)
        return link

    def wait_link(self, name: str, timeout: float = 5.0, *, up: bool = False) -> Link:
        """Wait (bounded) until a link ``name`` exists here (and is up with carrier, with ``up``),
        e.g. one a program under test creates; return its handle."""
        self._open()

        def probe() -> LinkState | None:
            return queries.get_link(self.rtnl, name=name)

        state = wait_until(
            probe,
            lambda s: s is not None and (not up or (s.is_up and s.lower_up)),
            timeout=timeout,
            what=f"{self.name}: link {name}{' up with carrier' if up else ''}",
            show=lambda s: "no such link" if s is None else f"flags=0x{s.flags:x} operstate={s.operstate}",
        )
        assert state is not None
        return self._handle(state)

    def links(self) -> list[Link]:
        """A handle on every link of this namespace (``lo`` included), as the kernel lists them now."""
        self._open()
        return [self._handle(state) for state in queries.links(self.rtnl)]

    def link_states(self) -> list[LinkState]:
        """Every link of this namespace as the kernel reports it now (one dump), decoded."""
        self._open()
        return queries.links(self.rtnl)

    link_infos = link_states

    def addresses(self, version: int | None = None, dev: str | None = None) -> list[Address]:
        """Every address here (IPv4 and IPv6, with DAD flags), or of one version / one link."""
        self._open()
        index = self.link(dev).ifindex if dev is not None else None
        return queries.addresses(self.rtnl, index, version)

    def routes(self, version: int | None = None, table: int | None = 254) -> list[Route]:
        """The routes of the main table (``table=None``: every table), IPv4 and IPv6."""
        self._open()
        return queries.routes(self.rtnl, version, table)

    def neighbours(self, version: int | None = None, dev: str | None = None) -> NeighbourTable:
        """The neighbour tables, IPv4 (ARP) and IPv6 (ND): a list of :class:`Neighbour` records;
        ``.get(address)`` gives the MAC an address resolves to (None if it has none)."""
        self._open()
        index = self.link(dev).ifindex if dev is not None else None
        return NeighbourTable(queries.neighbours(self.rtnl, version, index))

    def fdb(self, master: str | None = None, dev: str | None = None) -> list[FdbEntry]:
        """Bridge forwarding entries (``bridge fdb show [br MASTER] [dev DEV]``)."""
        self._open()
        m = self.link(master).ifindex if master is not None else None
        d = self.link(dev).ifindex if dev is not None else None
        return queries.fdb(self.rtnl, m, d)

    def mdb(self, bridge: str | None = None) -> list[MdbEntry]:
        """Bridge multicast groups and the ports that joined them (``bridge mdb show``)."""
        self._open()
        return queries.mdb(self.rtnl, self.link(bridge).ifindex if bridge is not None else None)

    def bridge_vlans(self) -> list[BridgeVlan]:
        """VLAN entries of every bridge and bridge port here (``bridge vlan show``)."""
        self._open()
        return queries.bridge_vlans(self.rtnl)

    def name_of(self, index: int | None) -> str | None:
        """The name of the link with this interface index here (None if none)."""
        if not index:
            return None
        state = queries.get_link(self.rtnl, index)
        return state.name if state is not None else None

    # -- changes at run time ------------------------------------------------------------------

    def change(self, requests: list[Request]) -> None:
        """Send ``requests``; a refusal raises :class:`ChangeError` with the kernel's errno and text."""
        self._open()
        failure = self.rtnl.apply(requests)
        if failure is not None:
            raise ChangeError(failure.entry, failure.errno, failure.describe(), failure.extack)

    def add_neigh(self, to: str, lladdr: str, dev: str) -> None:
        """``ip neigh replace TO lladdr LLADDR dev DEV nud permanent``."""
        link = self.link(dev)
        self.change([add_neigh(link.ifindex, ip_address(to), lladdr, f"{self.name}: neigh {to} dev {dev}")])

    def _route(self, add: bool, to: str, via: str | None, dev: str | None, metric: int | None, table: int) -> None:
        target = "0.0.0.0/0" if to == "default" and (via is None or ":" not in via) else to
        target = "::/0" if to == "default" and via is not None and ":" in via else target
        net = ip_network(target, strict=False)
        gw = ip_address(via) if via is not None else None
        if gw is not None and gw.version != net.version:
            raise ValueError(f"gateway {via} and prefix {to} are of different IP versions")
        if gw is None and dev is None:
            raise ValueError("a route needs via or dev")
        oif = self.link(dev).ifindex if dev is not None else None
        what = f"{self.name}: route {'add' if add else 'del'} {to}" + (f" via {via}" if via else "")
        what += f" dev {dev}" if dev else ""
        self.change([route(RouteSpec(what, net, gw, dev, metric), oif, add=add, table=table)])

    def add_route(
        self, to: str, via: str | None = None, dev: str | None = None, metric: int | None = None, table: int = 254
    ) -> None:
        """``ip route add TO [via VIA] [dev DEV] [metric M] [table T]`` (``to="default"`` works)."""
        self._route(True, to, via, dev, metric, table)

    def del_route(
        self, to: str, via: str | None = None, dev: str | None = None, metric: int | None = None, table: int = 254
    ) -> None:
        """``ip route del ...``."""
        self._route(False, to, via, dev, metric, table)

    def add_fdb(
        self,
        lladdr: str,
        dev: str,
        *,
        master: bool = True,
        state: str = "static",
        sticky: bool = False,
        vlan: int | None = None,
        dst: str | None = None,
    ) -> None:
        """``bridge fdb add LLADDR dev DEV [master|self] [static|dynamic|permanent] [sticky] [vlan V] [dst IP]``."""
        if state not in FDB_STATES:
            raise ValueError(f"unknown FDB state {state!r} (one of {', '.join(FDB_STATES)})")
        link = self.link(dev)
        what = f"{self.name}: fdb add {lladdr} dev {dev}"
        req = fdb_entry(
            link.ifindex,
            lladdr,
            what,
            master=master,
            state=state,
            sticky=sticky,
            vlan=vlan,
            dst=ip_address(dst) if dst is not None else None,
        )
        self.change([req])

    def del_fdb(self, lladdr: str, dev: str, *, master: bool = True, vlan: int | None = None) -> None:
        """``bridge fdb del LLADDR dev DEV [master|self] [vlan V]``."""
        link = self.link(dev)
        self.change(
            [
                fdb_entry(
                    link.ifindex,
                    lladdr,
                    f"{self.name}: fdb del {lladdr} dev {dev}",
                    master=master,
                    vlan=vlan,
                    add=False,
                )
            ]
        )

    def join(self, group: str, dev: str) -> Membership:
        """Join multicast ``group`` (IPv4 or IPv6) on link ``dev`` from a socket inside this
        namespace (``IP_ADD_MEMBERSHIP`` / ``IPV6_JOIN_GROUP``): the kernel sends the IGMP or MLD
        report, and a snooping bridge learns the port. Held until :meth:`Membership.leave` or
        the end of the topology."""
        self._open()
        return Membership(self, ip_address(group), self.link(dev))

    def iptables(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``iptables -w ARGS`` inside this namespace (raises with iptables' message on failure)."""
        return self.run("iptables", "-w", *args)

    def sysctl(self, key: str, value: str | int | None = None) -> str:
        """Read (or write, then read) a ``net.*`` sysctl of this namespace, in one job inside it."""
        self._open()

        def job() -> str:
            if value is not None:
                netns.write_sysctl(key, str(value))
            return netns.read_sysctl(key)

        return netns.run_in(self.fd, job)

    def __repr__(self) -> str:
        return f"<Netns {self.name} inode={self.inode}>"


__all__ = ["IFF_LOWER_UP", "IFF_UP", "Link", "Membership", "NeighbourTable", "Netns", "Topology"]

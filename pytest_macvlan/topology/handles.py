"""Handles on a built topology: :class:`Topology`, :class:`Netns` and :class:`Link`.

Nothing here imports pytest or scapy. A topology is torn down by :meth:`Topology.close`
(one LIFO undo stack); after that every handle raises :class:`ClosedError`.
"""

from __future__ import annotations

import errno
import socket
import struct
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network
from types import TracebackType
from typing import SupportsIndex, overload

from pytest_macvlan.capture.send import Sendable, frames_bytes
from pytest_macvlan.capture.sniffer import DEFAULT_RCVBUF, Capture, open_packet_socket, open_send_socket
from pytest_macvlan.errors import ChangeError, ClosedError
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.kernel import ping as pingmod
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.kernel import queries
from pytest_macvlan.kernel.messages import (
    FDB_STATES,
    add_neigh,
    address,
    bridge_port,
    bridge_vlan,
    change_link,
    delete_link,
    fdb_entry,
    route,
    set_link,
)
from pytest_macvlan.kernel.queries import Address, BridgeVlan, FdbEntry, LinkState, MdbEntry, Neighbour, Route
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, IFF_UP, Request, RtnlSocket
from pytest_macvlan.spec.fragment import merge
from pytest_macvlan.spec.model import (
    BOND_MODES,
    IPVLAN_MODES,
    MACVLAN_MODES,
    PORT_FLAGS,
    LinkRef,
    LinkSpec,
    RouteSpec,
    TopologySpec,
)
from pytest_macvlan.spec.parse import SpecSource, read_document
from pytest_macvlan.topology.builder import Built, extend
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

    def run(
        self, *argv: str, check: bool = True, timeout: float = 10.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program inside (no shell): ``ns.run("ip", "-br", "link")``."""
        self._open()
        if not argv:
            raise ValueError("run() needs a program to run")
        return proc.run(self.fd, argv, check=check, timeout=timeout, input=input)

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        """Start a program inside; it is ended (by PID) when the topology is torn down."""
        self._open()
        p = proc.popen(self.fd, argv)
        self.topology.undo.push(f"stop {argv[0]} (pid {p.pid}) in {self.name}", lambda: proc.stop(p))
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
        done = proc.run(self.fd, argv, check=False, timeout=limit)
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

    def routes(self, version: int | None = None, table: int | None = queries.RT_TABLE_MAIN) -> list[Route]:
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


class NeighbourTable(list[Neighbour]):
    """Neighbour records (IPv4 and IPv6), a list; indexed by an address it is a mapping to MACs:
    ``table["192.168.9.3"]`` (``KeyError`` if it has none), ``table.get(...)``, ``"..." in table``."""

    def get(self, dst: str, default: str | None = None) -> str | None:
        want = ip_address(dst)
        for n in self:
            if n.dst == want and n.lladdr:
                return n.lladdr
        return default

    @overload
    def __getitem__(self, key: SupportsIndex) -> Neighbour: ...
    @overload
    def __getitem__(self, key: slice) -> list[Neighbour]: ...
    @overload
    def __getitem__(self, key: str) -> str: ...
    def __getitem__(self, key: SupportsIndex | slice | str) -> Neighbour | list[Neighbour] | str:
        if isinstance(key, str):
            mac = self.get(key)
            if mac is None:
                raise KeyError(f"no neighbour entry with a MAC for {key} (have: {', '.join(str(n) for n in self)})")
            return mac
        return super().__getitem__(key)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return self.get(item) is not None
        return super().__contains__(item)


class Membership:
    """A multicast group joined from a socket inside a namespace (:meth:`Netns.join`)."""

    def __init__(self, ns: Netns, group: IPv4Address | IPv6Address, link: Link) -> None:
        self.netns = ns
        self.group = group
        self.link = link
        if not group.is_multicast:
            raise ValueError(f"{group} is not a multicast address")
        family = socket.AF_INET if group.version == 4 else socket.AF_INET6
        self._sock: socket.socket | None = netns.socket_in(ns.fd, family, socket.SOCK_DGRAM)
        try:
            if group.version == 4:  # struct ip_mreqn: group, local address (any), ifindex
                mreq = group.packed + b"\0\0\0\0" + struct.pack("=i", link.ifindex)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:  # struct ipv6_mreq: group, ifindex
                mreq = group.packed + struct.pack("=i", link.ifindex)
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        except OSError as exc:
            self._sock.close()
            raise OSError(exc.errno, f"{ns.name}: cannot join {group} on {link.name}: {exc.strerror}") from None
        ns.topology.undo.push(f"leave {group} on {link.ref}", self.leave)

    def leave(self) -> None:
        """Leave the group (closing the socket: the kernel sends the IGMP leave / MLD done)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def joined(self) -> bool:
        return self._sock is not None

    def __repr__(self) -> str:
        return f"<Membership {self.group} on {self.link.ref}{'' if self.joined else ' (left)'}>"


_UNSET: object = object()
__all__ = ["IFF_LOWER_UP", "IFF_UP", "Link", "Membership", "NeighbourTable", "Netns", "Topology"]


class Link:
    """One interface of a topology namespace: a live view, identified by its interface index.

    Every property asks the kernel (one ``RTM_GETLINK``, or ``RTM_GETADDR`` for addresses) on
    each access: after a program under test changes the MAC, the mode or the addresses, the
    handle says so. ``spec`` is the spec entry that declared it; ``declared`` is False for a link
    made some other way (by a program under test).
    """

    def __init__(self, netns: Netns, name: str, ifindex: int, spec: LinkSpec | None = None) -> None:
        self.netns = netns
        self.name = name
        self.ifindex = ifindex
        self._spec = spec
        self._tx: socket.socket | None = None

    @property
    def declared(self) -> bool:
        """Was this link declared in the spec (or a fragment)? False for one a program made."""
        return self._spec is not None

    @property
    def spec(self) -> LinkSpec:
        """The spec entry that declared this link (``LookupError`` for one made some other way)."""
        if self._spec is None:
            raise LookupError(f"link {self.ref} was not declared in the spec (a program made it?)")
        return self._spec

    @property
    def ref(self) -> str:
        return f"{self.netns.name}/{self.name}"

    # -- live state ----------------------------------------------------------------------------

    def state(self) -> LinkState:
        """This link as the kernel reports it now (decoded: mode ``"private"``, operstate ``"UP"``)."""
        self.netns._open()
        state = queries.get_link(self.netns.rtnl, self.ifindex)
        if state is None:
            raise LookupError(f"link {self.ref} no longer exists (ifindex {self.ifindex})")
        return state

    info = state

    @property
    def kind(self) -> str:
        """``veth``, ``macvlan``, ``bridge``... (``""`` for ``lo``)."""
        return self.state().kind

    @property
    def mac(self) -> str:
        return self.state().mac

    @property
    def mtu(self) -> int:
        return self.state().mtu

    @property
    def mode(self) -> str | None:
        """The kind's mode by name: macvlan ``private|vepa|bridge|passthru|source``, ipvlan
        ``l2|l3|l3s``, bond ``active-backup``...; None for kinds without one."""
        return self.state().mode

    @property
    def flags(self) -> int:
        """The interface flags (``IFF_UP``, ``IFF_PROMISC``, ``IFF_LOWER_UP``...)."""
        return self.state().flags

    @property
    def is_up(self) -> bool:
        return self.state().is_up

    @property
    def carrier(self) -> bool:
        return self.state().lower_up

    @property
    def operstate(self) -> str:
        return self.state().operstate

    @property
    def promisc(self) -> bool:
        return self.state().promisc

    @property
    def allmulticast(self) -> bool:
        return self.state().allmulticast

    @property
    def master(self) -> str | None:
        """The name of the bridge, bond or vrf this link is enslaved to (None if none)."""
        return self.netns.name_of(self.state().master)

    @property
    def port(self) -> Mapping[str, int | str]:
        """Bridge-port settings as the kernel reports them (``hairpin``, ``isolated``, ``learning``,
        ``flood``, ``mcast_flood``, ``neigh_suppress``, ``state``); empty if not a bridge port."""
        return self.state().port

    @property
    def addresses(self) -> list[Address]:
        """The link's addresses now (IPv4 and IPv6, with DAD flags: ``tentative``, ``dadfailed``)."""
        self.netns._open()
        return queries.addresses(self.netns.rtnl, self.ifindex)

    @property
    def ipv4(self) -> str | None:
        """The link's first IPv4 address now, without the prefix (None if it has none)."""
        self.netns._open()
        for a in queries.addresses(self.netns.rtnl, self.ifindex, 4):
            return str(a.address)
        return None

    @property
    def ipv6(self) -> str | None:
        """The link's first global IPv6 address now (a link-local one if it has no other), or None."""
        self.netns._open()
        found = queries.addresses(self.netns.rtnl, self.ifindex, 6)
        for a in found:
            if a.scope == "global":
                return str(a.address)
        return str(found[0].address) if found else None

    def wait_carrier(self, on: bool = True, timeout: float = 3.0) -> LinkState:
        """Wait (bounded) until the link's carrier is ``on`` (or off); return the link's state."""
        return wait_until(
            self.state,
            lambda i: bool(i.flags & IFF_LOWER_UP) == on,
            timeout=timeout,
            what=f"{self.ref}: carrier {'on' if on else 'off'}",
            show=lambda i: f"flags=0x{i.flags:x} operstate={i.operstate}",
        )

    def wait_addresses(self, timeout: float = 5.0) -> list[Address]:
        """Wait (bounded) until no address of the link is tentative (IPv6 DAD has finished);
        raise :class:`ChangeError` naming an address whose DAD failed."""
        found = wait_until(
            lambda: self.addresses,
            lambda addrs: not any(a.tentative for a in addrs),
            timeout=timeout,
            what=f"{self.ref}: duplicate address detection",
            show=lambda addrs: ", ".join(str(a) for a in addrs),
        )
        for a in found:
            if a.dadfailed:
                raise ChangeError(f"{self.ref}: addr {a.interface}", errno.EADDRINUSE, f"DAD failed: {a}")
        return found

    # -- changes at run time ---------------------------------------------------------------------

    def set(
        self,
        *,
        address: str | None = None,
        mtu: int | None = None,
        mode: str | None = None,
        master: str | Link | object | None = _UNSET,
        up: bool | None = None,
        promisc: bool | None = None,
        allmulticast: bool | None = None,
        hairpin: bool | None = None,
        **port: bool,
    ) -> None:
        """``ip link set``: MAC (``address``), ``mtu``, ``mode`` (macvlan/macvtap, ipvlan, bond),
        ``master`` (a link name here or a :class:`Link`; ``None`` detaches: ``nomaster``), ``up``,
        ``promisc``, ``allmulticast``; and bridge-port flags ``hairpin``, ``isolated``,
        ``learning``, ``flood``, ``mcast_flood``, ``neigh_suppress``. All go in one batch; a
        refusal raises :class:`~pytest_macvlan.errors.ChangeError` with the kernel's errno and text.
        """
        unknown = set(port) - set(PORT_FLAGS)
        if unknown:
            raise TypeError(f"unknown option(s) for Link.set: {', '.join(sorted(unknown))}")
        kind = None
        if mode is not None:
            kind = self.kind
            modes: Mapping[str, int] = {"ipvlan": IPVLAN_MODES, "bond": BOND_MODES}.get(kind, MACVLAN_MODES)
            if kind not in ("macvlan", "macvtap", "ipvlan", "bond"):
                raise ValueError(f"{self.ref} is a {kind or 'link'}; it has no mode")
            if mode not in modes:
                raise ValueError(f"unknown {kind} mode {mode!r} (one of {', '.join(modes)})")
        master_index: int | None = None
        if master is not _UNSET:
            if master is None or master == "":
                master_index = 0
            elif isinstance(master, Link):
                master_index = master.ifindex
            else:
                master_index = self.netns.link(str(master)).ifindex
        parts = [
            f"{k} {v}"
            for k, v in (
                ("address", address),
                ("mtu", mtu),
                ("mode", mode),
                ("master", None if master is _UNSET else master or "none"),
                ("up", up),
                ("promisc", promisc),
                ("allmulticast", allmulticast),
            )
            if v is not None
        ]
        what = f"{self.ref}: set {' '.join(parts)}".rstrip()
        requests = []
        if parts:
            requests.append(
                change_link(
                    self.ifindex,
                    what,
                    address=address,
                    mtu=mtu,
                    mode=mode,
                    kind=kind,
                    master=master_index,
                    up=up,
                    promisc=promisc,
                    allmulticast=allmulticast,
                )
            )
        flags = {k: v for k, v in {"hairpin": hairpin, **port}.items() if v is not None}
        if flags:
            names = " ".join(f"{k} {'on' if v else 'off'}" for k, v in flags.items())
            requests.append(bridge_port(self.ifindex, f"{self.ref}: bridge link set {names}", **flags))
        if requests:
            self.netns.change(requests)

    def set_up(self, up: bool = True) -> None:
        """``ip link set NAME up`` (or down)."""
        self.netns.change([set_link(self.ifindex, f"set {self.ref} {'up' if up else 'down'}", up=up)])

    def set_down(self) -> None:
        self.set_up(False)

    def set_hairpin(self, on: bool) -> None:
        """``bridge link set dev NAME hairpin on|off`` (the link must be a bridge port)."""
        self.netns.change([bridge_port(self.ifindex, f"{self.ref}: hairpin {on}", hairpin=on)])

    def add_address(self, addr: str, *, nodad: bool = False) -> None:
        """``ip addr add ADDR/PREFIX dev NAME [nodad]``."""
        iface = ip_interface(addr)
        if "/" not in addr:
            raise ValueError(f"address {addr!r} needs a prefix length (like 192.168.9.2/24)")
        self.netns.change([address(self.ifindex, iface, f"{self.ref}: addr add {addr}", nodad=nodad)])

    def del_address(self, addr: str) -> None:
        """``ip addr del ADDR/PREFIX dev NAME``."""
        iface = ip_interface(addr)
        self.netns.change([address(self.ifindex, iface, f"{self.ref}: addr del {addr}", add=False)])

    def add_vlan(self, vid: int, *, pvid: bool = False, untagged: bool = False) -> None:
        """``bridge vlan add dev NAME vid VID [pvid] [untagged]`` (``self`` when this is the bridge)."""
        own = self.kind == "bridge"
        what = f"{self.ref}: bridge vlan add vid {vid}{' pvid' if pvid else ''}{' untagged' if untagged else ''}"
        self.netns.change([bridge_vlan(self.ifindex, vid, what, pvid=pvid, untagged=untagged, own=own)])

    def del_vlan(self, vid: int) -> None:
        """``bridge vlan del dev NAME vid VID``."""
        own = self.kind == "bridge"
        self.netns.change(
            [bridge_vlan(self.ifindex, vid, f"{self.ref}: bridge vlan del vid {vid}", own=own, add=False)]
        )

    def move(self, to: Netns | str) -> Link:
        """``ip link set NAME netns NS``: into another namespace of the topology. This handle
        follows the link (its index there may differ); returns it. As with ``ip``, the kernel
        brings a moved link down and it keeps no addresses: ``set(up=True)`` it there."""
        target = to if isinstance(to, Netns) else self.netns.topology.netns(to)
        if target is self.netns:
            return self
        target._open()
        self.netns.change([change_link(self.ifindex, f"{self.ref}: set netns {target.name}", netns_fd=target.fd)])
        self._close_tx()
        links = self.netns.topology._links
        links.pop(LinkRef(self.netns.name, self.name), None)
        state = queries.get_link(target.rtnl, name=self.name)
        if state is None:
            raise LookupError(f"{self.ref} was moved to {target.name} but is not there")
        self.netns, self.ifindex = target, state.index
        links[LinkRef(target.name, self.name)] = self
        return self

    def delete(self) -> None:
        """``ip link del NAME`` (a veth's peer goes with it). The handle is unusable afterwards."""
        self.netns.change([delete_link(self.ifindex, f"{self.ref}: delete")])
        self._close_tx()
        self.netns.topology._links.pop(LinkRef(self.netns.name, self.name), None)

    # -- frames ----------------------------------------------------------------------------

    def sniff(self, rcvbuf: int = DEFAULT_RCVBUF) -> Capture:
        """A capture of every frame this link sends or receives, ready when returned."""
        self.netns._open()
        topo = self.netns.topology
        try:
            sock = open_packet_socket(self.netns.fd, self.name, rcvbuf)
        except OSError as exc:
            raise OSError(exc.errno, f"{self.ref}: cannot sniff: {exc.strerror}{_gone(exc)}") from None
        cap = Capture(self.ref, sock)
        topo.captures.append(cap)
        topo.undo.push(f"close capture on {self.ref}", cap.close)
        return cap

    def send(self, frames: Sendable | Iterable[Sendable]) -> int:
        """Send scapy packets or raw frames out of this link; returns how many were sent."""
        self.netns._open()
        if _all_raw(frames):  # nothing to fill in: no need to ask the kernel
            datas = frames_bytes(frames, "", None, self.ref)
        else:  # sources come from the link as it is now (a program may have changed its MAC)
            datas = frames_bytes(frames, self.mac, self.ipv4, self.ref)
        if self._tx is None:
            try:
                self._tx = open_send_socket(self.netns.fd, self.name)
            except OSError as exc:
                raise OSError(exc.errno, f"{self.ref}: cannot send: {exc.strerror}{_gone(exc)}") from None
            self.netns.topology.undo.push(f"close send socket on {self.ref}", self._close_tx)
        send = self._tx.send
        try:
            for data in datas:
                send(data)
        except OSError as exc:
            raise OSError(exc.errno, f"{self.ref}: send failed: {exc.strerror}{_gone(exc)}") from None
        return len(datas)

    def _close_tx(self) -> None:
        if self._tx is not None:
            self._tx.close()
            self._tx = None

    def __repr__(self) -> str:
        try:
            st = self.state()
        except (LookupError, ClosedError):
            return f"<Link {self.ref} ifindex={self.ifindex} (gone)>"
        return f"<Link {self.ref} {st.kind}{' ' + st.mode if st.mode else ''} ifindex={self.ifindex} {st.mac}>"


_RAW = (bytes, bytearray, memoryview)


def _all_raw(frames: object) -> bool:
    return isinstance(frames, _RAW) or (isinstance(frames, (list, tuple)) and all(isinstance(f, _RAW) for f in frames))


def _gone(exc: OSError) -> str:
    return " (the link no longer exists)" if exc.errno in (errno.ENODEV, errno.ENXIO) else ""

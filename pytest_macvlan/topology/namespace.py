"""The handle on one network namespace of a topology: :class:`Netns`.

It runs programs inside (under the topology's supervisor), reads what the kernel says now
(links, addresses, routes, neighbours, FDB, MDB: one netlink dump each), changes routes and FDB
entries, and owns the :class:`~.links.Link` handles of its own links. What it needs of its
topology is the small :class:`Owner` protocol, which :class:`~.handles.Topology` implements.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from ipaddress import ip_address, ip_network
from typing import Protocol

from pytest_macvlan.capture.sniffer import Capture
from pytest_macvlan.errors import ChangeError
from pytest_macvlan.kernel import echo as echomod
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
from pytest_macvlan.kernel.rtnl import Request, RtnlSocket
from pytest_macvlan.spec.model import RouteSpec
from pytest_macvlan.topology import tools
from pytest_macvlan.topology.links import Link
from pytest_macvlan.topology.membership import Membership
from pytest_macvlan.wait import wait_until


class Owner(Protocol):
    """What a namespace needs of the topology that owns it."""

    captures: list[Capture]

    def check_open(self) -> None:
        """Raise ClosedError once the topology is torn down."""

    def netns(self, name: str) -> Netns:
        """Another namespace of the topology."""
        ...

    def on_teardown(self, what: str, fn: Callable[[], object]) -> None:
        """Undo ``fn`` (LIFO) when the topology is torn down."""

    @property
    def namespaces(self) -> list[Netns]:
        """Every namespace of the topology."""
        ...

    @property
    def supervisor(self) -> proc.Supervisor:
        """The PID namespace of the topology's programs."""
        ...

    @property
    def processes(self) -> list[proc.Process]:
        """The programs started with :meth:`Netns.spawn`."""
        ...


class Netns:
    """A network namespace of a topology, held by a file descriptor (it has no name in /run/netns)."""

    def __init__(self, topo: Owner, name: str, fd: int, rtnl: RtnlSocket) -> None:
        self.topology = topo
        self.name = name
        self.fd = fd
        self.rtnl = rtnl
        self.inode = rtnl.ns_ino
        self._links: dict[str, Link] = {}  # the handles given out for this namespace's links

    def adopt(self, link: Link) -> None:
        """Hold ``link``'s handle here (a declared link; or one moved in from another namespace)."""
        self._links[link.name] = link

    @property
    def known_links(self) -> list[Link]:
        """The handles given out so far for links of this namespace, without asking the kernel."""
        return list(self._links.values())

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

    def others(self) -> list[Netns]:
        """The topology's other namespaces."""
        return [ns for ns in self.topology.namespaces if ns is not self]

    def moved(self, link: Link, old: str) -> None:
        """``link``, known as ``old/NAME`` until now, is in this namespace now (``old`` empty: deleted)."""
        source = self.topology.netns(old) if old else self
        source.forget(link.name)
        if old:
            self.adopt(link)

    def forget(self, name: str) -> None:
        """Drop the handle of the link ``name`` (it was deleted, or moved away)."""
        self._links.pop(name, None)

    def on_teardown(self, what: str, fn: Callable[[], object]) -> None:
        """Undo ``fn`` (LIFO) when the topology is torn down."""
        self.topology.on_teardown(what, fn)

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
    ) -> pingmod.PingResult:
        """``ping -c COUNT -W TIMEOUT [-I IFACE] [-b] [-s SIZE] [-w DEADLINE] DST`` inside (IPv4 or
        IPv6 ``dst``); never raises on failure: look at the result (``received``/``transmitted``)."""
        self._open()
        probe = pingmod.probe(dst, count, timeout, interval, interface, broadcast, size, deadline)
        done = proc.run(self.topology.supervisor, self.fd, pingmod.command(probe), check=False, timeout=probe.limit)
        return pingmod.parse_ping(dst, done.stdout + done.stderr, done.returncode)

    def echo(
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
    ) -> pingmod.PingResult:
        """:meth:`ping` without a program (which costs 100 ms to start on UML 5.10): its probes from a
        raw socket inside, its rules for stopping, its result (:mod:`pytest_macvlan.kernel.echo`)."""
        self._open()
        probe = pingmod.probe(dst, count, timeout, interval, interface, broadcast, size, deadline)
        return echomod.echo(self.fd, probe)

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
        cached = self._links.get(state.name)
        if cached is not None and cached.ifindex == state.index and cached.ref == f"{self.name}/{state.name}":
            return cached
        spec = cached.spec if cached is not None and cached.declared else None
        link = self._links[state.name] = Link(self, state.name, state.index, spec)
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
        link, gateway = self.link(dev), ip_address(dst) if dst is not None else None
        what = f"{self.name}: fdb add {lladdr} dev {dev}"
        req = fdb_entry(link.ifindex, lladdr, what, master=master, state=state, sticky=sticky, vlan=vlan, dst=gateway)
        self.change([req])

    def del_fdb(self, lladdr: str, dev: str, *, master: bool = True, vlan: int | None = None) -> None:
        """``bridge fdb del LLADDR dev DEV [master|self] [vlan V]``."""
        what = f"{self.name}: fdb del {lladdr} dev {dev}"
        self.change([fdb_entry(self.link(dev).ifindex, lladdr, what, master=master, vlan=vlan, add=False)])

    def join(self, group: str, dev: str) -> Membership:
        """Join multicast ``group`` (IPv4 or IPv6) on link ``dev`` from a socket inside this
        namespace (``IP_ADD_MEMBERSHIP`` / ``IPV6_JOIN_GROUP``): the kernel sends the IGMP or MLD
        report, and a snooping bridge learns the port. Held until :meth:`Membership.leave` or
        the end of the topology."""
        self._open()
        return Membership(self, ip_address(group), self.link(dev))

    def iptables(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``iptables -w ARGS`` inside this namespace, with the backend this kernel takes (nft or
        legacy; raises with iptables' message on failure, KernelFeatureError where none works)."""
        return self.run(*tools.iptables_argv(f"netns.{self.name}.iptables"), *args)

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

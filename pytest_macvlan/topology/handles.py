"""Handles on a built topology: :class:`Topology`, :class:`Netns` and :class:`Link`.

Nothing here imports pytest or scapy. A topology is torn down by :meth:`Topology.close`
(one LIFO undo stack); after that every handle raises :class:`ClosedError`.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from ipaddress import IPv4Interface, ip_address
from types import TracebackType

from pytest_macvlan.capture.send import Sendable, frames_bytes
from pytest_macvlan.capture.sniffer import DEFAULT_RCVBUF, Capture, open_packet_socket, open_send_socket
from pytest_macvlan.errors import ClosedError
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.kernel.messages import add_neigh, bridge_port, set_link
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, IFF_UP, LinkInfo, RtnlSocket
from pytest_macvlan.spec.fragment import merge
from pytest_macvlan.spec.model import MACVLAN_MODE_NAMES, LinkRef, LinkSpec, TopologySpec
from pytest_macvlan.spec.parse import SpecSource, read_document
from pytest_macvlan.topology.builder import Built, extend
from pytest_macvlan.topology.undo import UndoFailure
from pytest_macvlan.wait import check_timeout, wait_until


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
            self._links[ref] = Link(self._netns[ref.netns], self.spec.link(ref), info)

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
        """``"ns1/macvl1"``: the link ``macvl1`` in namespace ``ns1``."""
        self.check_open()
        ns, sep, name = ref.partition("/")
        if not sep:
            raise ValueError(f"link reference {ref!r} must be 'netns/name'")
        try:
            return self._links[LinkRef(ns, name)]
        except KeyError:
            raise KeyError(
                f"no link {ref!r} in {self.spec.source} (have: {', '.join(str(r) for r in self._links)})"
            ) from None

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

    def ping(self, dst: str, count: int = 1, timeout: float = 1.0, interval: float = 0.2) -> proc.PingResult:
        """``ping -c COUNT -W TIMEOUT DST`` inside; never raises on failure: look at the result."""
        self._open()
        check_timeout(timeout, "ping timeout", positive=True)
        check_timeout(interval, "ping interval")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10000:
            raise ValueError(f"ping count must be an integer 1-10000, not {count!r}")
        argv = ["ping", "-n", "-c", str(count), "-W", f"{timeout:g}", "-i", f"{interval:g}", dst]
        limit = timeout + count * (interval + timeout) + 5
        done = proc.run(self.topology.supervisor, self.fd, argv, check=False, timeout=limit)
        return proc.parse_ping(dst, done.stdout + done.stderr, done.returncode)

    def link_infos(self) -> list[LinkInfo]:
        """Every link of this namespace as the kernel reports it now (one netlink dump)."""
        self._open()
        return self.rtnl.dump_links()

    def link(self, name: str) -> Link:
        return self.topology.link(f"{self.name}/{name}")

    def add_neigh(self, to: str, lladdr: str, dev: str) -> None:
        """``ip neigh replace TO lladdr LLADDR dev DEV nud permanent``."""
        self._open()
        link = self.link(dev)
        self.rtnl.apply_or_raise(
            [add_neigh(link.ifindex, ip_address(to), lladdr, f"{self.name}: neigh {to} dev {dev}")]
        )

    def iptables(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``iptables -w ARGS`` inside this namespace (raises with iptables' message on failure)."""
        return self.run("iptables", "-w", *args)

    def neighbours(self) -> dict[str, str]:
        """IPv4 neighbour table: address -> MAC (``ip neigh``), entries with a MAC only."""
        out = self.run("ip", "-4", "-j", "neigh", "show").stdout
        return {e["dst"]: e["lladdr"] for e in json.loads(out or "[]") if "lladdr" in e}

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


class Link:
    """One interface of a topology."""

    def __init__(self, netns: Netns, spec: LinkSpec, info: LinkInfo) -> None:
        self.netns = netns
        self.spec = spec
        self.name = spec.name
        self.ifindex = info.index
        self.kind = info.kind or spec.kind
        self._mac = info.mac
        self._mode = info.mode
        self._tx: socket.socket | None = None

    @property
    def ref(self) -> str:
        return f"{self.netns.name}/{self.name}"

    @property
    def mac(self) -> str:
        return self._mac

    @property
    def mode(self) -> str | None:
        """The macvlan mode as the kernel reports it (``vepa`` when the spec gave none)."""
        return MACVLAN_MODE_NAMES.get(self._mode) if self._mode is not None else None

    @property
    def ipv4(self) -> str | None:
        """The first IPv4 address the spec gave this link, without the prefix."""
        for a in self.spec.addrs:
            if isinstance(a, IPv4Interface):
                return str(a.ip)
        return None

    def info(self) -> LinkInfo:
        """This link as the kernel reports it now."""
        for info in self.netns.link_infos():
            if info.index == self.ifindex:
                return info
        raise LookupError(f"link {self.ref} no longer exists")

    @property
    def carrier(self) -> bool:
        return bool(self.info().flags & IFF_LOWER_UP)

    @property
    def is_up(self) -> bool:
        return bool(self.info().flags & IFF_UP)

    def set_up(self, up: bool = True) -> None:
        """``ip link set NAME up`` (or down)."""
        self.netns._open()
        self.netns.rtnl.apply_or_raise([set_link(self.ifindex, f"set {self.ref} {'up' if up else 'down'}", up=up)])

    def set_down(self) -> None:
        self.set_up(False)

    def set_hairpin(self, on: bool) -> None:
        """``bridge link set dev NAME hairpin on|off`` (the link must be a bridge port)."""
        self.netns._open()
        self.netns.rtnl.apply_or_raise([bridge_port(self.ifindex, f"{self.ref}: hairpin {on}", hairpin=on)])

    def wait_carrier(self, on: bool = True, timeout: float = 3.0) -> LinkInfo:
        """Wait (bounded) until the link's carrier is ``on`` (or off); return the link's state."""
        check_timeout(timeout, f"{self.ref}: wait_carrier", positive=True)
        return wait_until(
            self.info,
            lambda i: bool(i.flags & IFF_LOWER_UP) == on,
            timeout=timeout,
            what=f"{self.ref}: carrier {'on' if on else 'off'}",
            show=lambda i: f"flags=0x{i.flags:x} operstate={i.operstate}",
        )

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
        return f"<Link {self.ref} {self.kind}{' ' + self.mode if self.mode else ''} ifindex={self.ifindex} {self.mac}>"


def _gone(exc: OSError) -> str:
    return " (the link no longer exists)" if exc.errno in (errno.ENODEV, errno.ENXIO) else ""

"""Build a :class:`TopologySpec` on the kernel, in new namespaces, in few netlink round trips.

The builder owns everything it makes until it hands it over: its own undo stack, the
namespaces' descriptors and sockets, what the kernel said of each link. :func:`build_spec`
returns that as a :class:`Built` record, from which :class:`~.handles.Topology` makes its
handles; :func:`extend` does the same for a fragment added to a live topology
(:meth:`~.handles.Topology.apply`). A failure unwinds the builder's own stack and raises:
nothing is left half-built, and nothing it made was ever seen by a handle.

Order: namespaces (IPv6 off unless asked, a netlink socket born inside each), those with
iptables rules first, their ``iptables-restore`` started in the background before the others
are made; links created directly in their namespace with indexes chosen here;
``nft`` scripts started in the background (they may resolve interface names); sysctls (one
job for every namespace); bridge ports, addresses, and the routes of namespaces without a
bridge; bridges up once their ports are operationally up, then the remaining routes; a
bounded wait until every link that should have carrier has it (asked link by link, which
makes the kernel finish its linkwatch work for each; the answers give the handles' MACs);
neighbour entries; the firewall tools' exit statuses.

Requests for one namespace go as one batch (one ``send``) per step; a request that needs
another namespace's request to have happened first (a veth peer's ``up``, a macvlan on a
peer created from elsewhere) goes in a later round. Any failure undoes everything (closing
the namespaces' descriptors destroys them and all their links; a firewall tool still running
is ended by its PID) and raises with the spec entry that failed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

from pytest_macvlan.errors import BuildError
from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.kernel import queries
from pytest_macvlan.kernel.changes import address, bridge_vlan, change_link, delete_link, fdb_entry
from pytest_macvlan.kernel.features import feature_of_kind
from pytest_macvlan.kernel.messages import add_neigh, add_route, bridge_port, create_link, link_up, set_link
from pytest_macvlan.kernel.records import Address
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, LinkInfo, Request, RtnlSocket
from pytest_macvlan.spec.fragment import Delta
from pytest_macvlan.spec.model import IPInterface, LinkRef, LinkSpec, NetnsSpec, TopologySpec
from pytest_macvlan.spec.namespaces import split_table
from pytest_macvlan.topology.undo import UndoStack
from pytest_macvlan.wait import wait_until

READY_TIMEOUT = 5.0
TOOL_TIMEOUT = 30.0
DAD_TIMEOUT = 10.0
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


@dataclass
class Built:
    """What a build made, handed over to the topology that owns it from then on: the undo
    steps, the new namespaces (descriptor and netlink socket each) and the new links as the
    kernel reported them when they were ready."""

    undo: UndoStack
    namespaces: dict[str, tuple[int, RtnlSocket]]
    links: dict[LinkRef, LinkInfo]


def build_spec(spec: TopologySpec) -> Built:
    """Build ``spec`` in new namespaces; everything is ready (links up, carrier on, addresses set)."""
    return _Builder(spec, Delta.whole(spec), {}, {}).build()


def extend(
    spec: TopologySpec,
    delta: Delta,
    namespaces: dict[str, tuple[int, RtnlSocket]],
    existing: dict[LinkRef, LinkInfo],
) -> Built:
    """Add ``delta`` (what a fragment adds to ``spec``, the merged spec) to a live topology whose
    namespaces and links (as the kernel reports them now) are given; returns only what was added."""
    return _Builder(spec, delta, namespaces, existing).build()


@dataclass
class _Step:
    """One request, the namespace whose socket sends it, and the steps that must come first."""

    netns: str
    req: Request
    after: tuple[int, ...] = ()


class _Tool:
    """A firewall tool run in the background in one namespace: ``argv INPUT``, INPUT holding
    ``text``. A helper thread starts it (the package's worker thread forks it), so that the build
    goes on while it is being spawned. INPUT is a memfd of this process, read by the tool as
    ``/proc/PID/fd/N``: no file is left behind whatever happens to the process."""

    def __init__(self, entry: str, argv: list[str], text: str, ns_fd: int, supervisor: proc.Supervisor) -> None:
        self.entry = entry
        self._supervisor = supervisor
        self._input = os.memfd_create("pytest-macvlan-rules", os.MFD_CLOEXEC)
        try:
            data = text.encode()
            while data:
                data = data[os.write(self._input, data) :]
        except BaseException:
            self.close_input()
            raise
        self.argv = [*argv, f"/proc/{os.getpid()}/fd/{self._input}"]
        self.process: Future[subprocess.Popen[str]] = Future()
        threading.Thread(target=self._spawn, args=(ns_fd,), name="pytest-macvlan-tool", daemon=True).start()

    def _spawn(self, ns_fd: int) -> None:
        try:
            self.process.set_result(self._supervisor.popen(ns_fd, self.argv))
        except BaseException as exc:  # handed to finish()
            self.process.set_exception(exc)

    def close_input(self) -> None:
        if self._input >= 0:
            os.close(self._input)
            self._input = -1

    def started(self) -> None:
        """Wait (bounded) until it has been started, or has failed to start."""
        with contextlib.suppress(TimeoutError):
            self.process.exception(timeout=TOOL_TIMEOUT)

    def stop(self) -> None:
        """End it (by its PID) if it is still running; the undo step of a build."""
        try:
            with contextlib.suppress(TimeoutError):
                if self.process.exception(timeout=TOOL_TIMEOUT) is None:  # a failed spawn: returned, not raised
                    proc.stop(self.process.result())
        finally:
            self.close_input()

    def finish(self) -> None:
        """Wait for it; raise :class:`BuildError` with its message if it failed."""
        command = " ".join(self.argv[:-1])
        try:
            p = self.process.result(timeout=TOOL_TIMEOUT)
            out, err = p.communicate(timeout=TOOL_TIMEOUT)
        except FileNotFoundError as exc:
            name = self.argv[0]
            raise BuildError(self.entry, 2, f"{name} is not installed (apt-get install {name}): {exc}") from None
        except (subprocess.TimeoutExpired, TimeoutError):
            raise BuildError(self.entry, 0, f"`{command}` did not finish in {TOOL_TIMEOUT:g}s") from None
        finally:
            if self.process.done():
                self.close_input()
        if p.returncode != 0:
            name = self.argv[0]
            msg = (err or out).strip()
            if "No such file" in msg and name in msg:
                msg = f"{name} is not installed (apt-get install {name}): {msg}"
            raise BuildError(self.entry, p.returncode, f"`{command}` failed: {msg}")


class _Builder:
    def __init__(
        self,
        spec: TopologySpec,
        delta: Delta,
        namespaces: dict[str, tuple[int, RtnlSocket]],
        existing: dict[LinkRef, LinkInfo],
    ) -> None:
        self.spec = spec
        self.delta = delta
        self.undo = UndoStack()
        self.fds: dict[str, int] = {name: fd for name, (fd, _sock) in namespaces.items()}
        self.rtnl: dict[str, RtnlSocket] = {name: sock for name, (_fd, sock) in namespaces.items()}
        self.existing = existing
        self.index: dict[LinkRef, int] = {ref: info.index for ref, info in existing.items()}
        self.infos: dict[LinkRef, LinkInfo] = {}
        self.tools: list[_Tool] = []
        self._supervisor: proc.Supervisor | None = None
        self._carrier: dict[LinkRef, bool] = {}
        self._ports: dict[LinkRef, list[LinkSpec]] | None = None

    def build(self) -> Built:
        """Run, and hand over what was made; on any failure undo it all and raise."""
        try:
            self.run()
        except OSError as exc:  # a limit reached (descriptors, namespaces) is named
            self.undo.unwind()
            named = nsmod.with_limit(exc)
            if named is exc:
                raise
            raise named from exc
        except BaseException:
            self.undo.unwind()
            raise
        new = [ns.name for ns in self.delta.netns if ns.name in self.delta.new_netns]  # in the spec's order
        namespaces = {name: (self.fds[name], self.rtnl[name]) for name in new}
        return Built(self.undo, namespaces, self.infos)

    def run(self) -> None:
        # The namespaces with iptables rules come first, and their iptables-restore is started
        # (by the worker thread) before the other namespaces are made: with nf_tables it takes
        # about 15 ms, most of it waiting for an RCU grace period when it closes its socket, and
        # the rest of the build runs meanwhile. One iptables-restore per namespace (one process,
        # one commit); iptables names interfaces, it does not need them to exist yet.
        new = [ns for ns in self.delta.netns if ns.name in self.delta.new_netns]
        self.namespaces([ns for ns in new if ns.iptables])
        for ns in self.delta.netns:
            if ns.iptables:
                rules = iptables_restore_text(ns.iptables)
                self.start_tool(ns, ["iptables-restore", "-w", "--noflush"], f"{ns.entry}.iptables", rules)
        for tool in self.tools:
            tool.started()
        self.namespaces([ns for ns in new if not ns.iptables])
        self.assign_indexes()
        self.send(self.create_links())
        for ns in self.delta.netns:
            if ns.nft:
                self.start_tool(ns, ["nft", "-f"], f"{ns.entry}.nft", ns.nft)
        self.sysctls()
        opened = self.bridges_to_open()
        self.send(self.attach(opened))
        if opened:
            # A bridge opened before its ports are operationally up gets carrier later, through the
            # kernel's linkwatch (up to 1 s, dropping frames meanwhile). Ports first, then bridges.
            self.wait_ready(lambda link: link.kind == "veth" and link.master is not None)
            self.send(self.open_bridges(opened))
        infos = self.wait_ready(lambda link: True, all_links=True)
        self.check_made(infos)
        self.send(self.neighbours())
        self.wait_dad()
        self.finish_tools()

    # -- namespaces ------------------------------------------------------------------------

    def namespaces(self, specs: Sequence[NetnsSpec]) -> None:
        if not specs:
            return

        def setup(i: int, fd: int) -> socket.socket:
            # Quiet captures by default: no IGMP reports for link-local groups (a bridge joins
            # 224.0.0.106 when it comes up and reports it for a second), no IPv6 DAD/MLD/RS.
            # A spec's own sysctls come later and can turn either back on.
            nsmod.write_sysctl("net.ipv4.igmp_link_local_mcast_reports", "0")
            if not specs[i].ipv6:
                nsmod.write_sysctl("net.ipv6.conf.all.disable_ipv6", "1")
                nsmod.write_sysctl("net.ipv6.conf.default.disable_ipv6", "1")
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)

        made = nsmod.create(len(specs), setup, release=lambda sock: sock.close())
        for ns_spec, (fd, sock) in zip(specs, made, strict=True):
            self.undo.push(f"release namespace {ns_spec.name}", partial(os.close, fd))
            self.undo.push(f"close netlink socket of {ns_spec.name}", sock.close)
        for ns_spec, (fd, sock) in zip(specs, made, strict=True):
            self.fds[ns_spec.name] = fd
            self.rtnl[ns_spec.name] = RtnlSocket(fd, sock)

    def assign_indexes(self) -> None:
        """Indexes unique across the topology (1 is every namespace's lo): a link whose index
        equals its peer's or parent's gets its carrier changes handled late by the kernel's
        linkwatch. Links added later start above every index in the namespaces they go to
        (a program may have made links there meanwhile)."""
        start = max(self.index.values(), default=1) + 1
        touched = {link.netns for link in self.delta.links} | {
            link.parent.netns for link in self.delta.links if link.parent is not None
        }
        for name in touched - self.delta.new_netns:
            start = max(start, *(info.index + 1 for info in self.rtnl[name].dump_links()))
        taps = [link for link in self.delta.links if link.kind == "tap"]
        for link in taps:  # made by ioctl: the kernel picks their index, so they come first
            self.index[link.ref] = self.make_tap(link)
            start = max(start, self.index[link.ref] + 1)
        for i, link in enumerate((link for link in self.delta.links if link.kind != "tap"), start=start):
            self.index[link.ref] = i

    def make_tap(self, link: LinkSpec) -> int:
        """``ip tuntap add NAME mode tap`` (tun/tap devices are made through ``/dev/net/tun``,
        not netlink): a persistent tap, inside its namespace; returns its interface index."""
        import fcntl
        import struct

        def make() -> None:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            try:
                ifr = struct.pack("16sH", link.name.encode(), IFF_TAP | IFF_NO_PI)
                fcntl.ioctl(fd, TUNSETIFF, ifr)
                fcntl.ioctl(fd, TUNSETPERSIST, 1)
            finally:
                os.close(fd)

        try:
            nsmod.run_in(self.fds[link.netns], make)
        except OSError as exc:
            raise BuildError(
                link.entry, exc.errno or 0, f"cannot create tap {link.name}: {exc.strerror or exc}"
            ) from None
        rtnl = self.rtnl[link.netns]
        state = queries.get_link(rtnl, name=link.name)
        if state is None:
            raise BuildError(link.entry, 0, f"tap {link.name} is missing after creation")
        if link.netns not in self.delta.new_netns:
            index = state.index
            self.undo.push(f"delete tap {link.ref}", lambda: rtnl.apply([delete_link(index, link.entry)]))
        return state.index

    # -- sending ---------------------------------------------------------------------------

    def send(self, steps: Sequence[_Step]) -> None:
        """Send ``steps`` in rounds: in each round, one batch per namespace, in order.

        A step goes in the round of the latest step it follows, or the next one if that step is
        sent from another namespace (it must have been acknowledged before this one is sent).
        """
        rounds: list[int] = []
        batches: dict[tuple[int, str], list[Request]] = {}
        for step in steps:
            r = max((rounds[a] + (steps[a].netns != step.netns) for a in step.after), default=0)
            rounds.append(r)
            batches.setdefault((r, step.netns), []).append(step.req)
        for (_r, name), requests in sorted(batches.items(), key=lambda item: item[0][0]):
            self.rtnl[name].apply_or_raise(requests)

    # -- links -----------------------------------------------------------------------------

    def create_links(self) -> list[_Step]:
        steps: list[_Step] = []
        ready: dict[LinkRef, int] = {}  # a link -> the step after which it exists (and has carrier)
        pending = [link for link in self.delta.links if not link.is_peer]
        while pending:
            later: list[LinkSpec] = []
            for link in pending:
                if link.parent is not None and link.parent not in ready and link.parent not in self.existing:
                    later.append(link)
                    continue
                after = (ready[link.parent],) if link.parent in ready else ()
                steps.append(self.create(link, after))
                ready[link.ref] = len(steps) - 1
                if link.peer is not None:
                    ready[link.peer] = len(steps) - 1
                    peer = self.spec.link(link.peer)
                    if peer.up:  # before anything is stacked on it, so carrier is there at once
                        up = set_link(self.index[peer.ref], f"{peer.entry}: up", up=True)
                        steps.append(_Step(peer.netns, up, (len(steps) - 1,)))
                        ready[link.ref] = ready[link.peer] = len(steps) - 1
            if len(later) == len(pending):  # the parser rejects cycles; this is a safety net
                raise BuildError(later[0].entry, 0, "cannot order link creation (cycle of parents)")
            pending = later
        return steps

    def create(self, link: LinkSpec, after: tuple[int, ...]) -> _Step:
        feature = feature_of_kind(link.kind)
        if link.kind == "tap":  # made already (make_tap): now its MAC, MTU, flags
            req = change_link(
                self.index[link.ref],
                link.entry,
                address=link.address,
                mtu=link.mtu,
                up=link.up,
                promisc=link.promisc or None,
                allmulticast=link.allmulticast,
            )
            return _Step(link.netns, req, after)
        if link.kind == "veth":
            assert link.peer is not None
            peer = self.spec.link(link.peer)
            req = create_link(
                link,
                self.index[link.ref],
                peer=peer,
                peer_index=self.index[peer.ref],
                peer_netns_fd=self.fds[peer.netns] if peer.netns != link.netns else None,
            )
            req.feature = feature
            return _Step(link.netns, req, after)
        if link.parent is not None and link.kind != "vxlan":
            # Created from the parent's namespace, directly into its own (no move afterwards).
            creator = link.parent.netns
            req = create_link(
                link,
                self.index[link.ref],
                parent_index=self.index[link.parent],
                netns_fd=self.fds[link.netns] if link.netns != creator else None,
            )
            req.feature = feature
            return _Step(creator, req, after)
        parent_index = self.index[link.parent] if link.parent is not None else 0
        # A bridge (and a bond) goes up after its ports.
        req = create_link(link, self.index[link.ref], up=link.kind not in ("bridge", "bond"), parent_index=parent_index)
        req.feature = feature
        return _Step(link.netns, req, after)

    def bridges_to_open(self) -> list[LinkSpec]:
        return [link for link in self.delta.links if link.kind in ("bridge", "bond") and link.up]

    def attach(self, opened: Sequence[LinkSpec]) -> list[_Step]:
        """Loopbacks up, bridge ports, addresses, and the routes of namespaces with no bridge to open."""
        out = [_Step(name, link_up(1, f"netns.{name}: lo up")) for name in sorted(self.delta.new_netns)]
        for link in self.delta.links:
            idx = self.index[link.ref]
            if link.master is not None:
                master_ref = LinkRef(link.netns, link.master)
                master = self.index[master_ref]
                if self.spec.link(master_ref).kind == "bond" and link.up:
                    # A bond takes only ports that are down; it brings them up itself.
                    out.append(_Step(link.netns, set_link(idx, f"{link.entry}: down to join a bond", up=False)))
                out.append(_Step(link.netns, set_link(idx, f"{link.entry}.master", master=master)))
                if link.hairpin is not None:
                    out.append(_Step(link.netns, bridge_port(idx, f"{link.entry}.hairpin", hairpin=link.hairpin)))
                if link.port:
                    names = ", ".join(name for name, _ in link.port)
                    out.append(_Step(link.netns, bridge_port(idx, f"{link.entry} ({names})", **dict(link.port))))
            for v in link.vlans:
                req = bridge_vlan(
                    idx,
                    v.vid,
                    f"{link.entry}.vlan ({v.vid})",
                    pvid=v.pvid,
                    untagged=v.untagged,
                    own=link.kind == "bridge",
                )
                out.append(_Step(link.netns, req))
        for link in self.delta.links:
            if link.kind == "bridge" and link.mtu:
                # Its MTU given at creation follows its ports' (the kernel adjusts it as each joins);
                # set again after them, it is the user's and stays.
                out.append(_Step(link.netns, set_link(self.index[link.ref], f"{link.entry}.mtu", mtu=link.mtu)))
        nodad = {ns.name for ns in self.spec.netns if ns.nodad}
        addrs = [(link.ref, a) for link in self.delta.links for a in link.addrs] + list(self.delta.addrs)
        for ref, addr in addrs:
            entry = f"{self.spec.entry_of(ref)}.addr ({addr})"
            out.append(_Step(ref.netns, address(self.index[ref], addr, entry, nodad=ref.netns in nodad)))
        for ns in self.delta.netns:
            for f in ns.fdb:
                req = fdb_entry(
                    self.index[LinkRef(ns.name, f.dev)],
                    f.lladdr,
                    f.entry,
                    master=f.master,
                    state=f.state,
                    sticky=f.sticky,
                    vlan=f.vlan,
                    dst=f.dst,
                )
                out.append(_Step(ns.name, req))
        with_bridges = {link.netns for link in opened}
        out += self.routes(ns for ns in self.delta.netns if ns.name not in with_bridges)
        return out

    def open_bridges(self, opened: Sequence[LinkSpec]) -> list[_Step]:
        """Bridges up, then the routes of their namespaces (a route through a down bridge fails)."""
        out = [_Step(link.netns, set_link(self.index[link.ref], f"{link.entry}: up", up=True)) for link in opened]
        with_bridges = {link.netns for link in opened}
        return out + self.routes(ns for ns in self.delta.netns if ns.name in with_bridges)

    def routes(self, namespaces: Iterable[NetnsSpec]) -> list[_Step]:
        out: list[_Step] = []
        for ns in namespaces:
            for route in ns.routes:
                oif = self.index[LinkRef(ns.name, route.dev)] if route.dev else None
                out.append(_Step(ns.name, add_route(route, oif)))
        return out

    def neighbours(self) -> list[_Step]:
        out: list[_Step] = []
        macs = {ref: info.mac for infos in (self.existing, self.infos) for ref, info in infos.items()}
        for ns in self.delta.netns:
            for n in ns.neighs:
                lladdr = macs[n.lladdr_of] if n.lladdr_of else n.lladdr
                assert lladdr is not None
                req = add_neigh(self.index[LinkRef(ns.name, n.dev)], n.to, lladdr, n.entry)
                out.append(_Step(ns.name, req))
        return out

    # -- sysctls ---------------------------------------------------------------------------

    def sysctls(self) -> None:
        """Every namespace's sysctls in one job on the namespace worker: it enters each
        namespace explicitly (and checks it is there) before writing that namespace's keys."""
        todo = [ns for ns in self.delta.netns if ns.sysctl]
        if not todo:
            return
        targets = [(ns, self.fds[ns.name], self.rtnl[ns.name].ns_ino) for ns in todo]

        def write() -> None:
            for ns, fd, ino in targets:
                nsmod.setns(fd)
                if os.stat("/proc/thread-self/ns/net").st_ino != ino:  # never trust, verify
                    raise RuntimeError(f"could not enter namespace {ns.name}; refusing to write its sysctls")
                for key, value in ns.sysctl:
                    try:
                        nsmod.write_sysctl(key, value)
                    except OSError as exc:
                        raise BuildError(
                            f"{ns.entry}.sysctl.{key}",
                            exc.errno or 0,
                            f"cannot set {key}={value}: {exc.strerror or exc}",
                        ) from None

        nsmod.run_in(targets[0][1], write)

    # -- firewall tools --------------------------------------------------------------------

    def start_tool(self, ns: NetnsSpec, argv: list[str], entry: str, text: str) -> None:
        """Start ``argv INPUT`` in ``ns`` in the background, INPUT holding ``text``; its exit status
        is checked at the end of the build, and a build that fails meanwhile ends it (by its PID)."""
        if self._supervisor is None:  # the firewall tools' PID namespace (its own init)
            self._supervisor = proc.Supervisor(f"{self.spec.source}: firewall tools")
            self.undo.push("stop the firewall tools", self._supervisor.close)
        tool = _Tool(entry, argv, text, self.fds[ns.name], self._supervisor)
        self.undo.push(f"stop {argv[0]} in {ns.name}", tool.stop)
        self.tools.append(tool)

    def finish_tools(self) -> None:
        for tool in self.tools:
            tool.finish()
        if self._supervisor is not None:
            self._supervisor.close()  # they have all ended: so does their init

    # -- readiness -------------------------------------------------------------------------

    def expects_carrier(self, link: LinkSpec) -> bool:
        if link.ref in self.existing:  # it existed before: what it has now is what it has
            return bool(self.existing[link.ref].flags & IFF_LOWER_UP)
        known = self._carrier.get(link.ref)
        if known is None:
            known = self._carrier[link.ref] = self._expects_carrier(link)
        return known

    def _expects_carrier(self, link: LinkSpec) -> bool:
        if not link.up or link.kind == "tap":  # a tap has carrier only while a program holds it
            return False
        if link.kind in ("dummy", "vrf", "vxlan"):
            return True
        if link.kind == "veth":
            assert link.peer is not None
            return self.spec.link(link.peer).up
        if link.kind in ("bridge", "bond"):
            if link.stp:  # its ports listen and learn for 2 x forward_delay (30 s) before it carries
                return False
            if self._ports is None:
                self._ports = {}
                for p in self.spec.links:
                    if p.master is not None:
                        self._ports.setdefault(LinkRef(p.netns, p.master), []).append(p)
            return any(self.expects_carrier(p) for p in self._ports.get(link.ref, []))
        assert link.parent is not None
        return self.expects_carrier(self.spec.link(link.parent))

    def wait_ready(self, which: Callable[[LinkSpec], bool], all_links: bool = False) -> dict[LinkRef, LinkInfo]:
        """Wait (bounded) until the chosen links that should carry are up with carrier and
        operationally up (the kernel has finished bringing them up: their queues pass frames).

        Each probe asks for the links one by one (``RTM_GETLINK``), which makes the kernel finish
        its pending linkwatch work for each first: the first probe normally finds them ready.
        Returns what the last probe said of the chosen links (of every link with ``all_links``).
        """
        want = {link.ref for link in self.delta.links if which(link) and self.expects_carrier(link)}
        asked = [link.ref for link in self.delta.links if all_links or link.ref in want]
        if not asked:
            return {}
        by_netns: dict[str, list[LinkRef]] = {}
        for ref in asked:
            by_netns.setdefault(ref.netns, []).append(ref)

        def probe() -> dict[LinkRef, LinkInfo]:
            infos: dict[LinkRef, LinkInfo] = {}
            for name, refs in by_netns.items():
                got = self.rtnl[name].get_links([self.index[r] for r in refs])
                infos.update({r: got[self.index[r]] for r in refs if self.index[r] in got})
            return infos

        def not_ready(infos: dict[LinkRef, LinkInfo]) -> list[LinkRef]:
            return sorted(r for r in want if r not in infos or not ready(self.spec.link(r), infos[r]))

        def show(infos: dict[LinkRef, LinkInfo]) -> str:
            return ", ".join(
                f"{r} (flags=0x{infos[r].flags:x} operstate={OPERSTATES.get(infos[r].operstate, '?')})"
                if r in infos
                else f"{r} (missing)"
                for r in not_ready(infos)
            )

        infos = probe()
        if not not_ready(infos):
            return infos
        try:
            return wait_until(
                probe,
                lambda infos: not not_ready(infos),
                timeout=READY_TIMEOUT,
                what="links up with carrier",
                show=show,
            )
        except AssertionError as exc:
            raise BuildError(self.spec.entry_of(min(want)), 0, str(exc)) from None

    def wait_dad(self) -> None:
        """With ``ipv6 = true`` (and not ``nodad``), wait (bounded) until duplicate address
        detection has finished on every IPv6 address of the namespaces this build touched; an
        address whose DAD failed (the address is in use elsewhere, or a hairpin or a reflecting
        switch sent the probe back) fails the build, naming it."""
        names = sorted({ns.name for ns in self.spec.netns if ns.ipv6 and not ns.nodad} & set(self.touched()))
        if not names:
            return
        entries = {(ref.netns, a.ip): self.spec.entry_of(ref) for ref, a in self.added_addresses()}

        def probe() -> dict[str, list[Address]]:
            return {name: queries.addresses(self.rtnl[name], version=6) for name in names}

        def pending(found: dict[str, list[Address]]) -> list[str]:
            return [f"{name}: {a}" for name, addrs in found.items() for a in addrs if a.tentative]

        try:
            found = wait_until(
                probe,
                lambda f: not pending(f),
                timeout=DAD_TIMEOUT,
                what="IPv6 duplicate address detection",
                show=lambda f: ", ".join(pending(f)),
            )
        except AssertionError as exc:
            raise BuildError(f"netns.{names[0]}", 0, str(exc)) from None
        for name, addrs in found.items():
            for a in addrs:
                if a.dadfailed:
                    entry = entries.get((name, a.address), f"netns.{name}")
                    link = next((r for r, i in self.index.items() if r.netns == name and i == a.index), None)
                    where = f" on {link}" if link else ""
                    raise BuildError(
                        f"{entry}.addr ({a.interface})",
                        98,
                        f"IPv6 duplicate address detection failed for {a.interface}{where}: another node answered "
                        "for it, or the probe came back (a hairpin or a reflecting switch); "
                        "set nodad = true on the namespace to skip DAD",
                    )

    def touched(self) -> set[str]:
        return (
            {ns.name for ns in self.delta.netns}
            | {link.netns for link in self.delta.links}
            | {ref.netns for ref, _ in self.delta.addrs}
        )

    def added_addresses(self) -> list[tuple[LinkRef, IPInterface]]:
        return [(link.ref, a) for link in self.delta.links for a in link.addrs] + list(self.delta.addrs)

    def check_made(self, infos: dict[LinkRef, LinkInfo]) -> None:
        """Every new link is there under its name; keep what the kernel said of each."""
        for link in self.delta.links:
            info = infos.get(link.ref)
            if info is None or info.name != link.name:
                raise BuildError(link.entry, 0, f"link {link.ref} is missing after creation")
            self.infos[link.ref] = info


OPERSTATES = {0: "UNKNOWN", 1: "NOTPRESENT", 2: "DOWN", 3: "LOWERLAYERDOWN", 4: "TESTING", 5: "DORMANT", 6: "UP"}
IF_OPER_UP = 6


def ready(spec: LinkSpec, info: LinkInfo) -> bool:
    """Can ``spec`` pass frames? It needs carrier; a veth end that was opened before its peer
    also needs the kernel's linkwatch to have run for it (it activates the queue and sets the
    operstate together). Bridges and stacked links are created or opened with carrier already
    there, so their queue is active at once; their operstate follows late and does not matter.
    """
    if not info.flags & IFF_LOWER_UP:
        return False
    return spec.kind != "veth" or info.operstate == IF_OPER_UP


def _restore_quote(arg: str) -> str:
    """Quote one argument for iptables-restore, whose tokenizer knows double quotes and
    backslash escapes (not the shell's single quotes): the rule gets ``arg`` literally."""
    if arg and not any(c.isspace() or c in "\"'\\#" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iptables_restore_text(rules: Sequence[tuple[str, ...]]) -> str:
    """``iptables ARGS`` lines as ``iptables-restore`` input: ``-P C P`` becomes ``:C P``, a leading
    ``-t T`` a section (only there: see :func:`~pytest_macvlan.spec.namespaces.split_table`). Every
    argument reaches iptables literally: quoted, and a control character (which could end the
    line) is refused here as it is by the validator."""
    tables: dict[str, list[str]] = {}
    for rule in rules:
        for arg in rule:
            if not arg.isprintable():
                raise ValueError(f"iptables argument {arg!r} contains a control character")
        table, args = split_table(rule)
        if args[:1] in (["-P"], ["--policy"]) and len(args) == 3:
            line = f":{args[1]} {args[2]} [0:0]"
        elif args[:1] in (["-N"], ["--new-chain"]) and len(args) == 2:
            line = f":{args[1]} - [0:0]"
        else:
            line = " ".join(_restore_quote(a) for a in args)
        tables.setdefault(table or "filter", []).append(line)
    return "".join(f"*{t}\n" + "\n".join(lines) + "\nCOMMIT\n" for t, lines in tables.items())

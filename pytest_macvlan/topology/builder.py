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

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from pytest_macvlan.errors import BuildError
from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.kernel import queries, tap
from pytest_macvlan.kernel.changes import address, bridge_vlan, change_link, delete_link, fdb_entry, route
from pytest_macvlan.kernel.features import feature_of_kind
from pytest_macvlan.kernel.messages import add_neigh, bridge_port, create_link, link_up, set_link
from pytest_macvlan.kernel.rtnl import LinkInfo, RtnlSocket
from pytest_macvlan.spec.fragment import Delta
from pytest_macvlan.spec.model import LinkRef, LinkSpec, NetnsSpec, TopologySpec
from pytest_macvlan.topology.batches import Step, send_in_rounds
from pytest_macvlan.topology.readiness import Readiness
from pytest_macvlan.topology.tools import FirewallTool, firewall_plan, iptables_restore_text
from pytest_macvlan.topology.undo import UndoStack


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


class _Builder(Readiness):
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
        self.tools: list[FirewallTool] = []
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
        firewalled, argv = firewall_plan(self.delta.netns)  # before anything is made
        self.namespaces([ns for ns in new if ns.iptables])
        for ns in firewalled:
            self.start_tool(ns, argv, f"{ns.entry}.iptables", iptables_restore_text(ns.iptables))
        for tool in self.tools:
            tool.started()
        self.namespaces([ns for ns in new if not ns.iptables])
        self.assign_indexes()
        self.send(self.create_links())
        for ns in self.delta.netns:
            if ns.nft:
                self.start_tool(ns, ["nft", "-f"], f"{ns.entry}.nft", ns.nft)
        self.sysctls()
        opened = [link for link in self.delta.links if link.kind in ("bridge", "bond") and link.up]
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
        """``ip tuntap add NAME mode tap`` in the link's namespace; returns its interface index."""
        try:
            tap.make_tap(self.fds[link.netns], link.name)
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

    def send(self, steps: Sequence[Step]) -> None:
        """Send ``steps`` in rounds (see :func:`~.batches.send_in_rounds`)."""
        send_in_rounds(self.rtnl, steps)

    # -- links -----------------------------------------------------------------------------

    def create_links(self) -> list[Step]:
        steps: list[Step] = []
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
                        steps.append(Step(peer.netns, up, (len(steps) - 1,)))
                        ready[link.ref] = ready[link.peer] = len(steps) - 1
            if len(later) == len(pending):  # the parser rejects cycles; this is a safety net
                raise BuildError(later[0].entry, 0, "cannot order link creation (cycle of parents)")
            pending = later
        return steps

    def create(self, link: LinkSpec, after: tuple[int, ...]) -> Step:
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
            return Step(link.netns, req, after)
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
            return Step(link.netns, req, after)
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
            return Step(creator, req, after)
        parent_index = self.index[link.parent] if link.parent is not None else 0
        # A bridge (and a bond) goes up after its ports.
        req = create_link(link, self.index[link.ref], up=link.kind not in ("bridge", "bond"), parent_index=parent_index)
        req.feature = feature
        return Step(link.netns, req, after)

    def attach(self, opened: Sequence[LinkSpec]) -> list[Step]:
        """Loopbacks up, bridge ports, addresses, and the routes of namespaces with no bridge to open."""
        out = [Step(name, link_up(1, f"netns.{name}: lo up")) for name in sorted(self.delta.new_netns)]
        for link in self.delta.links:
            idx = self.index[link.ref]
            if link.master is not None:
                master_ref = LinkRef(link.netns, link.master)
                master = self.index[master_ref]
                if self.spec.link(master_ref).kind == "bond" and link.up:
                    # A bond takes only ports that are down; it brings them up itself.
                    out.append(Step(link.netns, set_link(idx, f"{link.entry}: down to join a bond", up=False)))
                out.append(Step(link.netns, set_link(idx, f"{link.entry}.master", master=master)))
                if link.hairpin is not None:
                    out.append(Step(link.netns, bridge_port(idx, f"{link.entry}.hairpin", hairpin=link.hairpin)))
                if link.port:
                    names = ", ".join(name for name, _ in link.port)
                    out.append(Step(link.netns, bridge_port(idx, f"{link.entry} ({names})", **dict(link.port))))
            for v in link.vlans:
                req = bridge_vlan(
                    idx,
                    v.vid,
                    f"{link.entry}.vlan ({v.vid})",
                    pvid=v.pvid,
                    untagged=v.untagged,
                    own=link.kind == "bridge",
                )
                out.append(Step(link.netns, req))
        for link in self.delta.links:
            if link.kind == "bridge" and link.mtu:
                # Its MTU given at creation follows its ports' (the kernel adjusts it as each joins);
                # set again after them, it is the user's and stays.
                out.append(Step(link.netns, set_link(self.index[link.ref], f"{link.entry}.mtu", mtu=link.mtu)))
        nodad = {ns.name for ns in self.spec.netns if ns.nodad}
        addrs = [(link.ref, a) for link in self.delta.links for a in link.addrs] + list(self.delta.addrs)
        for ref, addr in addrs:
            entry = f"{self.spec.entry_of(ref)}.addr ({addr})"
            out.append(Step(ref.netns, address(self.index[ref], addr, entry, nodad=ref.netns in nodad)))
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
                out.append(Step(ns.name, req))
        with_bridges = {link.netns for link in opened}
        out += self.routes(ns for ns in self.delta.netns if ns.name not in with_bridges)
        return out

    def open_bridges(self, opened: Sequence[LinkSpec]) -> list[Step]:
        """Bridges up, then the routes of their namespaces (a route through a down bridge fails)."""
        out = [Step(link.netns, set_link(self.index[link.ref], f"{link.entry}: up", up=True)) for link in opened]
        with_bridges = {link.netns for link in opened}
        return out + self.routes(ns for ns in self.delta.netns if ns.name in with_bridges)

    def routes(self, namespaces: Iterable[NetnsSpec]) -> list[Step]:
        out: list[Step] = []
        for ns in namespaces:
            for r in ns.routes:
                oif = self.index[LinkRef(ns.name, r.dev)] if r.dev else None
                out.append(Step(ns.name, route(r, oif)))
        return out

    def neighbours(self) -> list[Step]:
        out: list[Step] = []
        macs = {ref: info.mac for infos in (self.existing, self.infos) for ref, info in infos.items()}
        for ns in self.delta.netns:
            for n in ns.neighs:
                lladdr = macs[n.lladdr_of] if n.lladdr_of else n.lladdr
                assert lladdr is not None
                req = add_neigh(self.index[LinkRef(ns.name, n.dev)], n.to, lladdr, n.entry)
                out.append(Step(ns.name, req))
        return out

    # -- sysctls ---------------------------------------------------------------------------

    def sysctls(self) -> None:
        """Every namespace's sysctls, in one job on the namespace worker."""
        todo = [ns for ns in self.delta.netns if ns.sysctl]
        targets = [(self.fds[ns.name], self.rtnl[ns.name].ns_ino, ns.sysctl) for ns in todo]
        try:
            nsmod.write_sysctls(targets)
        except nsmod.SysctlError as exc:
            ns = todo[exc.target]
            raise BuildError(f"{ns.entry}.sysctl.{exc.key}", exc.errno or 0, exc.strerror or str(exc)) from None

    # -- firewall tools --------------------------------------------------------------------

    def start_tool(self, ns: NetnsSpec, argv: list[str], entry: str, text: str) -> None:
        """Start ``argv INPUT`` in ``ns`` in the background, INPUT holding ``text``; its exit status
        is checked at the end of the build, and a build that fails meanwhile ends it (by its PID)."""
        if self._supervisor is None:  # the firewall tools' PID namespace (its own init)
            self._supervisor = proc.Supervisor(f"{self.spec.source}: firewall tools")
            self.undo.push("stop the firewall tools", self._supervisor.close)
        tool = FirewallTool(entry, argv, text, self.fds[ns.name], self._supervisor)
        self.undo.push(f"stop {argv[0]} in {ns.name}", tool.stop)
        self.tools.append(tool)

    def finish_tools(self) -> None:
        """Wait for every firewall tool; raise the first one's failure."""
        for tool in self.tools:
            tool.finish()
        if self._supervisor is not None:
            self._supervisor.close()  # they have all ended: so does their init

    def check_made(self, infos: dict[LinkRef, LinkInfo]) -> None:
        """Every new link is there under its name; keep what the kernel said of each."""
        for link in self.delta.links:
            info = infos.get(link.ref)
            if info is None or info.name != link.name:
                raise BuildError(link.entry, 0, f"link {link.ref} is missing after creation")
            self.infos[link.ref] = info

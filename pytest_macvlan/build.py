"""Build a :class:`TopologySpec` on the kernel, in new namespaces, in few netlink round trips.

Order: namespaces (IPv6 off unless asked, a netlink socket born inside each), links created
directly in their namespace with indexes chosen here, sysctls, bridge ports, addresses,
routes, then one link dump per namespace (MACs for handles and neighbour entries),
neighbour entries, firewall rules, and a bounded wait until every link that should have
carrier has it. Any failure undoes everything (closing the namespaces' descriptors
destroys them and all their links) and raises with the spec entry that failed.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Callable, Sequence
from functools import partial

from . import netns as nsmod
from . import proc
from .errors import BuildError
from .netlink import LinkInfo, Request, RtnlSocket
from .requests import add_address, add_neigh, add_route, bridge_port, create_link, link_up, set_link
from .spec import LinkRef, LinkSpec, NetnsSpec, TopologySpec
from .topology import IFF_LOWER_UP, Link, Netns, Topology
from .wait import wait_until

READY_TIMEOUT = 5.0
_FEATURE_OF_KIND = {"vlan": "8021q", "macvlan": "macvlan", "veth": "veth", "bridge": "bridge"}


def build(spec: TopologySpec) -> Topology:
    """Build ``spec``; the returned topology is ready (links up, carrier on, addresses set)."""
    topo = Topology(spec)
    try:
        _Builder(spec, topo).run()
    except BaseException:
        topo.close()
        raise
    return topo


class _Builder:
    def __init__(self, spec: TopologySpec, topo: Topology) -> None:
        self.spec = spec
        self.topo = topo
        self.fds: dict[str, int] = {}
        self.rtnl: dict[str, RtnlSocket] = {}
        self.index: dict[LinkRef, int] = {}
        self.infos: dict[LinkRef, LinkInfo] = {}

    def run(self) -> None:
        self.namespaces()
        self.assign_indexes()
        self.send_in_order(self.create_links())
        # A bridge opened before its ports are operationally up gets carrier later, through the
        # kernel's linkwatch (up to 1 s, dropping frames meanwhile). Ports first, then bridges.
        self.wait_ready(lambda link: link.kind == "veth")
        for ns in self.spec.netns:
            self.sysctls(ns)
        self.send_in_order(self.configure())
        self.dump()
        self.send_in_order(self.neighbours())
        for ns in self.spec.netns:
            self.firewall(ns)
        self.wait_ready(lambda link: True)

    # -- namespaces ------------------------------------------------------------------------

    def namespaces(self) -> None:
        specs = self.spec.netns

        def setup(i: int, fd: int) -> socket.socket:
            if not specs[i].ipv6:
                nsmod.write_sysctl("net.ipv6.conf.all.disable_ipv6", "1")
                nsmod.write_sysctl("net.ipv6.conf.default.disable_ipv6", "1")
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)

        made = nsmod.create(len(specs), setup)
        for ns_spec, (fd, sock) in zip(specs, made, strict=True):
            self.topo.undo.push(f"release namespace {ns_spec.name}", partial(os.close, fd))
            self.topo.undo.push(f"close netlink socket of {ns_spec.name}", sock.close)
        for ns_spec, (fd, sock) in zip(specs, made, strict=True):
            rtnl = RtnlSocket(fd, sock)
            self.fds[ns_spec.name] = fd
            self.rtnl[ns_spec.name] = rtnl
            self.topo._add_netns(Netns(self.topo, ns_spec.name, fd, rtnl))

    def assign_indexes(self) -> None:
        # Unique across the topology (1 is every namespace's lo): a link whose index equals
        # its peer's or parent's gets its carrier changes handled late by the kernel's linkwatch.
        for i, link in enumerate(self.spec.links, start=2):
            self.index[link.ref] = i

    # -- links -----------------------------------------------------------------------------

    def create_links(self) -> list[tuple[str, Request]]:
        out: list[tuple[str, Request]] = [(name, link_up(1, f"netns.{name}: lo up")) for name in self.fds]
        done: set[LinkRef] = set()
        pending = [link for link in self.spec.links if not link.is_peer]
        while pending:
            later: list[LinkSpec] = []
            for link in pending:
                if link.parent is not None and link.parent not in done:
                    later.append(link)
                    continue
                out.append(self.create(link))
                done.add(link.ref)
                if link.peer is not None:
                    done.add(link.peer)
                    peer = self.spec.link(link.peer)
                    if peer.up:  # before anything is stacked on it, so carrier is there at once
                        out.append((peer.netns, set_link(self.index[peer.ref], f"{peer.entry}: up", up=True)))
            if len(later) == len(pending):  # the parser rejects cycles; this is a safety net
                raise BuildError(later[0].entry, 0, "cannot order link creation (cycle of parents)")
            pending = later
        return out

    def create(self, link: LinkSpec) -> tuple[str, Request]:
        feature = _FEATURE_OF_KIND[link.kind]
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
            return link.netns, req
        if link.parent is not None:
            # Created from the parent's namespace, directly into its own (no move afterwards).
            creator = link.parent.netns
            req = create_link(
                link,
                self.index[link.ref],
                parent_index=self.index[link.parent],
                netns_fd=self.fds[link.netns] if link.netns != creator else None,
            )
            req.feature = feature
            return creator, req
        req = create_link(link, self.index[link.ref], up=False)  # a bridge goes up after its ports
        req.feature = feature
        return link.netns, req

    def configure(self) -> list[tuple[str, Request]]:
        out: list[tuple[str, Request]] = []
        for link in self.spec.links:
            idx = self.index[link.ref]
            if link.master is not None:
                master = self.index[LinkRef(link.netns, link.master)]
                out.append((link.netns, set_link(idx, f"{link.entry}.master", master=master)))
                if link.hairpin is not None:
                    out.append((link.netns, bridge_port(idx, f"{link.entry}.hairpin", hairpin=link.hairpin)))
        for link in self.spec.links:
            if link.kind == "bridge" and link.up:
                out.append((link.netns, set_link(self.index[link.ref], f"{link.entry}: up", up=True)))
        for link in self.spec.links:
            for addr in link.addrs:
                out.append((link.netns, add_address(self.index[link.ref], addr, f"{link.entry}.addr ({addr})")))
        for ns in self.spec.netns:
            for route in ns.routes:
                oif = self.index[LinkRef(ns.name, route.dev)] if route.dev else None
                out.append((ns.name, add_route(route, oif)))
        return out

    def neighbours(self) -> list[tuple[str, Request]]:
        out: list[tuple[str, Request]] = []
        for ns in self.spec.netns:
            for n in ns.neighs:
                lladdr = n.lladdr or self.infos[n.lladdr_of].mac if n.lladdr_of else n.lladdr
                assert lladdr is not None
                out.append((ns.name, add_neigh(self.index[LinkRef(ns.name, n.dev)], n.to, lladdr, n.entry)))
        return out

    def send_in_order(self, ordered: Sequence[tuple[str, Request]]) -> None:
        """Send runs of requests for one namespace as one batch, in order."""
        i = 0
        while i < len(ordered):
            ns = ordered[i][0]
            j = i
            while j < len(ordered) and ordered[j][0] == ns:
                j += 1
            self.rtnl[ns].apply_or_raise([req for _, req in ordered[i:j]])
            i = j

    # -- the rest --------------------------------------------------------------------------

    def sysctls(self, ns: NetnsSpec) -> None:
        if not ns.sysctl:
            return

        def write() -> None:
            for key, value in ns.sysctl:
                try:
                    nsmod.write_sysctl(key, value)
                except OSError as exc:
                    raise BuildError(
                        f"{ns.entry}.sysctl.{key}", exc.errno or 0, f"cannot set {key}={value}: {exc.strerror or exc}"
                    ) from None

        nsmod.run_in(self.fds[ns.name], write)

    def dump(self) -> None:
        for name, rtnl in self.rtnl.items():
            by_name = {info.name: info for info in rtnl.dump_links()}
            for link in self.spec.links:
                if link.netns != name:
                    continue
                info = by_name.get(link.name)
                if info is None or info.index != self.index[link.ref]:
                    raise BuildError(link.entry, 0, f"link {link.ref} is missing after creation")
                self.infos[link.ref] = info
                self.topo._add_link(Link(self.topo.netns(name), link, info))

    def firewall(self, ns: NetnsSpec) -> None:
        fd = self.fds[ns.name]
        if ns.iptables:
            # One iptables-restore for all rules (one process, one commit), not one iptables each.
            self._tool(
                fd,
                ["iptables-restore", "-w", "--noflush"],
                f"{ns.entry}.iptables",
                input=iptables_restore_text(ns.iptables),
            )
        if ns.nft:
            self._tool(fd, ["nft", "-f", "-"], f"{ns.entry}.nft", input=ns.nft)

    def _tool(self, fd: int, argv: list[str], entry: str, input: str | None = None) -> None:
        try:
            done = proc.run(fd, argv, check=False, timeout=30, input=input)
        except FileNotFoundError:
            raise BuildError(entry, 2, "nsenter is not installed (Debian package util-linux)") from None
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip()
            if "No such file" in err and argv[0] in err:
                err = f"{argv[0]} is not installed (apt-get install {argv[0]}): {err}"
            raise BuildError(entry, done.returncode, f"`{' '.join(argv)}` failed: {err}")

    def expects_carrier(self, link: LinkSpec) -> bool:
        if not link.up:
            return False
        if link.kind == "veth":
            assert link.peer is not None
            return self.spec.link(link.peer).up
        if link.kind == "bridge":
            ports = [p for p in self.spec.links if p.netns == link.netns and p.master == link.name]
            return any(self.expects_carrier(p) for p in ports)
        assert link.parent is not None
        return self.expects_carrier(self.spec.link(link.parent))

    def wait_ready(self, which: Callable[[LinkSpec], bool]) -> None:
        """Wait (bounded) until the chosen links that should carry are up with carrier and
        operationally up (the kernel has finished bringing them up: their queues pass frames)."""
        want = {link.ref for link in self.spec.links if which(link) and self.expects_carrier(link)}
        if not want:
            return

        def probe() -> dict[LinkRef, LinkInfo]:
            infos: dict[LinkRef, LinkInfo] = {}
            for name in sorted({r.netns for r in want}):
                by_index = {i.index: i for i in self.rtnl[name].dump_links()}
                infos.update(
                    {r: by_index[self.index[r]] for r in want if r.netns == name and self.index[r] in by_index}
                )
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

        try:
            wait_until(
                probe,
                lambda infos: not not_ready(infos),
                timeout=READY_TIMEOUT,
                what="links up with carrier",
                show=show,
            )
        except AssertionError as exc:
            raise BuildError(self.spec.entry_of(min(want)), 0, str(exc)) from None


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


def iptables_restore_text(rules: Sequence[tuple[str, ...]]) -> str:
    """``iptables ARGS`` lines as ``iptables-restore`` input: ``-P C P`` becomes ``:C P``, ``-t T`` a section."""
    tables: dict[str, list[str]] = {}
    for rule in rules:
        args = list(rule)
        table = "filter"
        for flag in ("-t", "--table"):
            if flag in args:
                i = args.index(flag)
                table = args[i + 1] if i + 1 < len(args) else table
                del args[i : i + 2]
        if args[:1] in (["-P"], ["--policy"]) and len(args) == 3:
            line = f":{args[1]} {args[2]} [0:0]"
        elif args[:1] in (["-N"], ["--new-chain"]) and len(args) == 2:
            line = f":{args[1]} - [0:0]"
        else:
            line = " ".join(shlex.quote(a) for a in args)
        tables.setdefault(table, []).append(line)
    return "".join(f"*{t}\n" + "\n".join(lines) + "\nCOMMIT\n" for t, lines in tables.items())

"""A text picture of a topology: one box per namespace, one line per link.

A pure function of a :class:`TopologySpec`, plus optional :class:`Live` facts from a built
topology (interface indexes, MACs, the macvlan mode the kernel reports, the names a kept
topology's namespaces have under ``/run/netns``). ASCII only, so it survives any terminal,
log file and JUnit XML. No pytest, no kernel access here::

    topology pair.toml
    +-- netns a ------------------------------------------+
    | v0   veth   peer b/v0   192.168.9.2/24             |
    +-----------------------------------------------------+
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pytest_macvlan.spec.model import LinkRef, LinkSpec, NetnsSpec, TopologySpec


@dataclass(frozen=True)
class LiveLink:
    """What the kernel said about a built link."""

    ifindex: int
    mac: str
    mode: str | None = None


@dataclass(frozen=True)
class Live:
    """Facts about a built (or kept) topology that the spec alone does not have."""

    links: Mapping[LinkRef, LiveLink] = field(default_factory=dict)
    netns_names: Mapping[str, str] = field(default_factory=dict)  # spec name -> name in /run/netns


class _LinkHandle(Protocol):
    @property
    def ref(self) -> str: ...
    @property
    def ifindex(self) -> int: ...
    @property
    def mac(self) -> str: ...
    @property
    def mode(self) -> str | None: ...


class _TopologyHandle(Protocol):
    @property
    def links(self) -> Sequence[_LinkHandle]: ...


def live_of(topo: _TopologyHandle, netns_names: Mapping[str, str] | None = None) -> Live:
    """The :class:`Live` facts of a built :class:`~pytest_macvlan.topology.Topology`."""
    links: dict[LinkRef, LiveLink] = {}
    for link in topo.links:
        ns, _, name = link.ref.partition("/")
        try:  # handles are live: a link a program deleted has nothing to show
            links[LinkRef(ns, name)] = LiveLink(link.ifindex, link.mac, link.mode)
        except LookupError:
            continue
    return Live(links=links, netns_names=dict(netns_names or {}))


def _rel(ref: LinkRef, here: str) -> str:
    """``name`` in the same namespace, ``netns/name`` across namespaces (the spec's own notation)."""
    return ref.name if ref.netns == here else str(ref)


def kind_text(link: LinkSpec, live: LiveLink | None) -> str:
    """``macvlan private``, ``macvlan vepa (default)``, ``vlan 11``, ``bridge``: a link's kind as shown."""
    if link.kind == "macvlan":
        if live is not None and live.mode:
            mode = live.mode if link.mode else f"{live.mode} (default)"
        else:
            mode = link.mode or "vepa (default)"
        return f"macvlan {mode}"
    if link.kind == "vlan":
        return f"vlan {link.vlan_id}"
    return link.kind


def _relations(link: LinkSpec, spec: TopologySpec) -> str:
    here = link.netns
    parts: list[str] = []
    if link.peer is not None:
        parts.append(f"peer {_rel(link.peer, here)}")
    if link.parent is not None:
        parts.append(f"on {_rel(link.parent, here)}")
    if link.kind == "bridge":
        ports = [p for p in spec.links if p.netns == here and p.master == link.name]
        names = [p.name + (" (hairpin)" if p.hairpin else "") for p in ports]
        parts.append("ports " + ", ".join(names) if names else "no ports")
    if link.master is not None:
        parts.append(f"port of {link.master}" + (", hairpin on" if link.hairpin else ""))
    if link.macaddr:
        parts.append("accepts " + ", ".join(link.macaddr))
    return "; ".join(parts)


def _details(link: LinkSpec, live: LiveLink | None) -> str:
    parts = [str(a) for a in link.addrs]
    if live is not None:
        parts.append(f"#{live.ifindex} {live.mac}")
    elif link.address:
        parts.append(link.address)
    if link.mtu is not None:
        parts.append(f"mtu {link.mtu}")
    if link.promisc:
        parts.append("promisc")
    if not link.up:
        parts.append("DOWN")
    return "  ".join(parts)


def netns_lines(ns: NetnsSpec) -> list[str]:
    """A namespace's routes, neighbours, sysctls and firewall, one line each."""
    lines: list[str] = []
    for r in ns.routes:
        words = [f"route {'default' if r.to.prefixlen == 0 else r.to}"]
        if r.via is not None:
            words.append(f"via {r.via}")
        if r.dev is not None:
            words.append(f"dev {r.dev}")
        if r.metric is not None:
            words.append(f"metric {r.metric}")
        lines.append(" ".join(words))
    for n in ns.neighs:
        lladdr = n.lladdr or (f"(MAC of {n.lladdr_of})" if n.lladdr_of else "?")
        lines.append(f"neigh {n.to} lladdr {lladdr} dev {n.dev}")
    lines.extend(f"sysctl {key} = {value}" for key, value in ns.sysctl)
    if ns.iptables:
        lines.append(f"iptables: {len(ns.iptables)} rule(s)")
    if ns.nft:
        lines.append("nft: a ruleset")
    if ns.ipv6:
        lines.append("ipv6 on")
    return lines


def _table(rows: Iterable[tuple[str, ...]]) -> list[str]:
    rows = list(rows)
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render(spec: TopologySpec, live: Live | None = None) -> str:
    """The diagram of ``spec`` (with ``live`` facts of a built topology, when given).

    The spec's free-text description is not part of it (``show`` prints it above).
    """
    live = live or Live()
    title = f"topology {spec.source}"
    rows = [
        (
            link.name,
            kind_text(link, live.links.get(link.ref)),
            _relations(link, spec),
            _details(link, live.links.get(link.ref)),
        )
        for link in spec.links
    ]
    lines = _table(rows)
    by_ns: dict[str, list[str]] = {ns.name: [] for ns in spec.netns}
    for link, line in zip(spec.links, lines, strict=True):
        by_ns[link.netns].append(line)
    bodies: list[tuple[str, list[str]]] = []
    for ns in spec.netns:
        head = f"netns {ns.name}"
        kept = live.netns_names.get(ns.name)
        if kept:
            head += f" = {kept}"
        if ns.emulates:
            head += f" [emulated: {ns.emulates}]"
        body = by_ns[ns.name] or ["(no links)"]
        bodies.append((head, body + [f"- {line}" for line in netns_lines(ns)]))
    width = max([len(t) + 6 for t, _ in bodies] + [len(line) + 4 for _, body in bodies for line in body] + [40])
    out = [title]
    for head, body in bodies:
        out.append(f"+-- {head} ".ljust(width - 1, "-") + "+")
        out.extend(f"| {line}".ljust(width - 1) + "|" for line in body)
        out.append("+" + "-" * (width - 2) + "+")
    return "\n".join(out)

"""The validated, immutable form of a topology spec.

Everything here has been checked by :mod:`pytest_macvlan.parse`; the builder trusts it.
Vocabulary follows iproute2: ``type``, ``link`` (parent), ``mode``, ``master``, ``address``
(MAC), ``addr`` (IP addresses), ``mtu``, ``hairpin``, ``to``/``via``/``dev``, ``lladdr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from typing import Any, Literal

Kind = Literal["bridge", "veth", "vlan", "macvlan", "macvtap", "ipvlan", "vxlan", "dummy", "vrf", "bond", "tap"]
KINDS: tuple[Kind, ...] = (
    "bridge",
    "veth",
    "vlan",
    "macvlan",
    "macvtap",
    "ipvlan",
    "vxlan",
    "dummy",
    "vrf",
    "bond",
    "tap",
)
#: Kinds stacked on a parent link (``link = "..."``); vxlan's parent is optional.
STACKED: frozenset[str] = frozenset({"vlan", "macvlan", "macvtap", "ipvlan"})
#: Kinds other links can be enslaved to with ``master = "..."``.
MASTERS: frozenset[str] = frozenset({"bridge", "bond", "vrf"})
#: The kernel's macvlan modes and their ``IFLA_MACVLAN_MODE`` values (``if_link.h``).
MACVLAN_MODES: dict[str, int] = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
MACVLAN_MODE_NAMES: dict[int, str] = {v: k for k, v in MACVLAN_MODES.items()}
MACVLAN_FLAG_NOPROMISC = 1
MACVLAN_FLAG_NODST = 2
#: ipvlan modes (``IFLA_IPVLAN_MODE``) and isolation flags (``IFLA_IPVLAN_FLAGS``).
IPVLAN_MODES: dict[str, int] = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_FLAGS: dict[str, int] = {"bridge": 0, "private": 1, "vepa": 2}
#: Bonding modes (``IFLA_BOND_MODE``) by the names iproute2 takes.
BOND_MODES: dict[str, int] = {
    "balance-rr": 0,
    "active-backup": 1,
    "balance-xor": 2,
    "broadcast": 3,
    "802.3ad": 4,
    "balance-tlb": 5,
    "balance-alb": 6,
}
#: VLAN tag protocols (``IFLA_VLAN_PROTOCOL``, ``IFLA_BR_VLAN_PROTOCOL``).
VLAN_PROTOCOLS: dict[str, int] = {"802.1Q": 0x8100, "802.1ad": 0x88A8}
#: Bridge-port flags a spec may set (``bridge link set dev X FLAG on|off``), by iproute2's names.
PORT_FLAGS: tuple[str, ...] = ("hairpin", "isolated", "learning", "flood", "mcast_flood", "neigh_suppress")

IPInterface = IPv4Interface | IPv6Interface
IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True, order=True)
class LinkRef:
    """A link named by its namespace and name: ``LinkRef("ns1", "macvl1")`` is ``ns1/macvl1``."""

    netns: str
    name: str

    def __str__(self) -> str:
        return f"{self.netns}/{self.name}"


@dataclass(frozen=True)
class BridgeVlanSpec:
    """``bridge vlan add dev PORT vid VID [pvid] [untagged]`` (``self`` on the bridge itself)."""

    vid: int
    pvid: bool = False
    untagged: bool = False


@dataclass(frozen=True)
class LinkSpec:
    """One interface. A veth pair is two of these, the second with ``is_peer`` set.

    Kind-specific fields are None (or empty) for the kinds they do not apply to; the parser
    refuses them there. ``mode`` is the macvlan/macvtap, ipvlan or bond mode by name;
    ``port`` holds bridge-port flags (``hairpin`` is kept in its own field as before).
    """

    ref: LinkRef
    kind: Kind
    entry: str
    parent: LinkRef | None = None
    mode: str | None = None
    macaddr: tuple[str, ...] = ()
    vlan_id: int | None = None
    peer: LinkRef | None = None
    is_peer: bool = False
    address: str | None = None
    addrs: tuple[IPInterface, ...] = ()
    mtu: int | None = None
    up: bool = True
    promisc: bool = False
    master: str | None = None
    hairpin: bool | None = None
    ageing_time: int | None = None
    stp: bool | None = None
    allmulticast: bool | None = None
    # macvlan / macvtap
    nodst: bool = False
    nopromisc: bool = False
    bcqueuelen: int | None = None
    # vlan
    vlan_protocol: str | None = None
    # ipvlan: "bridge" (default), "private" or "vepa"
    ipvlan_flag: str | None = None
    # bridge
    vlan_filtering: bool | None = None
    vlan_default_pvid: int | None = None
    bridge_vlan_protocol: str | None = None
    mcast_snooping: bool | None = None
    # bridge port (and VLAN entries of a port, or of a bridge itself)
    port: tuple[tuple[str, bool], ...] = ()
    vlans: tuple[BridgeVlanSpec, ...] = ()
    # vxlan
    vni: int | None = None
    dstport: int | None = None
    remote: IPAddress | None = None
    local: IPAddress | None = None
    group: IPAddress | None = None
    learning: bool | None = None
    # vrf
    table: int | None = None

    @property
    def netns(self) -> str:
        return self.ref.netns

    @property
    def name(self) -> str:
        return self.ref.name


@dataclass(frozen=True)
class RouteSpec:
    """``ip route add TO [via VIA] [dev DEV] [metric METRIC]`` in one namespace."""

    entry: str
    to: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None


@dataclass(frozen=True)
class NeighSpec:
    """``ip neigh add TO lladdr LLADDR dev DEV nud permanent``; ``lladdr`` may name a link."""

    entry: str
    to: IPAddress
    dev: str
    lladdr: str | None = None
    lladdr_of: LinkRef | None = None


@dataclass(frozen=True)
class FdbSpec:
    """``bridge fdb add LLADDR dev DEV [master|self] [static|dynamic] [sticky] [vlan VID] [dst IP]``."""

    entry: str
    lladdr: str
    dev: str
    master: bool = True
    state: str = "static"
    sticky: bool = False
    vlan: int | None = None
    dst: IPAddress | None = None


@dataclass(frozen=True)
class NetnsSpec:
    """One network namespace: its sysctls, firewall rules, routes, neighbour and FDB entries.

    With ``ipv6`` the build waits until duplicate address detection has finished on every
    address; ``nodad`` adds the addresses without it (``ip addr add ... nodad``).
    """

    name: str
    entry: str
    ipv6: bool = False
    sysctl: tuple[tuple[str, str], ...] = ()
    iptables: tuple[tuple[str, ...], ...] = ()
    nft: str | None = None
    routes: tuple[RouteSpec, ...] = ()
    neighs: tuple[NeighSpec, ...] = ()
    fdb: tuple[FdbSpec, ...] = ()
    nodad: bool = False
    #: What this namespace stands in for when it emulates part of a reference setup (a LAN
    #: switch, a public host...): shown in diagrams; no effect on the build.
    emulates: str | None = None
    #: Build without the ``iptables`` rules on a kernel that has no iptables backend at all
    #: (user-mode Linux 7.2), instead of skipping the topology: for rules that change nothing
    #: the tests look at. Tests of the rules themselves mark ``requires_kernel("iptables")``.
    iptables_optional: bool = False


@dataclass(frozen=True)
class TopologySpec:
    """A whole topology. ``source`` names where it came from, for messages."""

    source: str
    netns: tuple[NetnsSpec, ...]
    links: tuple[LinkSpec, ...]
    description: str = ""
    #: The document it was parsed from (a private deep copy), so that a fragment applied at run
    #: time can be validated together with it (:mod:`pytest_macvlan.spec.fragment`).
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _by_ref: dict[LinkRef, LinkSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_ref.update({link.ref: link for link in self.links})

    def link(self, ref: LinkRef) -> LinkSpec:
        """The link ``ref`` (``KeyError`` if the spec has none)."""
        return self._by_ref[ref]

    def netns_spec(self, name: str) -> NetnsSpec:
        """The namespace ``name`` (``KeyError`` if the spec has none)."""
        for ns in self.netns:
            if ns.name == name:
                return ns
        raise KeyError(name)

    def entry_of(self, ref: LinkRef) -> str:
        """The spec entry (``netns.ns1.link.macvl1``) that declared ``ref``, for messages."""
        return self._by_ref[ref].entry

    def kinds(self) -> frozenset[str]:
        """The link kinds the spec uses, with ``macvlan:MODE`` (a mode-less macvlan is the kernel's
        vepa) and the kernel features some options need (``vlan_filtering``, ``8021ad``)."""
        needs: set[str] = set()
        for link in self.links:
            needs.add(link.kind)
            if link.kind == "macvlan":
                needs.add(f"macvlan:{link.mode or 'vepa'}")
            if link.vlan_filtering or link.vlans:
                needs.add("vlan_filtering")
            if "802.1ad" in (link.vlan_protocol, link.bridge_vlan_protocol):
                needs.add("8021ad")
        return frozenset(needs)

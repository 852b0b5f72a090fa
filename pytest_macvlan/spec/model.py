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

Kind = Literal["bridge", "veth", "vlan", "macvlan"]
KINDS: tuple[Kind, ...] = ("bridge", "veth", "vlan", "macvlan")
#: The kernel's macvlan modes and their ``IFLA_MACVLAN_MODE`` values (``if_link.h``).
MACVLAN_MODES: dict[str, int] = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
MACVLAN_MODE_NAMES: dict[int, str] = {v: k for k, v in MACVLAN_MODES.items()}

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
class LinkSpec:
    """One interface. A veth pair is two of these, the second with ``is_peer`` set."""

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
class NetnsSpec:
    """One network namespace: its sysctls, firewall rules, routes and neighbour entries."""

    name: str
    entry: str
    ipv6: bool = False
    sysctl: tuple[tuple[str, str], ...] = ()
    iptables: tuple[tuple[str, ...], ...] = ()
    nft: str | None = None
    routes: tuple[RouteSpec, ...] = ()
    neighs: tuple[NeighSpec, ...] = ()


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
        """The link kinds (and ``macvlan:MODE``; a mode-less macvlan is the kernel's vepa) the spec uses."""
        needs: set[str] = set()
        for link in self.links:
            needs.add(link.kind)
            if link.kind == "macvlan":
                needs.add(f"macvlan:{link.mode or 'vepa'}")
        return frozenset(needs)

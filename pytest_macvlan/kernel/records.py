"""What the kernel says, as small typed frozen records: links, addresses, routes, neighbours,
FDB and MDB entries, bridge VLANs; and the names ``ip`` prints for the kernel's numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address
from typing import SupportsIndex, overload

from pytest_macvlan.kernel.ifla import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_HOMEADDRESS,
    IFA_F_MANAGETEMPADDR,
    IFA_F_MCAUTOJOIN,
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFA_F_OPTIMISTIC,
    IFA_F_PERMANENT,
    IFA_F_SECONDARY,
    IFA_F_STABLE_PRIVACY,
    IFA_F_TENTATIVE,
    IFF_ALLMULTI,
    NTF_EXT_LEARNED,
    NTF_MASTER,
    NTF_OFFLOADED,
    NTF_PROXY,
    NTF_ROUTER,
    NTF_SELF,
    NTF_STICKY,
    NTF_USE,
    NUD_DELAY,
    NUD_FAILED,
    NUD_INCOMPLETE,
    NUD_NOARP,
    NUD_PROBE,
    NUD_REACHABLE,
    NUD_STALE,
)
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, IFF_PROMISC, IFF_UP, NUD_PERMANENT

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface

#: Names as ``ip`` prints them.
OPERSTATES = {0: "UNKNOWN", 1: "NOTPRESENT", 2: "DOWN", 3: "LOWERLAYERDOWN", 4: "TESTING", 5: "DORMANT", 6: "UP"}
MACVLAN_MODE_NAMES = {1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"}
MACVLAN_FLAG_NOPROMISC = 1
MACVLAN_FLAG_NODST = 2
IPVLAN_MODE_NAMES = {0: "l2", 1: "l3", 2: "l3s"}
IPVLAN_F_PRIVATE = 0x01
IPVLAN_F_VEPA = 0x02
BOND_MODE_NAMES = {
    0: "balance-rr",
    1: "active-backup",
    2: "balance-xor",
    3: "broadcast",
    4: "802.3ad",
    5: "balance-tlb",
    6: "balance-alb",
}
VLAN_PROTOCOL_NAMES = {0x8100: "802.1Q", 0x88A8: "802.1ad"}
BR_STATE_NAMES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
IFA_FLAG_NAMES = {
    IFA_F_SECONDARY: "secondary",
    IFA_F_NODAD: "nodad",
    IFA_F_OPTIMISTIC: "optimistic",
    IFA_F_DADFAILED: "dadfailed",
    IFA_F_HOMEADDRESS: "home",
    IFA_F_DEPRECATED: "deprecated",
    IFA_F_TENTATIVE: "tentative",
    IFA_F_PERMANENT: "permanent",
    IFA_F_MANAGETEMPADDR: "mngtmpaddr",
    IFA_F_NOPREFIXROUTE: "noprefixroute",
    IFA_F_MCAUTOJOIN: "autojoin",
    IFA_F_STABLE_PRIVACY: "stable-privacy",
}
NUD_NAMES = {
    NUD_INCOMPLETE: "INCOMPLETE",
    NUD_REACHABLE: "REACHABLE",
    NUD_STALE: "STALE",
    NUD_DELAY: "DELAY",
    NUD_PROBE: "PROBE",
    NUD_FAILED: "FAILED",
    NUD_NOARP: "NOARP",
    NUD_PERMANENT: "PERMANENT",
}
NTF_NAMES = {
    NTF_USE: "use",
    NTF_SELF: "self",
    NTF_MASTER: "master",
    NTF_PROXY: "proxy",
    NTF_EXT_LEARNED: "extern_learn",
    NTF_OFFLOADED: "offload",
    NTF_STICKY: "sticky",
    NTF_ROUTER: "router",
}
RT_SCOPE_NAMES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
RTN_NAMES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole", 7: "unreachable"}
RTPROT_NAMES = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 16: "dhcp"}
RT_TABLE_LOCAL = 255


def flag_names(value: int, names: Mapping[int, str]) -> tuple[str, ...]:
    """The names of the bits set in ``value`` (unknown bits as ``0x..``), lowest first."""
    out = [name for bit, name in sorted(names.items()) if value & bit]
    rest = value & ~sum(names)
    if rest:
        out.append(f"0x{rest:x}")
    return tuple(out)


# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkState:
    """One link as ``RTM_NEWLINK`` describes it, decoded (``ip -d link show``).

    ``mode`` is the kind's mode by name: macvlan/macvtap ``private|vepa|bridge|passthru|source``,
    ipvlan ``l2|l3|l3s``, bond ``balance-rr|active-backup|...``. ``data`` holds the rest of the
    kind's attributes by iproute2's names (``vlan_filtering``, ``nodst``, ``bcqueuelen``,
    ``vni``, ...); ``port`` the bridge-port attributes of a bridge's port (``hairpin``,
    ``learning``, ``flood``, ``mcast_flood``, ``neigh_suppress``, ``isolated``, ``state``).
    ``master`` and ``parent`` are interface indexes (``parent`` may be in another namespace:
    ``link_netnsid`` says which, as the kernel numbers it).
    """

    index: int
    name: str
    flags: int
    kind: str = ""
    mac: str = ""
    broadcast: str = ""
    mtu: int = 0
    operstate: str = "UNKNOWN"
    carrier: bool = False
    master: int | None = None
    parent: int | None = None
    link_netnsid: int | None = None
    txqlen: int = 0
    promiscuity: int = 0
    allmulti: int = 0
    mode: str | None = None
    vlan_id: int | None = None
    vlan_protocol: str | None = None
    slave_kind: str = ""
    data: Mapping[str, int | str] = field(default_factory=dict, hash=False)
    port: Mapping[str, int | str] = field(default_factory=dict, hash=False)

    @property
    def is_up(self) -> bool:
        """The administrative state (``IFF_UP``: ``ip link set ... up``)."""
        return bool(self.flags & IFF_UP)

    @property
    def lower_up(self) -> bool:
        """``IFF_LOWER_UP``: the link has carrier as ``ip link`` shows it (``LOWER_UP``)."""
        return bool(self.flags & IFF_LOWER_UP)

    @property
    def promisc(self) -> bool:
        """``IFF_PROMISC`` set by the user (``ip link set ... promisc on``)."""
        return bool(self.flags & IFF_PROMISC)

    @property
    def allmulticast(self) -> bool:
        """``IFF_ALLMULTI`` set by the user (``ip link set ... allmulticast on``)."""
        return bool(self.flags & IFF_ALLMULTI)


@dataclass(frozen=True)
class Address:
    """One address (``ip addr``): ``interface`` holds address and prefix; ``flags`` the IFA_F_* bits."""

    index: int
    interface: IPInterface
    scope: str
    flags: int
    label: str = ""
    peer: IPAddress | None = None

    @property
    def address(self) -> IPAddress:
        return self.interface.ip

    @property
    def family(self) -> int:
        return self.interface.version

    @property
    def flag_names(self) -> tuple[str, ...]:
        return flag_names(self.flags, IFA_FLAG_NAMES)

    @property
    def tentative(self) -> bool:
        """DAD has not finished (IPv6): the address cannot be used as a source yet."""
        return bool(self.flags & IFA_F_TENTATIVE) and not self.flags & IFA_F_DADFAILED

    @property
    def dadfailed(self) -> bool:
        """DAD found the address in use elsewhere (IPv6): it will never be usable."""
        return bool(self.flags & IFA_F_DADFAILED)

    def __str__(self) -> str:
        extra = " ".join(n for n in self.flag_names if n != "permanent")
        return f"{self.interface} scope {self.scope}{' ' + extra if extra else ''}"


@dataclass(frozen=True)
class Route:
    """One route (``ip route``); ``dst`` is a network (``0.0.0.0/0`` for the default)."""

    dst: IPv4Interface | IPv6Interface | object
    table: int
    protocol: str
    scope: str
    type: str
    oif: int | None = None
    gateway: IPAddress | None = None
    prefsrc: IPAddress | None = None
    metric: int | None = None

    @property
    def family(self) -> int:
        return int(getattr(self.dst, "version", 0))

    @property
    def is_default(self) -> bool:
        return getattr(self.dst, "prefixlen", -1) == 0

    def __str__(self) -> str:
        dst = "default" if self.is_default else str(self.dst)
        parts = [dst]
        if self.gateway is not None:
            parts.append(f"via {self.gateway}")
        if self.oif is not None:
            parts.append(f"oif {self.oif}")
        parts.append(f"proto {self.protocol} scope {self.scope}")
        if self.metric is not None:
            parts.append(f"metric {self.metric}")
        return " ".join(parts)


@dataclass(frozen=True)
class Neighbour:
    """One neighbour entry (``ip neigh``, IPv4 and IPv6)."""

    index: int
    dst: IPAddress
    lladdr: str | None
    state: int
    flags: int = 0

    @property
    def state_names(self) -> tuple[str, ...]:
        return flag_names(self.state, NUD_NAMES)

    @property
    def family(self) -> int:
        return self.dst.version

    def __str__(self) -> str:
        ll = f" lladdr {self.lladdr}" if self.lladdr else ""
        return f"{self.dst} ifindex {self.index}{ll} {' '.join(self.state_names)}"


@dataclass(frozen=True)
class FdbEntry:
    """One bridge forwarding-database entry (``bridge fdb``).

    ``index`` is the port (or the bridge itself for its own addresses); ``master`` the bridge;
    ``local`` means the address is the bridge's own (``permanent``), ``static`` a user's static
    entry, else it was learned (``dynamic``).
    """

    index: int
    mac: str
    state: int
    flags: int
    vlan: int | None = None
    master: int | None = None
    dst: IPAddress | None = None

    @property
    def flag_names(self) -> tuple[str, ...]:
        return flag_names(self.flags, NTF_NAMES)

    @property
    def local(self) -> bool:
        return bool(self.state & NUD_PERMANENT)

    @property
    def static(self) -> bool:
        return bool(self.state & NUD_NOARP) and not self.state & NUD_PERMANENT

    @property
    def dynamic(self) -> bool:
        return not self.state & (NUD_PERMANENT | NUD_NOARP)

    @property
    def sticky(self) -> bool:
        return bool(self.flags & NTF_STICKY)

    def __str__(self) -> str:
        kind = "permanent" if self.local else "static" if self.static else "dynamic"
        vlan = f" vlan {self.vlan}" if self.vlan is not None else ""
        master = f" master {self.master}" if self.master is not None else ""
        return f"{self.mac} ifindex {self.index}{vlan}{master} {kind} {' '.join(self.flag_names)}".rstrip()


@dataclass(frozen=True)
class MdbEntry:
    """One bridge multicast-database entry (``bridge mdb``): ``port`` has joined ``group``."""

    bridge: int
    port: int
    group: IPAddress | str
    vid: int
    permanent: bool

    def __str__(self) -> str:
        vid = f" vid {self.vid}" if self.vid else ""
        return f"dev {self.bridge} port {self.port} grp {self.group}{vid} {'permanent' if self.permanent else 'temp'}"


@dataclass(frozen=True)
class BridgeVlan:
    """One VLAN entry of a bridge port, or of the bridge itself (``bridge vlan``)."""

    index: int
    vid: int
    pvid: bool
    untagged: bool


class NeighbourTable(list[Neighbour]):
    """Neighbour records (IPv4 and IPv6), a list; indexed by an address it is a mapping to MACs:
    ``table["192.168.9.3"]`` (``KeyError`` if it has none), ``table.get(...)``, ``"..." in table``."""

    def get(self, dst: str, default: str | None = None) -> str | None:
        """The MAC of the entry for ``dst``, or ``default``."""
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

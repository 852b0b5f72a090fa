"""What the kernel says now: rtnetlink dumps decoded into small, typed, frozen records.

Links, addresses (IPv4 and IPv6, with their DAD flags), routes, neighbours (IPv4 and IPv6),
a bridge's forwarding database and its multicast database, and bridge VLAN entries, each read
over a namespace's own netlink socket (:class:`~pytest_macvlan.kernel.rtnl.RtnlSocket`): no
``ip`` process, nothing that could touch another namespace.

The decoders are hand-written with :mod:`struct` rather than pyroute2's: a live ``Link``
property is one ``RTM_GETLINK`` for one link, and pyroute2's generic parser costs several
times the round trip itself (``benchmarks/run.py --only live`` measures both). Each record
decodes the kernel's numbers into the names iproute2 prints (macvlan mode ``"private"``,
operstate ``"UP"``, VLAN protocol ``"802.1ad"``), and keeps the raw numbers where a test may
want them (``flags``).
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_network
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_macvlan.kernel.rtnl import RtnlSocket

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface

# -- constants (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h, neighbour.h, if_bridge.h) --
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLM_F_ACK_TLVS = 0x200
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
RTM_NEWMDB = 84
RTM_GETMDB = 86
AF_BRIDGE = 7
IFLA_EXT_MASK = 29
RTEXT_FILTER_BRVLAN = 1 << 1
RTEXT_FILTER_SKIP_STATS = 1 << 3

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_NOARP = 0x80
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
IFF_MULTICAST = 0x1000
IFF_LOWER_UP = 0x10000
IFF_DORMANT = 0x20000

IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
IFA_F_STABLE_PRIVACY = 0x800

NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NTF_USE = 0x01
NTF_SELF = 0x02
NTF_MASTER = 0x04
NTF_PROXY = 0x08
NTF_EXT_LEARNED = 0x10
NTF_OFFLOADED = 0x20
NTF_STICKY = 0x40
NTF_ROUTER = 0x80

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
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255

_HDR = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_BRPORT = struct.Struct("=BxxxI")
_MDB_ENTRY = struct.Struct("=IBBH16sH")
_U8 = struct.Struct("=B")
_U16 = struct.Struct("=H")
_BE16 = struct.Struct("!H")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")
_RECV_SIZE = 64 * 1024


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


# -- transport --------------------------------------------------------------------------------


class QueryError(OSError):
    """The kernel refused a query: ``errno`` and its extended-ack text (``extack``)."""

    def __init__(self, err: int, what: str, extack: str = "") -> None:
        text = f"{what}: {os.strerror(err)} ({errno_mod.errorcode.get(err, err)})"
        super().__init__(err, f"{text}: {extack}" if extack else text)
        self.extack = extack


def _attrs(data: bytes, off: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    end = len(data) if end is None else end
    nla = _NLA.unpack_from
    while off + 4 <= end:
        length, atype = nla(data, off)
        if length < 4:
            return
        yield atype & 0x3FFF, data[off + 4 : off + length]
        off += (length + 3) & ~3


def _extack(flags: int, payload: bytes) -> str:
    if not flags & NLM_F_ACK_TLVS:
        return ""
    # With NETLINK_CAP_ACK the original message is capped to its header.
    for atype, value in _attrs(payload, 4 + _HDR.size):
        if atype == NLMSGERR_ATTR_MSG:
            return value.rstrip(b"\0").decode(errors="replace")
    return ""


def _attr(atype: int, payload: bytes) -> bytes:
    length = _NLA.size + len(payload)
    return _NLA.pack(length, atype) + payload + b"\0" * (-length & 3)


def query(rtnl: RtnlSocket, mtype: int, body: bytes, *, dump: bool, what: str) -> list[tuple[int, bytes]]:
    """Send one request on ``rtnl``; return the answers' ``(type, payload)``.

    A dump is read until ``NLMSG_DONE`` (and retried once if the kernel says it was interrupted
    by a change); a single request until its answer. ``ENODEV``/``ENOENT`` for a single request
    return an empty list; any other error raises :class:`QueryError` with the kernel's text.
    """
    for _attempt in range(3):
        out, interrupted = _query_once(rtnl, mtype, body, dump, what)
        if not interrupted:
            return out
    return out


def _query_once(
    rtnl: RtnlSocket, mtype: int, body: bytes, dump: bool, what: str
) -> tuple[list[tuple[int, bytes]], bool]:
    rtnl._verify()
    rtnl._seq += 1
    seq = rtnl._seq
    flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
    sock = rtnl.sock
    sock.send(_HDR.pack(_HDR.size + len(body), mtype, flags, seq, 0) + body)
    out: list[tuple[int, bytes]] = []
    interrupted = False
    hdr = _HDR.unpack_from
    while True:
        data = sock.recv(_RECV_SIZE)
        off, end = 0, len(data)
        while off + 16 <= end:
            length, rtype, rflags, rseq, _pid = hdr(data, off)
            if length < 16:
                break
            if rseq == seq:
                if rtype == NLMSG_DONE:
                    return out, interrupted or bool(rflags & NLM_F_DUMP_INTR)
                if rtype == NLMSG_ERROR:
                    payload = data[off + 16 : off + length]
                    (err,) = _S32.unpack_from(payload)
                    if err == 0:
                        return out, False
                    if not dump and -err in (errno_mod.ENODEV, errno_mod.ENOENT):
                        return out, False
                    raise QueryError(-err, what, _extack(rflags, payload))
                if rflags & NLM_F_DUMP_INTR:
                    interrupted = True
                out.append((rtype, data[off + 16 : off + length]))
                if not dump:
                    return out, False
            off += (length + 3) & ~3


# -- links ------------------------------------------------------------------------------------

_EXT_MASK = _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
_GETLINK_BY_INDEX = struct.Struct("=BxHiII")


def get_link(rtnl: RtnlSocket, index: int = 0, name: str | None = None) -> LinkState | None:
    """The link with this index (or name) now, or None if there is none (one ``RTM_GETLINK``).

    Statistics are left out (``RTEXT_FILTER_SKIP_STATS``): the answer is a third the size.
    """
    body = _GETLINK_BY_INDEX.pack(0, 0, index, 0, 0) + _EXT_MASK
    if name is not None:
        body += _attr(3, name.encode() + b"\0")  # IFLA_IFNAME
    answers = query(rtnl, RTM_GETLINK, body, dump=False, what=f"get link {name or index}")
    for mtype, payload in answers:
        if mtype == RTM_NEWLINK:
            return parse_link(payload)
    return None


def links(rtnl: RtnlSocket) -> list[LinkState]:
    """Every link of the socket's namespace (one ``RTM_GETLINK`` dump)."""
    body = _GETLINK_BY_INDEX.pack(0, 0, 0, 0, 0) + _EXT_MASK
    return [parse_link(p) for t, p in query(rtnl, RTM_GETLINK, body, dump=True, what="dump links") if t == RTM_NEWLINK]


def _mac(value: bytes) -> str:
    return value.hex(":")


def parse_link(payload: bytes) -> LinkState:
    """Decode one ``RTM_NEWLINK`` message body (``ifinfomsg`` and its attributes)."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(payload)
    f: dict[str, object] = {"index": index, "flags": flags}
    nla, u32 = _NLA.unpack_from, _U32.unpack_from
    off, end = 16, len(payload)
    linkinfo: bytes | None = None
    while off + 4 <= end:
        length, atype = nla(payload, off)
        if length < 4:
            break
        atype &= 0x3FFF
        v = off + 4
        if atype == 3:  # IFLA_IFNAME
            f["name"] = payload[v : off + length].rstrip(b"\0").decode()
        elif atype == 1:  # IFLA_ADDRESS
            f["mac"] = payload[v : off + length].hex(":")
        elif atype == 2:  # IFLA_BROADCAST
            f["broadcast"] = payload[v : off + length].hex(":")
        elif atype == 4:  # IFLA_MTU
            f["mtu"] = u32(payload, v)[0]
        elif atype == 5:  # IFLA_LINK
            f["parent"] = u32(payload, v)[0]
        elif atype == 10:  # IFLA_MASTER
            f["master"] = u32(payload, v)[0]
        elif atype == 13:  # IFLA_TXQLEN
            f["txqlen"] = u32(payload, v)[0]
        elif atype == 16:  # IFLA_OPERSTATE
            f["operstate"] = OPERSTATES.get(payload[v], str(payload[v]))
        elif atype == 18:  # IFLA_LINKINFO
            linkinfo = payload[v : off + length]
        elif atype == 30:  # IFLA_PROMISCUITY
            f["promiscuity"] = u32(payload, v)[0]
        elif atype == 33:  # IFLA_CARRIER
            f["carrier"] = bool(payload[v])
        elif atype == 37:  # IFLA_LINK_NETNSID
            f["link_netnsid"] = _S32.unpack_from(payload, v)[0]
        elif atype == 61:  # IFLA_ALLMULTI
            f["allmulti"] = u32(payload, v)[0]
        off += (length + 3) & ~3
    if linkinfo is not None:
        _parse_linkinfo(f, linkinfo)
    return LinkState(**f)  # type: ignore[arg-type]


def _parse_linkinfo(f: dict[str, object], value: bytes) -> None:
    kind = slave_kind = ""
    data = slave = b""
    for itype, ivalue in _attrs(value):
        if itype == 1:  # IFLA_INFO_KIND
            kind = ivalue.rstrip(b"\0").decode()
        elif itype == 2:  # IFLA_INFO_DATA
            data = ivalue
        elif itype == 4:  # IFLA_INFO_SLAVE_KIND
            slave_kind = ivalue.rstrip(b"\0").decode()
        elif itype == 5:  # IFLA_INFO_SLAVE_DATA
            slave = ivalue
    f["kind"] = kind
    f["slave_kind"] = slave_kind
    decoder = _KIND_DECODERS.get(kind)
    if decoder is not None and data:
        decoded: dict[str, int | str] = {}
        decoder(f, decoded, data)
        f["data"] = MappingProxyType(decoded)
    if slave_kind == "bridge" and slave:
        f["port"] = MappingProxyType(_bridge_port(slave))


def _u(value: bytes) -> int:
    """An unsigned native-endian integer of the attribute's own size (u8, u16, u32)."""
    n = len(value)
    if n >= 4:
        return int(_U32.unpack_from(value)[0])
    if n >= 2:
        return int(_U16.unpack_from(value)[0])
    return value[0] if n else 0


def _macvlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 1:  # IFLA_MACVLAN_MODE
            f["mode"] = MACVLAN_MODE_NAMES.get(_u(v), str(_u(v)))
        elif t == 2:  # IFLA_MACVLAN_FLAGS
            flags = _u(v)
            d["flags"] = flags
            d["nopromisc"] = int(bool(flags & MACVLAN_FLAG_NOPROMISC))
            d["nodst"] = int(bool(flags & MACVLAN_FLAG_NODST))
        elif t == 6:  # IFLA_MACVLAN_MACADDR_COUNT
            d["macaddr_count"] = _u(v)
        elif t == 7:  # IFLA_MACVLAN_BC_QUEUE_LEN
            d["bcqueuelen"] = _u(v)
        elif t == 8:  # IFLA_MACVLAN_BC_QUEUE_LEN_USED
            d["usedbcqueuelen"] = _u(v)
    d.setdefault("nopromisc", 0)
    d.setdefault("nodst", 0)


def _vlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 1:  # IFLA_VLAN_ID
            f["vlan_id"] = _u(v)
        elif t == 5:  # IFLA_VLAN_PROTOCOL (big endian)
            proto = _BE16.unpack_from(v)[0]
            f["vlan_protocol"] = VLAN_PROTOCOL_NAMES.get(proto, f"0x{proto:04x}")
        elif t == 2:  # IFLA_VLAN_FLAGS: struct ifla_vlan_flags {flags, mask}
            d["flags"] = _u(v[:4])


def _ipvlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    flags = 0
    for t, v in _attrs(data):
        if t == 1:  # IFLA_IPVLAN_MODE
            f["mode"] = IPVLAN_MODE_NAMES.get(_u(v), str(_u(v)))
        elif t == 2:  # IFLA_IPVLAN_FLAGS
            flags = _u(v)
    d["flags"] = flags
    d["isolation"] = "private" if flags & IPVLAN_F_PRIVATE else "vepa" if flags & IPVLAN_F_VEPA else "bridge"


def _bridge(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 4:
            d["ageing_time"] = _u(v)
        elif t == 5:
            d["stp_state"] = _u(v)
        elif t == 7:
            d["vlan_filtering"] = _u(v)
        elif t == 8:
            proto = _BE16.unpack_from(v)[0]
            d["vlan_protocol"] = VLAN_PROTOCOL_NAMES.get(proto, f"0x{proto:04x}")
        elif t == 23:
            d["mcast_snooping"] = _u(v)
        elif t == 39:
            d["vlan_default_pvid"] = _u(v)


def _bond(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 1:  # IFLA_BOND_MODE
            f["mode"] = BOND_MODE_NAMES.get(_u(v), str(_u(v)))
        elif t == 3:  # IFLA_BOND_MIIMON
            d["miimon"] = _u(v)


def _vrf(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 1:
            d["table"] = _u(v)


def _vxlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 1:  # IFLA_VXLAN_ID
            d["vni"] = _u(v)
        elif t == 2 and len(v) == 4:  # IFLA_VXLAN_GROUP
            d["group"] = socket.inet_ntoa(v)
        elif t == 16 and len(v) == 16:  # IFLA_VXLAN_GROUP6
            d["group"] = socket.inet_ntop(socket.AF_INET6, v)
        elif t == 3:  # IFLA_VXLAN_LINK
            d["link"] = _u(v)
        elif t == 4 and len(v) == 4:  # IFLA_VXLAN_LOCAL
            d["local"] = socket.inet_ntoa(v)
        elif t == 7:  # IFLA_VXLAN_LEARNING
            d["learning"] = _u(v)
        elif t == 15:  # IFLA_VXLAN_PORT (big endian)
            d["port"] = _BE16.unpack_from(v)[0]


def _tun(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in _attrs(data):
        if t == 3:  # IFLA_TUN_TYPE: IFF_TUN 1, IFF_TAP 2 (a tap is named by its type, as the spec does)
            d["type"] = {1: "tun", 2: "tap"}.get(_u(v), str(_u(v)))
            if d["type"] == "tap":
                f["kind"] = "tap"
        elif t == 6:
            d["persist"] = _u(v)


_KIND_DECODERS = {
    "macvlan": _macvlan,
    "macvtap": _macvlan,
    "vlan": _vlan,
    "ipvlan": _ipvlan,
    "ipvtap": _ipvlan,
    "bridge": _bridge,
    "bond": _bond,
    "vrf": _vrf,
    "vxlan": _vxlan,
    "tun": _tun,
}

_BRPORT_NAMES = {
    4: "hairpin",
    8: "learning",
    9: "flood",
    27: "mcast_flood",
    30: "bcast_flood",
    32: "neigh_suppress",
    33: "isolated",
    7: "fastleave",
    6: "root_block",
    5: "guard",
    2: "priority",
    3: "cost",
}


def _bridge_port(data: bytes) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for t, v in _attrs(data):
        if t == 1:  # IFLA_BRPORT_STATE
            out["state"] = BR_STATE_NAMES.get(v[0], str(v[0]))
        else:
            name = _BRPORT_NAMES.get(t)
            if name is not None:
                out[name] = _u(v)
    return out


# -- addresses --------------------------------------------------------------------------------


def _family_of(version: int | None) -> int:
    return {None: 0, 4: socket.AF_INET, 6: socket.AF_INET6}[version]


def addresses(rtnl: RtnlSocket, index: int | None = None, version: int | None = None) -> list[Address]:
    """Every address (of link ``index`` when given; of IP ``version`` 4 or 6 when given)."""
    body = _IFADDR.pack(_family_of(version), 0, 0, 0, 0)
    out = []
    for mtype, payload in query(rtnl, RTM_GETADDR, body, dump=True, what="dump addresses"):
        if mtype != RTM_NEWADDR:
            continue
        addr = parse_address(payload)
        if addr is not None and (index is None or addr.index == index):
            out.append(addr)
    return out


def parse_address(payload: bytes) -> Address | None:
    family, prefixlen, flags, scope, index = _IFADDR.unpack_from(payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    local = address = None
    label = ""
    for t, v in _attrs(payload, _IFADDR.size):
        if t == 1:  # IFA_ADDRESS
            address = v
        elif t == 2:  # IFA_LOCAL
            local = v
        elif t == 3:  # IFA_LABEL
            label = v.rstrip(b"\0").decode()
        elif t == 8:  # IFA_FLAGS (32 bits; the header's field holds only the low 8)
            flags = _u(v)
    raw = local if local is not None else address
    if raw is None:
        return None
    ip = ip_address(raw)
    peer = ip_address(address) if local is not None and address is not None and address != local else None
    iface: IPInterface = IPv4Interface((ip, prefixlen)) if ip.version == 4 else IPv6Interface((ip, prefixlen))
    return Address(index, iface, RT_SCOPE_NAMES.get(scope, str(scope)), flags, label, peer)


# -- routes -----------------------------------------------------------------------------------


def routes(rtnl: RtnlSocket, version: int | None = None, table: int | None = RT_TABLE_MAIN) -> list[Route]:
    """The routes of ``table`` (the main table by default; None: every table), IPv4 and IPv6."""
    body = _RTMSG.pack(_family_of(version), 0, 0, 0, 0, 0, 0, 0, 0)
    out = []
    for mtype, payload in query(rtnl, RTM_GETROUTE, body, dump=True, what="dump routes"):
        if mtype != RTM_NEWROUTE:
            continue
        route = parse_route(payload)
        if route is not None and (table is None or route.table == table):
            out.append(route)
    return out


def parse_route(payload: bytes) -> Route | None:
    family, dst_len, _src_len, _tos, table, proto, scope, rtype, _flags = _RTMSG.unpack_from(payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    dst = None
    fields: dict[str, object] = {}
    for t, v in _attrs(payload, _RTMSG.size):
        if t == 1:  # RTA_DST
            dst = v
        elif t == 4:  # RTA_OIF
            fields["oif"] = _u(v)
        elif t == 5:  # RTA_GATEWAY
            fields["gateway"] = ip_address(v)
        elif t == 6:  # RTA_PRIORITY
            fields["metric"] = _u(v)
        elif t == 7:  # RTA_PREFSRC
            fields["prefsrc"] = ip_address(v)
        elif t == 15:  # RTA_TABLE
            table = _u(v)
    zero = b"\0" * (4 if family == socket.AF_INET else 16)
    net = ip_network((ip_address(dst if dst is not None else zero), dst_len), strict=False)
    return Route(
        net,
        table,
        RTPROT_NAMES.get(proto, str(proto)),
        RT_SCOPE_NAMES.get(scope, str(scope)),
        RTN_NAMES.get(rtype, str(rtype)),
        **fields,  # type: ignore[arg-type]
    )


# -- neighbours, FDB ----------------------------------------------------------------------------


def neighbours(
    rtnl: RtnlSocket, version: int | None = None, index: int | None = None, *, noarp: bool = False
) -> list[Neighbour]:
    """The neighbour tables (ARP and IPv6 ND), IPv4 and IPv6 unless ``version`` says which.

    Entries in state ``NOARP`` (the kernel's own, for multicast addresses) are left out unless
    ``noarp``, as ``ip neigh show`` does."""
    body = _NDMSG.pack(_family_of(version), 0, 0, 0, 0)
    out = []
    for mtype, payload in query(rtnl, RTM_GETNEIGH, body, dump=True, what="dump neighbours"):
        if mtype != RTM_NEWNEIGH:
            continue
        family, ifindex, state, flags, _type = _NDMSG.unpack_from(payload)
        if family not in (socket.AF_INET, socket.AF_INET6) or (index is not None and ifindex != index):
            continue
        if state & NUD_NOARP and not noarp:
            continue
        dst = lladdr = None
        for t, v in _attrs(payload, _NDMSG.size):
            if t == 1:
                dst = ip_address(v)
            elif t == 2:
                lladdr = _mac(v)
        if dst is not None:
            out.append(Neighbour(ifindex, dst, lladdr, state, flags))
    return out


def fdb(rtnl: RtnlSocket, master: int | None = None, index: int | None = None) -> list[FdbEntry]:
    """The bridge forwarding database(s) of the namespace (``bridge fdb show``).

    ``master`` keeps the entries of one bridge (its ports' and its own), ``index`` those of one
    port (or device: a device's own ``self`` entries, such as its multicast addresses, have no
    ``master``).
    """
    body = _NDMSG.pack(AF_BRIDGE, 0, 0, 0, 0)
    out = []
    for mtype, payload in query(rtnl, RTM_GETNEIGH, body, dump=True, what="dump fdb"):
        if mtype != RTM_NEWNEIGH:
            continue
        _family, ifindex, state, flags, _type = _NDMSG.unpack_from(payload)
        mac = ""
        fields: dict[str, object] = {}
        for t, v in _attrs(payload, _NDMSG.size):
            if t == 2:  # NDA_LLADDR
                mac = _mac(v)
            elif t == 5:  # NDA_VLAN
                fields["vlan"] = _u(v)
            elif t == 9:  # NDA_MASTER
                fields["master"] = _u(v)
            elif t == 1:  # NDA_DST (vxlan)
                fields["dst"] = ip_address(v)
        entry = FdbEntry(ifindex, mac, state, flags, **fields)  # type: ignore[arg-type]
        if index is not None and entry.index != index:
            continue
        if master is not None and entry.master != master and entry.index != master:
            continue
        out.append(entry)
    return out


def mdb(rtnl: RtnlSocket, bridge: int | None = None) -> list[MdbEntry]:
    """The bridges' multicast databases (``bridge mdb show``): which port joined which group."""
    body = _BRPORT.pack(AF_BRIDGE, 0)
    out: list[MdbEntry] = []
    for mtype, payload in query(rtnl, RTM_GETMDB, body, dump=True, what="dump mdb"):
        if mtype not in (RTM_NEWMDB, RTM_GETMDB):  # a dump answers with RTM_GETMDB messages
            continue
        _family, brindex = _BRPORT.unpack_from(payload)
        if bridge is not None and brindex != bridge:
            continue
        for t, v in _attrs(payload, _BRPORT.size):
            if t != 1:  # MDBA_MDB
                continue
            for et, ev in _attrs(v):
                if et != 1:  # MDBA_MDB_ENTRY
                    continue
                for it, iv in _attrs(ev):
                    if it != 1 or len(iv) < 26:  # MDBA_MDB_ENTRY_INFO
                        continue
                    port, state, _flags, vid, raw, proto = _MDB_ENTRY.unpack_from(iv)
                    proto = socket.ntohs(proto)
                    group: IPAddress | str
                    if proto == 0x0800:
                        group = IPv4Address(raw[:4])
                    elif proto == 0x86DD:
                        group = IPv6Address(raw)
                    else:
                        group = _mac(raw[:6])
                    out.append(MdbEntry(brindex, port, group, vid, bool(state)))
    return out


def bridge_vlans(rtnl: RtnlSocket) -> list[BridgeVlan]:
    """The VLAN entries of every bridge port and bridge (``bridge vlan show``)."""
    body = _IFINFO.pack(AF_BRIDGE, 0, 0, 0, 0) + _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_BRVLAN))
    out: list[BridgeVlan] = []
    for mtype, payload in query(rtnl, RTM_GETLINK, body, dump=True, what="dump bridge vlans"):
        if mtype != RTM_NEWLINK:
            continue
        index = _IFINFO.unpack_from(payload)[2]
        for t, v in _attrs(payload, _IFINFO.size):
            if t != 26:  # IFLA_AF_SPEC
                continue
            for st, sv in _attrs(v):
                if st == 2 and len(sv) >= 4:  # IFLA_BRIDGE_VLAN_INFO: struct bridge_vlan_info
                    flags, vid = struct.unpack_from("=HH", sv)
                    out.append(BridgeVlan(index, vid, bool(flags & 0x2), bool(flags & 0x4)))
    return out

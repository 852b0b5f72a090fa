"""``RTM_NEWLINK`` decoded: :func:`parse_link` turns one message into a
:class:`~pytest_macvlan.kernel.records.LinkState`, with each kind's attributes by iproute2's names.

Hand-written with :mod:`struct`: a live ``Link`` property is one ``RTM_GETLINK``, and
pyroute2's generic decoder costs several times the round trip (``benchmarks/run.py --only live``).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from types import MappingProxyType

from pytest_macvlan.kernel.records import (
    BOND_MODE_NAMES,
    BR_STATE_NAMES,
    IPVLAN_F_PRIVATE,
    IPVLAN_F_VEPA,
    IPVLAN_MODE_NAMES,
    MACVLAN_FLAG_NODST,
    MACVLAN_FLAG_NOPROMISC,
    MACVLAN_MODE_NAMES,
    OPERSTATES,
    VLAN_PROTOCOL_NAMES,
    LinkState,
)

_NLA = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_U16 = struct.Struct("=H")
_BE16 = struct.Struct("!H")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")


def attrs(data: bytes, off: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """The ``(type, value)`` of each netlink attribute in ``data[off:end]`` (flags masked off)."""
    end = len(data) if end is None else end
    nla = _NLA.unpack_from
    while off + 4 <= end:
        length, atype = nla(data, off)
        if length < 4:
            return
        yield atype & 0x3FFF, data[off + 4 : off + length]
        off += (length + 3) & ~3


def uint(value: bytes) -> int:
    """An unsigned native-endian integer of the attribute's own size (u8, u16, u32)."""
    n = len(value)
    if n >= 4:
        return int(_U32.unpack_from(value)[0])
    if n >= 2:
        return int(_U16.unpack_from(value)[0])
    return value[0] if n else 0


def mac_text(value: bytes) -> str:
    """Bytes as a MAC address, ``aa:bb:cc:dd:ee:ff``."""
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
    for itype, ivalue in attrs(value):
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


def _macvlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 1:  # IFLA_MACVLAN_MODE
            f["mode"] = MACVLAN_MODE_NAMES.get(uint(v), str(uint(v)))
        elif t == 2:  # IFLA_MACVLAN_FLAGS
            flags = uint(v)
            d["flags"] = flags
            d["nopromisc"] = int(bool(flags & MACVLAN_FLAG_NOPROMISC))
            d["nodst"] = int(bool(flags & MACVLAN_FLAG_NODST))
        elif t == 6:  # IFLA_MACVLAN_MACADDR_COUNT
            d["macaddr_count"] = uint(v)
        elif t == 7:  # IFLA_MACVLAN_BC_QUEUE_LEN
            d["bcqueuelen"] = uint(v)
        elif t == 8:  # IFLA_MACVLAN_BC_QUEUE_LEN_USED
            d["usedbcqueuelen"] = uint(v)
    d.setdefault("nopromisc", 0)
    d.setdefault("nodst", 0)


def _vlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 1:  # IFLA_VLAN_ID
            f["vlan_id"] = uint(v)
        elif t == 5:  # IFLA_VLAN_PROTOCOL (big endian)
            proto = _BE16.unpack_from(v)[0]
            f["vlan_protocol"] = VLAN_PROTOCOL_NAMES.get(proto, f"0x{proto:04x}")
        elif t == 2:  # IFLA_VLAN_FLAGS: struct ifla_vlan_flags {flags, mask}
            d["flags"] = uint(v[:4])


def _ipvlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    flags = 0
    for t, v in attrs(data):
        if t == 1:  # IFLA_IPVLAN_MODE
            f["mode"] = IPVLAN_MODE_NAMES.get(uint(v), str(uint(v)))
        elif t == 2:  # IFLA_IPVLAN_FLAGS
            flags = uint(v)
    d["flags"] = flags
    d["isolation"] = "private" if flags & IPVLAN_F_PRIVATE else "vepa" if flags & IPVLAN_F_VEPA else "bridge"


def _bridge(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 4:
            d["ageing_time"] = uint(v)
        elif t == 5:
            d["stp_state"] = uint(v)
        elif t == 7:
            d["vlan_filtering"] = uint(v)
        elif t == 8:
            proto = _BE16.unpack_from(v)[0]
            d["vlan_protocol"] = VLAN_PROTOCOL_NAMES.get(proto, f"0x{proto:04x}")
        elif t == 23:
            d["mcast_snooping"] = uint(v)
        elif t == 39:
            d["vlan_default_pvid"] = uint(v)


def _bond(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 1:  # IFLA_BOND_MODE
            f["mode"] = BOND_MODE_NAMES.get(uint(v), str(uint(v)))
        elif t == 3:  # IFLA_BOND_MIIMON
            d["miimon"] = uint(v)


def _vrf(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 1:
            d["table"] = uint(v)


def _vxlan(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 1:  # IFLA_VXLAN_ID
            d["vni"] = uint(v)
        elif t == 2 and len(v) == 4:  # IFLA_VXLAN_GROUP
            d["group"] = socket.inet_ntoa(v)
        elif t == 16 and len(v) == 16:  # IFLA_VXLAN_GROUP6
            d["group"] = socket.inet_ntop(socket.AF_INET6, v)
        elif t == 3:  # IFLA_VXLAN_LINK
            d["link"] = uint(v)
        elif t == 4 and len(v) == 4:  # IFLA_VXLAN_LOCAL
            d["local"] = socket.inet_ntoa(v)
        elif t == 7:  # IFLA_VXLAN_LEARNING
            d["learning"] = uint(v)
        elif t == 15:  # IFLA_VXLAN_PORT (big endian)
            d["port"] = _BE16.unpack_from(v)[0]


def _tun(f: dict[str, object], d: dict[str, int | str], data: bytes) -> None:
    for t, v in attrs(data):
        if t == 3:  # IFLA_TUN_TYPE: IFF_TUN 1, IFF_TAP 2 (a tap is named by its type, as the spec does)
            d["type"] = {1: "tun", 2: "tap"}.get(uint(v), str(uint(v)))
            if d["type"] == "tap":
                f["kind"] = "tap"
        elif t == 6:
            d["persist"] = uint(v)


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
    for t, v in attrs(data):
        if t == 1:  # IFLA_BRPORT_STATE
            out["state"] = BR_STATE_NAMES.get(v[0], str(v[0]))
        else:
            name = _BRPORT_NAMES.get(t)
            if name is not None:
                out[name] = uint(v)
    return out

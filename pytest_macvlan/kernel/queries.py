"""What the kernel says now: rtnetlink dumps decoded into the typed records of
:mod:`~pytest_macvlan.kernel.records`, over a namespace's own netlink socket.

Links (one ``RTM_GETLINK``, about 30 us), addresses (IPv4 and IPv6, with their DAD flags),
routes, neighbours (IPv4 and IPv6), a bridge's forwarding and multicast databases, bridge VLAN
entries: no ``ip`` process, nothing that could touch another namespace. Decoded by hand with
:mod:`struct` (:mod:`.linkstate` for links), as fast as the round trip allows.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_network
from typing import TYPE_CHECKING

from pytest_macvlan.kernel.ifla import (
    AF_BRIDGE,
    IFLA_EXT_MASK,
    NLM_F_DUMP_INTR,
    NUD_NOARP,
    RTEXT_FILTER_BRVLAN,
    RTEXT_FILTER_SKIP_STATS,
    RTM_GETADDR,
    RTM_GETMDB,
    RTM_GETNEIGH,
    RTM_GETROUTE,
    RTM_NEWMDB,
)
from pytest_macvlan.kernel.linkstate import attrs, mac_text, parse_link, uint
from pytest_macvlan.kernel.records import (
    RT_SCOPE_NAMES,
    RTN_NAMES,
    RTPROT_NAMES,
    Address,
    BridgeVlan,
    FdbEntry,
    IPAddress,
    IPInterface,
    LinkState,
    MdbEntry,
    Neighbour,
    Route,
)
from pytest_macvlan.kernel.rtnl import (
    NLM_F_ACK_TLVS,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSGERR_ATTR_MSG,
    RT_TABLE_MAIN,
    RTM_GETLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
)

if TYPE_CHECKING:
    from pytest_macvlan.kernel.rtnl import RtnlSocket


_HDR = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_BRPORT = struct.Struct("=BxxxI")
_MDB_ENTRY = struct.Struct("=IBBH16sH")
_BE16 = struct.Struct("!H")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")
_RECV_SIZE = 64 * 1024


# -- transport --------------------------------------------------------------------------------


class QueryError(OSError):
    """The kernel refused a query: ``errno`` and its extended-ack text (``extack``)."""

    def __init__(self, err: int, what: str, extack: str = "") -> None:
        text = f"{what}: {os.strerror(err)} ({errno_mod.errorcode.get(err, err)})"
        super().__init__(err, f"{text}: {extack}" if extack else text)
        self.extack = extack


def _extack(flags: int, payload: bytes) -> str:
    if not flags & NLM_F_ACK_TLVS:
        return ""
    # With NETLINK_CAP_ACK the original message is capped to its header.
    for atype, value in attrs(payload, 4 + _HDR.size):
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
    """One ``RTM_NEWADDR`` message as an address record."""
    family, prefixlen, flags, scope, index = _IFADDR.unpack_from(payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    local = address = None
    label = ""
    for t, v in attrs(payload, _IFADDR.size):
        if t == 1:  # IFA_ADDRESS
            address = v
        elif t == 2:  # IFA_LOCAL
            local = v
        elif t == 3:  # IFA_LABEL
            label = v.rstrip(b"\0").decode()
        elif t == 8:  # IFA_FLAGS (32 bits; the header's field holds only the low 8)
            flags = uint(v)
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
    """One ``RTM_NEWROUTE`` message as a route record (``None`` unless IPv4 or IPv6)."""
    family, dst_len, _src_len, _tos, table, proto, scope, rtype, _flags = _RTMSG.unpack_from(payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    dst = None
    fields: dict[str, object] = {}
    for t, v in attrs(payload, _RTMSG.size):
        if t == 1:  # RTA_DST
            dst = v
        elif t == 4:  # RTA_OIF
            fields["oif"] = uint(v)
        elif t == 5:  # RTA_GATEWAY
            fields["gateway"] = ip_address(v)
        elif t == 6:  # RTA_PRIORITY
            fields["metric"] = uint(v)
        elif t == 7:  # RTA_PREFSRC
            fields["prefsrc"] = ip_address(v)
        elif t == 15:  # RTA_TABLE
            table = uint(v)
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
        for t, v in attrs(payload, _NDMSG.size):
            if t == 1:
                dst = ip_address(v)
            elif t == 2:
                lladdr = mac_text(v)
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
    out: list[FdbEntry] = []
    seen: set[FdbEntry] = set()
    for mtype, payload in query(rtnl, RTM_GETNEIGH, body, dump=True, what="dump fdb"):
        if mtype != RTM_NEWNEIGH:
            continue
        _family, ifindex, state, flags, _type = _NDMSG.unpack_from(payload)
        mac = ""
        fields: dict[str, object] = {}
        for t, v in attrs(payload, _NDMSG.size):
            if t == 2:  # NDA_LLADDR
                mac = mac_text(v)
            elif t == 5:  # NDA_VLAN
                fields["vlan"] = uint(v)
            elif t == 9:  # NDA_MASTER
                fields["master"] = uint(v)
            elif t == 1:  # NDA_DST (vxlan)
                fields["dst"] = ip_address(v)
        entry = FdbEntry(ifindex, mac, state, flags, **fields)  # type: ignore[arg-type]
        if index is not None and entry.index != index:
            continue
        if master is not None and entry.master != master and entry.index != master:
            continue
        if entry in seen:  # kernels before 6.x list a port's entries under the bridge and the port
            continue
        seen.add(entry)
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
        for t, v in attrs(payload, _BRPORT.size):
            if t != 1:  # MDBA_MDB
                continue
            for et, ev in attrs(v):
                if et != 1:  # MDBA_MDB_ENTRY
                    continue
                for it, iv in attrs(ev):
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
                        group = mac_text(raw[:6])
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
        for t, v in attrs(payload, _IFINFO.size):
            if t != 26:  # IFLA_AF_SPEC
                continue
            for st, sv in attrs(v):
                if st == 2 and len(sv) >= 4:  # IFLA_BRIDGE_VLAN_INFO: struct bridge_vlan_info
                    flags, vid = struct.unpack_from("=HH", sv)
                    out.append(BridgeVlan(index, vid, bool(flags & 0x2), bool(flags & 0x4)))
    return out

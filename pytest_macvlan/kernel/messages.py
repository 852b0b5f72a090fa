"""Netlink messages for each thing a spec asks for, encoded directly with :mod:`struct`.

Pure functions: they build messages and touch nothing. Interface indexes are chosen by the
builder (the namespaces are new, so every index is free), which lets a whole topology be
sent to the kernel without waiting for one answer before writing the next request.

The few message types a build sends (``RTM_NEWLINK``, ``RTM_NEWADDR``, ``RTM_NEWROUTE``,
``RTM_NEWNEIGH``) are packed here with ``struct``: pyroute2's generic encoder costs tens of
microseconds per message, which is most of a build's user-space time. The bytes are the same
(``tests/test_requests.py`` checks them against pyroute2's encoding). :func:`new_link`, used
only to probe the kernel's features, still encodes with pyroute2 (imported when called).
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Interface
from typing import Any

from pytest_macvlan.kernel.rtnl import Message, Request
from pytest_macvlan.spec.model import MACVLAN_MODES, IPAddress, LinkSpec, RouteSpec

RTM_NEWLINK = 16
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_NEWNEIGH = 28
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
CREATE = NLM_F_CREATE | NLM_F_EXCL
IFF_UP = 0x1
IFF_PROMISC = 0x100
NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

# Attribute types (linux/if_link.h, if_addr.h, rtnetlink.h, neighbour.h, veth.h).
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5
IFLA_BR_AGEING_TIME = 4
IFLA_BR_STP_STATE = 5
IFLA_BRPORT_MODE = 4
VETH_INFO_PEER = 1
IFLA_VLAN_ID = 1
IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_MACADDR_MODE = 3
IFLA_MACVLAN_MACADDR = 4
IFLA_MACVLAN_MACADDR_DATA = 5
MACVLAN_MACADDR_SET = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
NDA_DST = 1
NDA_LLADDR = 2

_NLA = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
_U32 = struct.Struct("=I")
_U16 = struct.Struct("=H")


def _attr(atype: int, payload: bytes) -> bytes:
    length = _NLA.size + len(payload)
    return _NLA.pack(length, atype) + payload + b"\0" * (-length & 3)


def _u32(atype: int, value: int) -> bytes:
    return _attr(atype, _U32.pack(value))


def _str(atype: int, value: str) -> bytes:
    return _attr(atype, value.encode() + b"\0")


def _mac(atype: int, value: str) -> bytes:
    return _attr(atype, bytes.fromhex(value.replace(":", "")))


def _ip(atype: int, family: int, value: object) -> bytes:
    return _attr(atype, socket.inet_pton(family, str(value)))


def _flags(up: bool, promisc: bool) -> tuple[int, int]:
    return (IFF_UP if up else 0) | (IFF_PROMISC if promisc else 0), IFF_UP | IFF_PROMISC


def _ifinfo(index: int, attrs: bytes, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(0, 0, index, flags, change) + attrs


def _newlink(body: bytes, flags: int = 0) -> Message:
    return Message(RTM_NEWLINK, flags, body)


def link_up(index: int, entry: str) -> Request:
    return Request(_newlink(_ifinfo(index, b"", IFF_UP, IFF_UP)), entry)


def set_link(index: int, entry: str, *, up: bool | None = None, master: int | None = None) -> Request:
    attrs = _u32(IFLA_MASTER, master) if master is not None else b""
    flags = change = 0
    if up is not None:
        flags, change = (IFF_UP if up else 0), IFF_UP
    return Request(_newlink(_ifinfo(index, attrs, flags, change)), entry)


def bridge_port(index: int, entry: str, *, hairpin: bool) -> Request:
    """``bridge link set dev X hairpin on|off`` as ``ip link set X type bridge_slave hairpin ...``."""
    data = _attr(IFLA_BRPORT_MODE, bytes([1 if hairpin else 0]))
    info = _str(IFLA_INFO_SLAVE_KIND, "bridge") + _attr(IFLA_INFO_SLAVE_DATA, data)
    return Request(_newlink(_ifinfo(index, _attr(IFLA_LINKINFO, info))), entry)


def _common(spec: LinkSpec, netns_fd: int | None, up: bool = True) -> tuple[bytes, int, int]:
    attrs = _str(IFLA_IFNAME, spec.name)
    if spec.address:
        attrs += _mac(IFLA_ADDRESS, spec.address)
    if spec.mtu:
        attrs += _u32(IFLA_MTU, spec.mtu)
    if netns_fd is not None:
        attrs += _u32(IFLA_NET_NS_FD, netns_fd)
    flags, change = _flags(spec.up and up, spec.promisc)
    return attrs, flags, change


def create_link(
    spec: LinkSpec,
    index: int,
    *,
    netns_fd: int | None = None,
    parent_index: int = 0,
    peer: LinkSpec | None = None,
    peer_index: int = 0,
    peer_netns_fd: int | None = None,
    up: bool = True,
) -> Request:
    """``ip link add`` for ``spec``; ``netns_fd`` creates it directly in another namespace.

    With ``up=False`` the link is created down even if the spec wants it up (brought up later).
    """
    attrs, flags, change = _common(spec, netns_fd, up)
    data = b""
    if spec.kind == "bridge":
        if spec.ageing_time is not None:
            data += _u32(IFLA_BR_AGEING_TIME, spec.ageing_time)
        if spec.stp is not None:
            data += _u32(IFLA_BR_STP_STATE, int(spec.stp))
    elif spec.kind == "veth":
        assert peer is not None
        pattrs, pflags, pchange = _common(peer, peer_netns_fd)
        # The kernel opens the peer before the pair is joined (ENOTCONN): it goes up afterwards.
        pflags &= ~IFF_UP
        data += _attr(VETH_INFO_PEER, _ifinfo(peer_index, pattrs, pflags, pchange))
    elif spec.kind == "vlan":
        attrs += _u32(IFLA_LINK, parent_index)
        assert spec.vlan_id is not None
        data += _attr(IFLA_VLAN_ID, _U16.pack(spec.vlan_id))
    elif spec.kind == "macvlan":
        attrs += _u32(IFLA_LINK, parent_index)
        if spec.mode is not None:
            data += _u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[spec.mode])
        if spec.macaddr:
            data += _u32(IFLA_MACVLAN_MACADDR_MODE, MACVLAN_MACADDR_SET)
            macs = b"".join(_mac(IFLA_MACVLAN_MACADDR, m) for m in spec.macaddr)
            data += _attr(IFLA_MACVLAN_MACADDR_DATA, macs)
    info = _str(IFLA_INFO_KIND, spec.kind)
    if data:
        info += _attr(IFLA_INFO_DATA, data)
    attrs += _attr(IFLA_LINKINFO, info)
    return Request(_newlink(_ifinfo(index, attrs, flags, change), CREATE), spec.entry)


def new_link(
    name: str,
    index: int,
    kind: str,
    data: dict[str, Any],
    *,
    parent: int | None = None,
    peer: tuple[str, int] | None = None,
) -> Request:
    """A bare ``ip link add NAME type KIND`` (used to probe what the kernel supports).

    ``data`` names ``IFLA_INFO_DATA`` attributes as pyroute2 does (``IFLA_VXLAN_ID``, ...):
    this one is encoded by pyroute2, which knows every kind's attributes.
    """
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", name)]
    if parent is not None:
        attrs.append(("IFLA_LINK", parent))
    info_data: list[tuple[str, Any]] = list(data.items())
    if peer is not None:
        info_data.append(
            (
                "VETH_INFO_PEER",
                {"attrs": [("IFLA_IFNAME", peer[0])], "index": peer[1], "flags": 0, "change": 0, "family": 0},
            )
        )
    info: list[tuple[str, Any]] = [("IFLA_INFO_KIND", kind)]
    if info_data:
        info.append(("IFLA_INFO_DATA", {"attrs": info_data}))
    attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    msg = ifinfmsg()
    msg["family"] = 0
    msg["index"] = index
    msg["flags"] = 0
    msg["change"] = 0
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = CREATE
    return Request(msg, f"probe {kind} {name}", feature=kind)


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def add_address(index: int, addr: IPv4Interface | Any, entry: str) -> Request:
    family = _family(addr.version)
    body = _IFADDR.pack(family, addr.network.prefixlen, 0, 0, index)
    body += _ip(IFA_LOCAL, family, addr.ip) + _ip(IFA_ADDRESS, family, addr.ip)
    return Request(Message(RTM_NEWADDR, CREATE, body), entry)


def add_route(route: RouteSpec, oif: int | None) -> Request:
    net = route.to
    family = _family(net.version)
    scope = RT_SCOPE_UNIVERSE if route.via is not None else RT_SCOPE_LINK
    body = _RTMSG.pack(family, net.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
    if net.prefixlen:
        body += _ip(RTA_DST, family, net.network_address)
    if route.via is not None:
        body += _ip(RTA_GATEWAY, family, route.via)
    if oif is not None:
        body += _u32(RTA_OIF, oif)
    if route.metric is not None:
        body += _u32(RTA_PRIORITY, route.metric)
    return Request(Message(RTM_NEWROUTE, CREATE, body), route.entry)


def add_neigh(index: int, to: IPAddress, lladdr: str, entry: str) -> Request:
    family = _family(to.version)
    body = _NDMSG.pack(family, index, NUD_PERMANENT, 0, 0)
    body += _ip(NDA_DST, family, to) + _mac(NDA_LLADDR, lladdr)
    return Request(Message(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body), entry)

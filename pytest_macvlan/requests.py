"""Netlink messages for each thing a spec asks for, encoded with pyroute2's message classes.

Pure functions: they build messages and touch nothing. Interface indexes are chosen by the
builder (the namespaces are new, so every index is free), which lets a whole topology be
sent to the kernel without waiting for one answer before writing the next request.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Interface
from typing import Any

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE
from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_PROMISC, IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from .netlink import Request
from .spec import MACVLAN_MODES, IPAddress, LinkSpec, RouteSpec

NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
CREATE = NLM_F_CREATE | NLM_F_EXCL


def _flags(up: bool, promisc: bool) -> tuple[int, int]:
    return (IFF_UP if up else 0) | (IFF_PROMISC if promisc else 0), IFF_UP | IFF_PROMISC


def _ifinf(index: int, attrs: list[tuple[str, Any]], flags: int = 0, change: int = 0, family: int = 0) -> ifinfmsg:
    msg = ifinfmsg()
    msg["family"] = family
    msg["index"] = index
    msg["flags"] = flags
    msg["change"] = change
    msg["attrs"] = attrs
    return msg


def link_up(index: int, entry: str) -> Request:
    msg = _ifinf(index, [], IFF_UP, IFF_UP)
    msg["header"]["type"] = RTM_NEWLINK
    return Request(msg, entry)


def set_link(index: int, entry: str, *, up: bool | None = None, master: int | None = None) -> Request:
    attrs: list[tuple[str, Any]] = []
    if master is not None:
        attrs.append(("IFLA_MASTER", master))
    flags = change = 0
    if up is not None:
        flags, change = (IFF_UP if up else 0), IFF_UP
    msg = _ifinf(index, attrs, flags, change)
    msg["header"]["type"] = RTM_NEWLINK
    return Request(msg, entry)


def bridge_port(index: int, entry: str, *, hairpin: bool) -> Request:
    """``bridge link set dev X hairpin on|off`` as ``ip link set X type bridge_slave hairpin ...``."""
    data = {"attrs": [("IFLA_BRPORT_MODE", 1 if hairpin else 0)]}
    info = {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"), ("IFLA_INFO_SLAVE_DATA", data)]}
    msg = _ifinf(index, [("IFLA_LINKINFO", info)])
    msg["header"]["type"] = RTM_NEWLINK
    return Request(msg, entry)


def _common(
    spec: LinkSpec, index: int, netns_fd: int | None, up: bool = True
) -> tuple[list[tuple[str, Any]], int, int]:
    attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", spec.name)]
    if spec.address:
        attrs.append(("IFLA_ADDRESS", spec.address))
    if spec.mtu:
        attrs.append(("IFLA_MTU", spec.mtu))
    if netns_fd is not None:
        attrs.append(("IFLA_NET_NS_FD", netns_fd))
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
    attrs, flags, change = _common(spec, index, netns_fd, up)
    data: list[tuple[str, Any]] = []
    if spec.kind == "bridge":
        if spec.ageing_time is not None:
            data.append(("IFLA_BR_AGEING_TIME", spec.ageing_time))
        if spec.stp is not None:
            data.append(("IFLA_BR_STP_STATE", int(spec.stp)))
    elif spec.kind == "veth":
        assert peer is not None
        pattrs, pflags, pchange = _common(peer, peer_index, peer_netns_fd)
        # The kernel opens the peer before the pair is joined (ENOTCONN): it goes up afterwards.
        pflags &= ~IFF_UP
        data.append(
            ("VETH_INFO_PEER", {"attrs": pattrs, "index": peer_index, "flags": pflags, "change": pchange, "family": 0})
        )
    elif spec.kind == "vlan":
        attrs.append(("IFLA_LINK", parent_index))
        data.append(("IFLA_VLAN_ID", spec.vlan_id))
    elif spec.kind == "macvlan":
        attrs.append(("IFLA_LINK", parent_index))
        if spec.mode is not None:
            data.append(("IFLA_MACVLAN_MODE", MACVLAN_MODES[spec.mode]))
        if spec.macaddr:
            data.append(("IFLA_MACVLAN_MACADDR_MODE", 3))  # MACVLAN_MACADDR_SET
            data.append(("IFLA_MACVLAN_MACADDR_DATA", {"attrs": [("IFLA_MACVLAN_MACADDR", m) for m in spec.macaddr]}))
    info: list[tuple[str, Any]] = [("IFLA_INFO_KIND", spec.kind)]
    if data:
        info.append(("IFLA_INFO_DATA", {"attrs": data}))
    attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    msg = _ifinf(index, attrs, flags, change)
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = CREATE
    return Request(msg, spec.entry)


def new_link(
    name: str,
    index: int,
    kind: str,
    data: dict[str, Any],
    *,
    parent: int | None = None,
    peer: tuple[str, int] | None = None,
) -> Request:
    """A bare ``ip link add NAME type KIND`` (used to probe what the kernel supports)."""
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
    msg = _ifinf(index, attrs)
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = CREATE
    return Request(msg, f"probe {kind} {name}", feature=kind)


def add_address(index: int, addr: IPv4Interface | Any, entry: str) -> Request:
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    msg["prefixlen"] = addr.network.prefixlen
    msg["index"] = index
    ip = str(addr.ip)
    msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
    msg["header"]["type"] = RTM_NEWADDR
    msg["header"]["flags"] = CREATE
    return Request(msg, entry)


def add_route(route: RouteSpec, oif: int | None) -> Request:
    msg = rtmsg()
    net = route.to
    msg["family"] = socket.AF_INET if net.version == 4 else socket.AF_INET6
    msg["dst_len"] = net.prefixlen
    msg["table"] = RT_TABLE_MAIN
    msg["proto"] = RTPROT_BOOT
    msg["scope"] = RT_SCOPE_UNIVERSE if route.via is not None else RT_SCOPE_LINK
    msg["type"] = RTN_UNICAST
    attrs: list[tuple[str, Any]] = []
    if net.prefixlen:
        attrs.append(("RTA_DST", str(net.network_address)))
    if route.via is not None:
        attrs.append(("RTA_GATEWAY", str(route.via)))
    if oif is not None:
        attrs.append(("RTA_OIF", oif))
    if route.metric is not None:
        attrs.append(("RTA_PRIORITY", route.metric))
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_NEWROUTE
    msg["header"]["flags"] = CREATE
    return Request(msg, route.entry)


def add_neigh(index: int, to: IPAddress, lladdr: str, entry: str) -> Request:
    msg = ndmsg()
    msg["family"] = socket.AF_INET if to.version == 4 else socket.AF_INET6
    msg["ifindex"] = index
    msg["state"] = NUD_PERMANENT
    msg["attrs"] = [("NDA_DST", str(to)), ("NDA_LLADDR", lladdr)]
    msg["header"]["type"] = RTM_NEWNEIGH
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_REPLACE
    return Request(msg, entry)

"""Netlink messages for changes at run time (``Link.set``, ``Netns.add_route``, ...), encoded
with :mod:`struct` like :mod:`.messages`: pure functions that build messages and touch nothing.
"""

from __future__ import annotations

from ipaddress import IPv4Interface
from typing import Any

from pytest_macvlan.kernel import ifla as k
from pytest_macvlan.kernel.messages import _attr, _family, _ifinfo, _ip, _mac, _newlink, _str, _u8, _u16, _u32
from pytest_macvlan.kernel.rtnl import (
    CREATE,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFADDRMSG,
    IFF_PROMISC,
    IFF_UP,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MACVLAN_MODE,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_NET_NS_FD,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NLM_F_CREATE,
    NLM_F_REPLACE,
    NUD_PERMANENT,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTA_DST,
    RTA_GATEWAY,
    RTA_OIF,
    RTA_PRIORITY,
    RTM_NEWADDR,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
    RTMSG,
    RTN_UNICAST,
    RTPROT_BOOT,
    U16,
    Message,
    Request,
)
from pytest_macvlan.spec.model import BOND_MODES, IPVLAN_MODES, MACVLAN_MODES, IPAddress, RouteSpec

#: ``ip link set X type KIND OPTION VALUE``: the options each kind takes at run time, with their
#: attribute type and encoding (``u8``/``u16``/``u32``/``be16``, or a name table).
KIND_OPTIONS: dict[str, dict[str, tuple[int, str]]] = {
    "bridge": {
        "ageing_time": (4, "u32"),
        "stp": (5, "u32"),
        "vlan_filtering": (k.IFLA_BR_VLAN_FILTERING, "u8"),
        "vlan_protocol": (k.IFLA_BR_VLAN_PROTOCOL, "proto"),
        "mcast_snooping": (k.IFLA_BR_MCAST_SNOOPING, "u8"),
        "vlan_default_pvid": (k.IFLA_BR_VLAN_DEFAULT_PVID, "u16"),
    },
    "macvlan": {"bcqueuelen": (k.IFLA_MACVLAN_BC_QUEUE_LEN, "u32")},
    "macvtap": {"bcqueuelen": (k.IFLA_MACVLAN_BC_QUEUE_LEN, "u32")},
    "ipvlan": {"flag": (k.IFLA_IPVLAN_FLAGS, "ipvlan_flag")},
    "vxlan": {"learning": (k.IFLA_VXLAN_LEARNING, "u8")},
}


def kind_data(kind: str, options: dict[str, object]) -> bytes:
    """``IFLA_INFO_DATA`` for ``ip link set X type KIND OPTIONS`` (ValueError naming a bad one)."""
    from pytest_macvlan.spec.model import IPVLAN_FLAGS, VLAN_PROTOCOLS

    table = KIND_OPTIONS.get(kind, {})
    data = b""
    for name, value in options.items():
        if name not in table:
            raise ValueError(f"a {kind or 'link'} has no option {name!r} (it has: {', '.join(table) or 'none'})")
        atype, enc = table[name]
        if enc == "proto":
            if value not in VLAN_PROTOCOLS:
                raise ValueError(f"unknown VLAN protocol {value!r} (one of {', '.join(VLAN_PROTOCOLS)})")
            data += _attr(atype, k.BE16.pack(VLAN_PROTOCOLS[str(value)]))
        elif enc == "ipvlan_flag":
            if value not in IPVLAN_FLAGS:
                raise ValueError(f"unknown ipvlan flag {value!r} (one of {', '.join(IPVLAN_FLAGS)})")
            data += _u16(atype, IPVLAN_FLAGS[str(value)])
        else:
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{kind} option {name} takes a number or a boolean, not {value!r}")
            data += {"u8": _u8, "u16": _u16, "u32": _u32}[enc](atype, value)
    return data


def change_link(
    index: int,
    entry: str,
    *,
    address: str | None = None,
    mtu: int | None = None,
    up: bool | None = None,
    promisc: bool | None = None,
    allmulticast: bool | None = None,
    master: int | None = None,
    netns_fd: int | None = None,
    name: str | None = None,
    kind: str | None = None,
    mode: str | None = None,
    data: bytes = b"",
) -> Request:
    """``ip link set``: any of MAC, MTU, up/down, promisc, allmulticast, master (0: nomaster),
    namespace (``netns_fd``), name, and the mode of a macvlan/macvtap/ipvlan (``kind`` names it)."""
    attrs = b""
    if name is not None:
        attrs += _str(IFLA_IFNAME, name)
    if address is not None:
        attrs += _mac(IFLA_ADDRESS, address)
    if mtu is not None:
        attrs += _u32(IFLA_MTU, mtu)
    if master is not None:
        attrs += _u32(IFLA_MASTER, master)
    if netns_fd is not None:
        attrs += _u32(IFLA_NET_NS_FD, netns_fd)
    if mode is not None:
        if kind in ("macvlan", "macvtap"):
            data += _u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[mode])
        elif kind == "ipvlan":
            data += _u16(k.IFLA_IPVLAN_MODE, IPVLAN_MODES[mode])
        elif kind == "bond":
            data += _u8(k.IFLA_BOND_MODE, BOND_MODES[mode])
        else:
            raise ValueError(f"a {kind or 'link of unknown kind'} has no mode to set")
    if data:
        assert kind is not None
        attrs += _attr(IFLA_LINKINFO, _str(IFLA_INFO_KIND, kind) + _attr(IFLA_INFO_DATA, data))
    flags = change = 0
    for on, bit in ((up, IFF_UP), (promisc, IFF_PROMISC), (allmulticast, k.IFF_ALLMULTI)):
        if on is not None:
            change |= bit
            flags |= bit if on else 0
    return Request(_newlink(_ifinfo(index, attrs, flags, change)), entry)


def delete_link(index: int, entry: str) -> Request:
    """``ip link del``."""
    return Request(Message(k.RTM_DELLINK, 0, _ifinfo(index, b"")), entry)


def address(index: int, addr: IPv4Interface | Any, entry: str, *, add: bool = True, nodad: bool = False) -> Request:
    """``ip addr add|del ADDR dev X [nodad]``."""
    family = _family(addr.version)
    flags = k.IFA_F_NODAD if nodad and add else 0
    body = IFADDRMSG.pack(family, addr.network.prefixlen, flags, 0, index)
    body += _ip(IFA_LOCAL, family, addr.ip) + _ip(IFA_ADDRESS, family, addr.ip)
    if flags:
        body += _u32(k.IFA_FLAGS, flags)
    return Request(Message(RTM_NEWADDR if add else k.RTM_DELADDR, CREATE if add else 0, body), entry)


def route(route: RouteSpec, oif: int | None, *, add: bool = True, table: int = RT_TABLE_MAIN) -> Request:
    """``ip route add|del TO [via VIA] [dev OIF] [metric M] [table T]``: the one route encoder."""
    net = route.to
    family = _family(net.version)
    scope = RT_SCOPE_UNIVERSE if route.via is not None else RT_SCOPE_LINK
    rtype = RTN_UNICAST
    body = RTMSG.pack(family, net.prefixlen, 0, 0, min(table, 255), RTPROT_BOOT if add else 0, scope, rtype, 0)
    if table > 255:
        body += _u32(k.RTA_TABLE, table)
    if net.prefixlen:
        body += _ip(RTA_DST, family, net.network_address)
    if route.via is not None:
        body += _ip(RTA_GATEWAY, family, route.via)
    if oif is not None:
        body += _u32(RTA_OIF, oif)
    if route.metric is not None:
        body += _u32(RTA_PRIORITY, route.metric)
    if add:
        return Request(Message(RTM_NEWROUTE, CREATE, body), route.entry)
    return Request(Message(k.RTM_DELROUTE, 0, body), route.entry)


FDB_STATES = {"static": k.NUD_NOARP, "permanent": NUD_PERMANENT, "dynamic": k.NUD_REACHABLE}


def fdb_entry(
    index: int,
    lladdr: str,
    entry: str,
    *,
    master: bool = True,
    state: str = "static",
    sticky: bool = False,
    vlan: int | None = None,
    dst: IPAddress | None = None,
    add: bool = True,
) -> Request:
    """``bridge fdb add|del LLADDR dev X [master|self] [static|dynamic|permanent] [sticky] [vlan V] [dst IP]``."""
    flags = (k.NTF_MASTER if master else k.NTF_SELF) | (k.NTF_STICKY if sticky else 0)
    body = NDMSG.pack(k.AF_BRIDGE, index, FDB_STATES[state], flags, 0)
    body += _mac(NDA_LLADDR, lladdr)
    if vlan is not None:
        body += _u16(k.NDA_VLAN, vlan)
    if dst is not None:
        body += _ip(NDA_DST, _family(dst.version), dst)
    if add:
        return Request(Message(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body), entry)
    return Request(Message(k.RTM_DELNEIGH, 0, body), entry)


def bridge_vlan(
    index: int, vid: int, entry: str, *, pvid: bool = False, untagged: bool = False, own: bool = False, add: bool = True
) -> Request:
    """``bridge vlan add|del dev X vid VID [pvid] [untagged] [self]`` (``own``: on the bridge itself)."""
    flags = (k.BRIDGE_VLAN_INFO_PVID if pvid else 0) | (k.BRIDGE_VLAN_INFO_UNTAGGED if untagged else 0)
    spec = _attr(k.IFLA_BRIDGE_VLAN_INFO, U16.pack(flags) + U16.pack(vid))
    if own:
        spec = _u16(k.IFLA_BRIDGE_FLAGS, k.BRIDGE_FLAGS_SELF) + spec
    body = IFINFOMSG.pack(k.AF_BRIDGE, 0, index, 0, 0) + _attr(k.IFLA_AF_SPEC, spec)
    return Request(Message(k.RTM_SETLINK if add else k.RTM_DELLINK, 0, body), entry)

"""Netlink messages that create links, encoded directly with :mod:`struct`: one encoder per message.

Pure functions: they build messages and touch nothing. Interface indexes are chosen by the
builder (the namespaces are new, so every index is free), which lets a whole topology be
sent to the kernel without waiting for one answer before writing the next request.

Where each rtnetlink message is encoded (the one home of rtnetlink is ``kernel/``):

- here: ``RTM_NEWLINK`` (create a link of any kind, set up/master/mtu, bridge port options) and
  ``RTM_NEWNEIGH``;
- :mod:`.changes`: what run-time changes and fragments add (``RTM_NEWADDR``/``RTM_DELADDR``,
  ``RTM_NEWROUTE``/``RTM_DELROUTE``, FDB entries, bridge VLANs, ``RTM_DELLINK``, changes of a
  link's type options); the builder uses the same encoders;
- :mod:`.rtnl`: the transport, the header, and every constant; :mod:`.ifla`, the attribute
  numbers of the link kinds;

Hand-packed because it was measured: pyroute2's generic encoder costs tens of microseconds per
message, which was most of a build's user-space time (benchmarks/, "build"). The bytes are the
same as pyroute2's (``tests/unit/test_requests.py``), and what the kernel makes of them is read
back with iproute2 (``tests/kernel/test_messages_roundtrip.py``).
"""

from __future__ import annotations

import socket

from pytest_macvlan.kernel import ifla as k
from pytest_macvlan.kernel.rtnl import (
    CREATE,
    IFF_PROMISC,
    IFF_UP,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_BR_AGEING_TIME,
    IFLA_BR_STP_STATE,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_INFO_SLAVE_DATA,
    IFLA_INFO_SLAVE_KIND,
    IFLA_LINK,
    IFLA_LINKINFO,
    IFLA_MACVLAN_MACADDR,
    IFLA_MACVLAN_MACADDR_DATA,
    IFLA_MACVLAN_MACADDR_MODE,
    IFLA_MACVLAN_MODE,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_NET_NS_FD,
    IFLA_VLAN_ID,
    MACVLAN_MACADDR_SET,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NLA_HDR,
    NLM_F_CREATE,
    NLM_F_REPLACE,
    NUD_PERMANENT,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    U16,
    U32,
    VETH_INFO_PEER,
    Message,
    Request,
)
from pytest_macvlan.spec.model import (
    BOND_MODES,
    IPVLAN_FLAGS,
    IPVLAN_MODES,
    MACVLAN_FLAG_NODST,
    MACVLAN_FLAG_NOPROMISC,
    MACVLAN_MODES,
    VLAN_PROTOCOLS,
    IPAddress,
    LinkSpec,
)


def _attr(atype: int, payload: bytes) -> bytes:
    length = NLA_HDR.size + len(payload)
    return NLA_HDR.pack(length, atype) + payload + b"\0" * (-length & 3)


def _u32(atype: int, value: int) -> bytes:
    return _attr(atype, U32.pack(value))


def _str(atype: int, value: str) -> bytes:
    return _attr(atype, value.encode() + b"\0")


def _mac(atype: int, value: str) -> bytes:
    return _attr(atype, bytes.fromhex(value.replace(":", "")))


def _ip(atype: int, family: int, value: object) -> bytes:
    return _attr(atype, socket.inet_pton(family, str(value)))


def _u8(atype: int, value: int) -> bytes:
    return _attr(atype, bytes([value]))


def _u16(atype: int, value: int) -> bytes:
    return _attr(atype, U16.pack(value))


def _be16(atype: int, value: int) -> bytes:
    return _attr(atype, k.BE16.pack(value))


def _flags(up: bool, promisc: bool, allmulticast: bool | None = None) -> tuple[int, int]:
    flags = (IFF_UP if up else 0) | (IFF_PROMISC if promisc else 0)
    change = IFF_UP | IFF_PROMISC
    if allmulticast is not None:
        flags |= k.IFF_ALLMULTI if allmulticast else 0
        change |= k.IFF_ALLMULTI
    return flags, change


def _ifinfo(index: int, attrs: bytes, flags: int = 0, change: int = 0) -> bytes:
    return IFINFOMSG.pack(0, 0, index, flags, change) + attrs


def _newlink(body: bytes, flags: int = 0) -> Message:
    return Message(RTM_NEWLINK, flags, body)


def link_up(index: int, entry: str) -> Request:
    """``ip link set INDEX up``."""
    return Request(_newlink(_ifinfo(index, b"", IFF_UP, IFF_UP)), entry)


def set_link(
    index: int, entry: str, *, up: bool | None = None, master: int | None = None, mtu: int | None = None
) -> Request:
    """``ip link set INDEX [up|down] [master M] [mtu N]``."""
    attrs = _u32(IFLA_MASTER, master) if master is not None else b""
    if mtu is not None:
        attrs += _u32(IFLA_MTU, mtu)
    flags = change = 0
    if up is not None:
        flags, change = (IFF_UP if up else 0), IFF_UP
    return Request(_newlink(_ifinfo(index, attrs, flags, change)), entry)


def bridge_port(index: int, entry: str, *, hairpin: bool | None = None, **flags: bool) -> Request:
    """``bridge link set dev X hairpin on|off`` (and ``isolated``, ``learning``, ``flood``,
    ``mcast_flood``, ``neigh_suppress``) as ``ip link set X type bridge_slave ...``."""
    if hairpin is not None:
        flags = {"hairpin": hairpin, **flags}
    unknown = set(flags) - set(k.IFLA_BRPORT)
    if unknown:
        raise ValueError(f"unknown bridge-port flags: {', '.join(sorted(unknown))}")
    data = b"".join(_attr(k.IFLA_BRPORT[name], bytes([1 if on else 0])) for name, on in flags.items())
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
    flags, change = _flags(spec.up and up, spec.promisc, spec.allmulticast)
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
        if spec.vlan_filtering:  # off is the default; a kernel without VLAN filtering refuses the attribute
            data += _u8(k.IFLA_BR_VLAN_FILTERING, 1)
        if spec.bridge_vlan_protocol is not None:
            data += _be16(k.IFLA_BR_VLAN_PROTOCOL, VLAN_PROTOCOLS[spec.bridge_vlan_protocol])
        if spec.vlan_default_pvid is not None:
            data += _u16(k.IFLA_BR_VLAN_DEFAULT_PVID, spec.vlan_default_pvid)
        if spec.mcast_snooping is not None:
            data += _u8(k.IFLA_BR_MCAST_SNOOPING, int(spec.mcast_snooping))
    elif spec.kind == "veth":
        assert peer is not None
        pattrs, pflags, pchange = _common(peer, peer_netns_fd)
        # The kernel opens the peer before the pair is joined (ENOTCONN): it goes up afterwards.
        pflags &= ~IFF_UP
        data += _attr(VETH_INFO_PEER, _ifinfo(peer_index, pattrs, pflags, pchange))
    elif spec.kind == "vlan":
        attrs += _u32(IFLA_LINK, parent_index)
        assert spec.vlan_id is not None
        data += _attr(IFLA_VLAN_ID, U16.pack(spec.vlan_id))
        if spec.vlan_protocol is not None:
            data += _be16(k.IFLA_VLAN_PROTOCOL, VLAN_PROTOCOLS[spec.vlan_protocol])
    elif spec.kind in ("macvlan", "macvtap"):
        attrs += _u32(IFLA_LINK, parent_index)
        if spec.mode is not None:
            data += _u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[spec.mode])
        if spec.macaddr:
            data += _u32(IFLA_MACVLAN_MACADDR_MODE, MACVLAN_MACADDR_SET)
            macs = b"".join(_mac(IFLA_MACVLAN_MACADDR, m) for m in spec.macaddr)
            data += _attr(IFLA_MACVLAN_MACADDR_DATA, macs)
        mflags = (MACVLAN_FLAG_NOPROMISC if spec.nopromisc else 0) | (MACVLAN_FLAG_NODST if spec.nodst else 0)
        if mflags:
            data += _u16(k.IFLA_MACVLAN_FLAGS, mflags)
        if spec.bcqueuelen is not None:
            data += _u32(k.IFLA_MACVLAN_BC_QUEUE_LEN, spec.bcqueuelen)
    elif spec.kind == "ipvlan":
        attrs += _u32(IFLA_LINK, parent_index)
        data += _u16(k.IFLA_IPVLAN_MODE, IPVLAN_MODES[spec.mode or "l3"])
        if spec.ipvlan_flag is not None:
            data += _u16(k.IFLA_IPVLAN_FLAGS, IPVLAN_FLAGS[spec.ipvlan_flag])
    elif spec.kind == "vrf":
        assert spec.table is not None
        data += _u32(k.IFLA_VRF_TABLE, spec.table)
    elif spec.kind == "bond":
        if spec.mode is not None:
            data += _u8(k.IFLA_BOND_MODE, BOND_MODES[spec.mode])
    elif spec.kind == "vxlan":
        data += _vxlan(spec, parent_index)
    info = _str(IFLA_INFO_KIND, spec.kind)
    if data:
        info += _attr(IFLA_INFO_DATA, data)
    attrs += _attr(IFLA_LINKINFO, info)
    return Request(_newlink(_ifinfo(index, attrs, flags, change), CREATE), spec.entry)


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def add_neigh(index: int, to: IPAddress, lladdr: str, entry: str) -> Request:
    """``ip neigh replace TO lladdr LLADDR dev INDEX nud permanent``."""
    family = _family(to.version)
    body = NDMSG.pack(family, index, NUD_PERMANENT, 0, 0)
    body += _ip(NDA_DST, family, to) + _mac(NDA_LLADDR, lladdr)
    return Request(Message(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body), entry)


def _vxlan(spec: LinkSpec, parent_index: int) -> bytes:
    assert spec.vni is not None
    data = _u32(k.IFLA_VXLAN_ID, spec.vni)
    peer = spec.group or spec.remote
    if peer is not None:
        six = peer.version == 6
        data += _ip(k.IFLA_VXLAN_GROUP6 if six else k.IFLA_VXLAN_GROUP, _family(peer.version), peer)
    if spec.local is not None:
        six = spec.local.version == 6
        data += _ip(k.IFLA_VXLAN_LOCAL6 if six else k.IFLA_VXLAN_LOCAL, _family(spec.local.version), spec.local)
    if spec.parent is not None:
        data += _u32(k.IFLA_VXLAN_LINK, parent_index)
    if spec.learning is not None:
        data += _u8(k.IFLA_VXLAN_LEARNING, int(spec.learning))
    # The kernel's default port is the pre-IANA 8472; iproute2 asks for one. So do we: 4789.
    data += _be16(k.IFLA_VXLAN_PORT, 4789 if spec.dstport is None else spec.dstport)
    return data

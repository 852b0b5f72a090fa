"""The hand-written decoders read what pyroute2 encodes: links of several kinds, bridge ports,
addresses with their flags, routes. (The kernel round trip is in tests/kernel/test_live.py.)"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from pytest_macvlan.kernel.linkstate import parse_link
from pytest_macvlan.kernel.queries import parse_address, parse_route

pytest.importorskip("pyroute2")
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg


def body(msg: Any) -> bytes:
    """The message as the kernel sends it, less the netlink header (what the decoders get)."""
    msg["header"]["type"] = 16
    msg.encode()
    return bytes(msg.data)[16:]


def link(kind: str, data: list[tuple[str, Any]], **extra: Any) -> bytes:
    msg = ifinfmsg()
    msg["index"], msg["flags"], msg["change"] = 7, 0x11043, 0  # UP, BROADCAST, MULTICAST, LOWER_UP
    info: list[tuple[str, Any]] = [("IFLA_INFO_KIND", kind)]
    if data:
        info.append(("IFLA_INFO_DATA", {"attrs": data}))
    for key, value in extra.items():
        info.append((key, value))
    msg["attrs"] = [
        ("IFLA_IFNAME", "x0"),
        ("IFLA_ADDRESS", "02:00:00:00:00:07"),
        ("IFLA_MTU", 1400),
        ("IFLA_LINK", 3),
        ("IFLA_MASTER", 5),
        ("IFLA_OPERSTATE", "UP"),
        ("IFLA_CARRIER", 1),
        ("IFLA_LINKINFO", {"attrs": info}),
    ]
    return body(msg)


def test_common_attributes_and_macvlan() -> None:
    st = parse_link(link("macvlan", [("IFLA_MACVLAN_MODE", 1), ("IFLA_MACVLAN_FLAGS", 2)]))
    assert (st.index, st.name, st.mac, st.mtu, st.parent, st.master) == (7, "x0", "02:00:00:00:00:07", 1400, 3, 5)
    assert (st.operstate, st.carrier, st.is_up, st.lower_up, st.promisc) == ("UP", True, True, True, False)
    assert (st.kind, st.mode, st.data["nodst"], st.data["nopromisc"]) == ("macvlan", "private", 1, 0)


@pytest.mark.parametrize(
    ("kind", "data", "want"),
    [
        ("vlan", [("IFLA_VLAN_ID", 11), ("IFLA_VLAN_PROTOCOL", 0x88A8)], {"vlan_id": 11, "vlan_protocol": "802.1ad"}),
        ("ipvlan", [("IFLA_IPVLAN_MODE", 2), ("IFLA_IPVLAN_FLAGS", 1)], {"mode": "l3s"}),
        ("bond", [("IFLA_BOND_MODE", 1)], {"mode": "active-backup"}),
        ("macvtap", [("IFLA_MACVTAP_MODE", 4)], {"mode": "bridge"}),
    ],
)
def test_kinds(kind: str, data: list[tuple[str, Any]], want: dict[str, Any]) -> None:
    st = parse_link(link(kind, data))
    assert {k: getattr(st, k) for k in want} == want


def test_bridge_data_and_port_data() -> None:
    st = parse_link(
        link(
            "bridge",
            [("IFLA_BR_VLAN_FILTERING", 1), ("IFLA_BR_MCAST_SNOOPING", 0), ("IFLA_BR_VLAN_DEFAULT_PVID", 10)],
        )
    )
    assert (st.data["vlan_filtering"], st.data["mcast_snooping"], st.data["vlan_default_pvid"]) == (1, 0, 10)
    port = parse_link(
        link(
            "veth",
            [],
            IFLA_INFO_SLAVE_KIND="bridge",
            IFLA_INFO_SLAVE_DATA={
                "attrs": [("IFLA_BRPORT_MODE", 1), ("IFLA_BRPORT_ISOLATED", 1), ("IFLA_BRPORT_LEARNING", 0)]
            },
        )
    )
    assert (port.slave_kind, port.port["hairpin"], port.port["isolated"], port.port["learning"]) == ("bridge", 1, 1, 0)


def test_address_flags_and_route() -> None:
    msg = ifaddrmsg()
    msg["family"], msg["prefixlen"], msg["flags"], msg["scope"], msg["index"] = socket.AF_INET6, 64, 0, 0, 7
    msg["attrs"] = [("IFA_ADDRESS", "2001:db8::2"), ("IFA_FLAGS", 0x40 | 0x80)]
    msg["header"]["type"] = 20
    msg.encode()
    addr = parse_address(bytes(msg.data)[16:])
    assert addr is not None and str(addr.interface) == "2001:db8::2/64" and addr.tentative and not addr.dadfailed
    assert addr.flag_names == ("tentative", "permanent") and "tentative" in str(addr)
    rt = rtmsg()
    rt["family"], rt["dst_len"], rt["table"], rt["proto"], rt["scope"], rt["type"] = 2, 23, 254, 3, 0, 1
    rt["attrs"] = [("RTA_DST", "10.138.36.0"), ("RTA_GATEWAY", "192.168.9.1"), ("RTA_OIF", 7), ("RTA_TABLE", 254)]
    rt["header"]["type"] = 24
    rt.encode()
    route = parse_route(bytes(rt.data)[16:])
    assert route is not None and str(route) == "10.138.36.0/23 via 192.168.9.1 oif 7 proto boot scope global"

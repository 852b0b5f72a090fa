"""The struct-encoded netlink messages are byte for byte what pyroute2 encodes for the same request."""

from __future__ import annotations

import socket
from ipaddress import ip_address, ip_interface, ip_network
from typing import Any

import pytest

from pytest_macvlan.kernel.changes import address
from pytest_macvlan.kernel.changes import route as route_request
from pytest_macvlan.kernel.messages import (
    add_neigh,
    bridge_port,
    create_link,
    link_up,
    set_link,
)
from pytest_macvlan.kernel.rtnl import Message, Request, _encode
from pytest_macvlan.spec.model import MACVLAN_MODES, LinkRef, LinkSpec, RouteSpec

pyroute2 = pytest.importorskip("pyroute2")
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: E402
from pyroute2.netlink.rtnl.ndmsg import ndmsg  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402

NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE = 0x400, 0x200, 0x100
IFF_UP, IFF_PROMISC = 0x1, 0x100


def encoded(msg: Any, seq: int = 7) -> bytes:
    return _encode(msg, seq)


def same(req: Request, reference: Any) -> None:
    assert isinstance(req.msg, Message)
    assert encoded(req.msg).hex() == encoded(reference).hex()


# -- reference encoders: the pyroute2 code this module replaced -------------------------------


def ref_ifinf(index: int, attrs: list[tuple[str, Any]], flags: int = 0, change: int = 0, hflags: int = 0) -> Any:
    msg = ifinfmsg()
    msg["family"] = 0
    msg["index"] = index
    msg["flags"] = flags
    msg["change"] = change
    msg["attrs"] = attrs
    msg["header"]["type"] = 16
    msg["header"]["flags"] = hflags
    return msg


def ref_common(spec: LinkSpec, netns_fd: int | None, up: bool = True) -> tuple[list[tuple[str, Any]], int, int]:
    attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", spec.name)]
    if spec.address:
        attrs.append(("IFLA_ADDRESS", spec.address))
    if spec.mtu:
        attrs.append(("IFLA_MTU", spec.mtu))
    if netns_fd is not None:
        attrs.append(("IFLA_NET_NS_FD", netns_fd))
    flags = (IFF_UP if spec.up and up else 0) | (IFF_PROMISC if spec.promisc else 0)
    return attrs, flags, IFF_UP | IFF_PROMISC


def ref_create(
    spec: LinkSpec,
    index: int,
    *,
    netns_fd: int | None = None,
    parent_index: int = 0,
    peer: LinkSpec | None = None,
    peer_index: int = 0,
    peer_netns_fd: int | None = None,
    up: bool = True,
) -> Any:
    attrs, flags, change = ref_common(spec, netns_fd, up)
    data: list[tuple[str, Any]] = []
    if spec.kind == "bridge":
        if spec.ageing_time is not None:
            data.append(("IFLA_BR_AGEING_TIME", spec.ageing_time))
        if spec.stp is not None:
            data.append(("IFLA_BR_STP_STATE", int(spec.stp)))
    elif spec.kind == "veth":
        assert peer is not None
        pattrs, pflags, pchange = ref_common(peer, peer_netns_fd)
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
            data.append(("IFLA_MACVLAN_MACADDR_MODE", 3))
            data.append(("IFLA_MACVLAN_MACADDR_DATA", {"attrs": [("IFLA_MACVLAN_MACADDR", m) for m in spec.macaddr]}))
    info: list[tuple[str, Any]] = [("IFLA_INFO_KIND", spec.kind)]
    if data:
        info.append(("IFLA_INFO_DATA", {"attrs": data}))
    attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    return ref_ifinf(index, attrs, flags, change, NLM_F_CREATE | NLM_F_EXCL)


def link(kind: Any, name: str = "x0", **kw: Any) -> LinkSpec:
    return LinkSpec(ref=LinkRef("ns", name), kind=kind, entry=f"netns.ns.link.{name}", **kw)


# -- the comparisons ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        link("bridge"),
        link("bridge", "test_br", ageing_time=30000, stp=False, mtu=1400, address="02:00:00:00:00:01"),
        link("bridge", "br1", stp=True, up=False, promisc=True),
    ],
)
@pytest.mark.parametrize("up", [True, False])
def test_bridge(spec: LinkSpec, up: bool) -> None:
    same(create_link(spec, 5, up=up), ref_create(spec, 5, up=up))


@pytest.mark.parametrize("peer_fd", [None, 12])
def test_veth(peer_fd: int | None) -> None:
    spec = link("veth", "veth1", mtu=9000)
    peer = link("veth", "veth1_br", address="02:aa:bb:cc:dd:ee", promisc=True, mtu=9000)
    same(
        create_link(spec, 3, peer=peer, peer_index=4, peer_netns_fd=peer_fd),
        ref_create(spec, 3, peer=peer, peer_index=4, peer_netns_fd=peer_fd),
    )


@pytest.mark.parametrize("mode", [None, *MACVLAN_MODES])
def test_macvlan(mode: str | None) -> None:
    macaddr = ("02:00:00:00:00:0a", "02:00:00:00:00:0b") if mode == "source" else ()
    spec = link("macvlan", "macvl1", mode=mode, macaddr=macaddr, address="02:00:00:00:09:02")
    same(create_link(spec, 9, netns_fd=11, parent_index=3), ref_create(spec, 9, netns_fd=11, parent_index=3))


def test_vlan() -> None:
    spec = link("vlan", "veth1.11", vlan_id=11)
    same(create_link(spec, 6, parent_index=3), ref_create(spec, 6, parent_index=3))


def test_link_changes() -> None:
    same(link_up(1, "lo up"), ref_ifinf(1, [], IFF_UP, IFF_UP))
    same(set_link(4, "x", up=False), ref_ifinf(4, [], 0, IFF_UP))
    same(set_link(4, "x", master=2), ref_ifinf(4, [("IFLA_MASTER", 2)]))
    same(set_link(4, "x", up=True, master=2), ref_ifinf(4, [("IFLA_MASTER", 2)], IFF_UP, IFF_UP))
    for on in (True, False):
        data = {"attrs": [("IFLA_BRPORT_MODE", int(on))]}
        info = {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"), ("IFLA_INFO_SLAVE_DATA", data)]}
        same(bridge_port(4, "x", hairpin=on), ref_ifinf(4, [("IFLA_LINKINFO", info)]))


@pytest.mark.parametrize("text", ["192.168.9.1/24", "10.138.36.58/23", "2001:db8::1/64", "fe80::2/10"])
def test_address(text: str) -> None:
    addr = ip_interface(text)
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    msg["prefixlen"] = addr.network.prefixlen
    msg["index"] = 7
    msg["attrs"] = [("IFA_LOCAL", str(addr.ip)), ("IFA_ADDRESS", str(addr.ip))]
    msg["header"]["type"] = 20
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_EXCL
    same(address(7, addr, "x"), msg)


@pytest.mark.parametrize(
    ("to", "via", "oif", "metric"),
    [
        ("0.0.0.0/0", "192.168.9.1", None, None),
        ("192.168.9.0/24", "10.138.36.58", None, None),
        ("10.0.0.0/8", None, 5, 10),
        ("10.1.0.0/16", "192.168.9.254", 5, 100),
        ("::/0", "2001:db8::1", None, None),
        ("2001:db8:1::/48", None, 3, 1024),
    ],
)
def test_route(to: str, via: str | None, oif: int | None, metric: int | None) -> None:
    route = RouteSpec(
        "netns.ns.route[0]", ip_network(to), ip_address(via) if via else None, "d" if oif else None, metric
    )
    msg = rtmsg()
    net = route.to
    msg["family"] = socket.AF_INET if net.version == 4 else socket.AF_INET6
    msg["dst_len"] = net.prefixlen
    msg["table"] = 254
    msg["proto"] = 3
    msg["scope"] = 0 if via is not None else 253
    msg["type"] = 1
    attrs: list[tuple[str, Any]] = []
    if net.prefixlen:
        attrs.append(("RTA_DST", str(net.network_address)))
    if via is not None:
        attrs.append(("RTA_GATEWAY", via))
    if oif is not None:
        attrs.append(("RTA_OIF", oif))
    if metric is not None:
        attrs.append(("RTA_PRIORITY", metric))
    msg["attrs"] = attrs
    msg["header"]["type"] = 24
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_EXCL
    same(route_request(route, oif), msg)


@pytest.mark.parametrize("to", ["192.168.9.3", "2001:db8::3"])
def test_neigh(to: str) -> None:
    addr = ip_address(to)
    msg = ndmsg()
    msg["family"] = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    msg["ifindex"] = 4
    msg["state"] = 0x80
    msg["attrs"] = [("NDA_DST", to), ("NDA_LLADDR", "02:00:00:00:09:03")]
    msg["header"]["type"] = 28
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_REPLACE
    same(add_neigh(4, addr, "02:00:00:00:09:03", "x"), msg)

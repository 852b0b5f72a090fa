"""Live handles, run-time changes and the kernel's own records (issue 13), on the real kernel.

Every test builds its own namespaces (nothing in the runner's); programs under test are played
by ``ip`` run inside a namespace, the way a CNI plugin or a network manager changes things
behind the plugin's back.
"""

from __future__ import annotations

import copy
import errno
from typing import Any

import pytest

from pytest_macvlan import (
    BuildError,
    ChangeError,
    Topology,
    icmp_echo_request,
    icmpv6_echo_request,
    igmp_report,
    incoming,
    mld_report,
    nd_solicitation,
    outgoing,
    src_mac,
    wait_until,
)
from pytest_macvlan.plugin.core import PytestLab

#: A bridge ``br0`` in ``h`` with two ports, ``a``'s ``e1`` (192.168.9.2) and ``b``'s ``e2`` (.3).
BRIDGED: dict[str, Any] = {
    "netns": {
        "h": {
            "link": {
                "br0": {"type": "bridge"},
                "v1": {
                    "type": "veth",
                    "master": "br0",
                    "peer": {"name": "e1", "netns": "a", "addr": ["192.168.9.2/24"]},
                },
                "v2": {
                    "type": "veth",
                    "master": "br0",
                    "peer": {"name": "e2", "netns": "b", "addr": ["192.168.9.3/24"]},
                },
            }
        },
        "a": {
            # one MAC per address: no ARP flux between the links of a
            "sysctl": {"net.ipv4.conf.all.arp_ignore": 1},
            "link": {"m1": {"type": "macvlan", "link": "e1", "mode": "bridge", "addr": ["192.168.9.12/24"]}},
        },
        "b": {},
    }
}


@pytest.mark.topology(BRIDGED)
def test_properties_follow_what_a_program_changes(topology: Topology) -> None:
    a = topology["a"]
    m1, e2 = topology.link("a/m1"), topology.link("b/e2")
    assert (m1.kind, m1.mode, m1.mtu, m1.is_up, m1.carrier) == ("macvlan", "bridge", 1500, True, True)
    a.run("ip", "link", "set", "m1", "address", "02:00:00:00:aa:01")
    a.run("ip", "link", "set", "m1", "type", "macvlan", "mode", "private")
    a.run("ip", "addr", "flush", "dev", "m1")
    a.run("ip", "addr", "add", "192.168.9.22/24", "dev", "m1")
    assert m1.mac == "02:00:00:00:aa:01"
    assert m1.mode == "private", "decoded by name, not a raw 1"
    assert m1.ipv4 == "192.168.9.22"
    assert [str(x.interface) for x in m1.addresses] == ["192.168.9.22/24"]
    a.run("ip", "link", "set", "m1", "down")
    assert not m1.is_up
    a.run("ip", "link", "set", "m1", "up")
    # Link.send fills the source from the MAC the link has now.
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    cap = e2.sniff()
    m1.send(Ether(dst=e2.mac) / IP(dst="192.168.9.3") / ICMP())
    [frame] = cap.wait_for(icmp_echo_request(src="192.168.9.22") & incoming)
    assert frame.src == "02:00:00:00:aa:01"


@pytest.mark.topology(BRIDGED)
def test_a_link_a_program_makes_gets_a_handle(topology: Topology) -> None:
    a = topology["a"]
    with pytest.raises(KeyError, match="no link 'a/x0'"):
        topology.link("a/x0")
    a.run("ip", "link", "add", "x0", "link", "e1", "type", "macvlan", "mode", "bridge")
    a.run("ip", "addr", "add", "192.168.9.30/24", "dev", "x0")
    a.run("ip", "link", "set", "x0", "up")
    x0 = a.wait_link("x0", up=True)
    assert x0 is topology.link("a/x0") and not x0.declared
    assert (x0.kind, x0.mode, x0.ipv4) == ("macvlan", "bridge", "192.168.9.30")
    assert {link.name for link in a.links()} == {"lo", "e1", "m1", "x0"}
    cap = x0.sniff()
    assert topology["b"].ping("192.168.9.30").ok
    cap.wait_for(icmp_echo_request(dst="192.168.9.30") & incoming)
    # (which MAC b keeps for .30 depends on a's routing: its replies may leave through e1)
    assert topology["b"].neighbours().get("192.168.9.30") in {x0.mac, topology.link("a/e1").mac}


@pytest.mark.topology(BRIDGED)
def test_changes_through_the_api(topology: Topology) -> None:
    a, b = topology["a"], topology["b"]
    m1 = topology.link("a/m1")
    m1.set(address="02:00:00:00:bb:01", mtu=1400, mode="vepa", promisc=True, allmulticast=True)
    st = m1.state()
    assert (st.mac, st.mtu, st.mode, st.promisc, st.allmulticast) == ("02:00:00:00:bb:01", 1400, "vepa", True, True)
    m1.set(promisc=False, allmulticast=False, mode="bridge")
    assert not m1.promisc and not m1.allmulticast and m1.mode == "bridge"
    m1.add_address("192.168.9.40/24")
    assert {str(x.address) for x in m1.addresses} == {"192.168.9.12", "192.168.9.40"}
    m1.del_address("192.168.9.40/24")
    assert m1.ipv4 == "192.168.9.12"
    b.add_route("10.138.36.0/23", via="192.168.9.40")
    assert [str(r) for r in b.routes() if str(r.dst) == "10.138.36.0/23"] == [
        "10.138.36.0/23 via 192.168.9.40 oif 2 proto boot scope global"
    ] or any(r.gateway is not None and str(r.gateway) == "192.168.9.40" for r in b.routes())
    b.del_route("10.138.36.0/23", via="192.168.9.40")
    assert not [r for r in b.routes() if str(r.dst) == "10.138.36.0/23"]
    # hairpin and the other bridge-port flags, read back from the kernel
    v1 = topology.link("h/v1")
    v1.set(hairpin=True, isolated=True, learning=False, mcast_flood=False, neigh_suppress=True)
    port = v1.port
    assert (port["hairpin"], port["isolated"], port["learning"], port["mcast_flood"], port["neigh_suppress"]) == (
        1,
        1,
        0,
        0,
        1,
    )
    assert v1.master == "br0"
    v1.set(master=None)
    assert v1.master is None and not v1.port
    v1.set(master="br0")
    assert v1.master == "br0"
    br0 = topology.link("h/br0")
    br0.set_type(mcast_snooping=False, ageing_time=1000)
    assert (br0.state().data["mcast_snooping"], br0.state().data["ageing_time"]) == (0, 1000)
    m1.set_type(bcqueuelen=50)
    assert m1.state().data["bcqueuelen"] == 50
    with pytest.raises(ValueError, match="no option 'nodst'"):
        br0.set_type(nodst=True)
    del a


@pytest.mark.topology(BRIDGED)
def test_a_refused_change_names_the_errno_and_the_kernels_words(topology: Topology) -> None:
    m1 = topology.link("a/m1")
    with pytest.raises(ChangeError) as info:
        m1.set(mtu=9000)  # more than its parent's
    assert info.value.errno == errno.EINVAL and "a/m1: set mtu 9000" in str(info.value)
    assert "Invalid argument (EINVAL)" in str(info.value)
    with pytest.raises(ChangeError) as info:
        topology["b"].add_route("10.138.36.0/23", via="10.1.1.1")
    assert info.value.errno == errno.ENETUNREACH
    with pytest.raises(ChangeError) as info:
        topology.link("a/e1").set(master="m1")  # a macvlan is no master
    assert info.value.extack or info.value.errno, str(info.value)
    with pytest.raises(ValueError, match="no mode"):
        topology.link("a/e1").set(mode="private")
    with pytest.raises(TypeError, match="unknown option"):
        topology.link("a/e1").set(colour="blue")  # type: ignore[arg-type]


@pytest.mark.topology(BRIDGED)
def test_move_and_delete(topology: Topology) -> None:
    a, b = topology["a"], topology["b"]
    m1 = topology.link("a/m1")
    m1.move(b)
    assert m1.netns is b and topology.link("b/m1") is m1
    assert "m1" not in {link.name for link in a.links()}
    assert m1.kind == "macvlan" and not m1.is_up, "moving brings a link down, as with ip"
    m1.set(up=True)
    assert m1.carrier
    m1.delete()
    assert "m1" not in {s.name for s in b.link_states()}
    with pytest.raises(LookupError, match="no longer exists"):
        m1.state()


@pytest.mark.topology(BRIDGED)
def test_fdb_learned_and_static_and_mdb(topology: Topology) -> None:
    h, a = topology["h"], topology["a"]
    assert a.ping("192.168.9.3").ok
    e1 = topology.link("a/e1")
    learned = [f for f in h.fdb(master="br0") if f.mac == e1.mac]
    assert learned and learned[0].dynamic and learned[0].index == topology.link("h/v1").ifindex
    h.add_fdb("02:00:00:00:cc:01", "v2", sticky=True)
    # one entry, or (a kernel with bridge VLAN support) one per VLAN of the port and one without
    statics = [f for f in h.fdb(dev="v2") if f.mac == "02:00:00:00:cc:01"]
    assert statics and all(f.static and f.sticky and "sticky" in str(f) for f in statics)
    h.del_fdb("02:00:00:00:cc:01", "v2")
    assert not [f for f in h.fdb(dev="v2") if f.mac == "02:00:00:00:cc:01"]
    # A join inside a: the IGMP report teaches the snooping bridge that port v1 wants the group.
    cap = topology.link("h/v1").sniff()
    member = a.join("239.1.1.1", "e1")
    cap.wait_for(igmp_report("239.1.1.1") & incoming)
    entries = wait_until(h.mdb, lambda m: any(str(e.group) == "239.1.1.1" for e in m), timeout=3, what="mdb entry")
    [entry] = [e for e in entries if str(e.group) == "239.1.1.1"]
    assert entry.port == topology.link("h/v1").ifindex and h.name_of(entry.bridge) == "br0"
    member.leave()
    assert not member.joined


IPV6: dict[str, Any] = {
    "netns": {
        "a": {
            "ipv6": True,
            "link": {
                "v0": {
                    "type": "veth",
                    "addr": ["2001:db8::2/64"],
                    "peer": {"name": "v0", "netns": "b", "addr": ["2001:db8::3/64"]},
                }
            },
        },
        "b": {"ipv6": True},
    }
}


@pytest.mark.topology(IPV6)
def test_ipv6_build_returns_after_dad_and_ping6_works_at_once(topology: Topology) -> None:
    a = topology["a"]
    addrs = a.addresses(version=6)
    assert addrs and not any(x.tentative for x in addrs), [str(x) for x in addrs]
    cap = topology.link("b/v0").sniff()
    result = a.ping("2001:db8::3")
    assert (result.received, result.transmitted) == (1, 1), result.output
    cap.wait_for(icmpv6_echo_request(src="2001:db8::2", dst="2001:db8::3") & incoming)
    assert cap.count(nd_solicitation(target="2001:db8::3")) >= 1
    assert a.neighbours(version=6).get("2001:db8::3") == topology.link("b/v0").mac
    assert topology.link("a/v0").ipv6 == "2001:db8::2"
    m = a.join("ff0e::42", "v0")
    cap.wait_for(mld_report("ff0e::42") & incoming)
    member_cap = topology.link("a/v0").sniff()
    m.leave()
    member_cap.wait_for(outgoing)


def test_duplicate_ipv6_address_fails_the_build_naming_it(netlab: PytestLab) -> None:
    spec: dict[str, Any] = copy.deepcopy(IPV6)  # the same pair, both ends with one address
    spec["netns"]["a"]["link"]["v0"]["peer"]["addr"] = ["2001:db8::2/64"]
    with pytest.raises(BuildError) as info:
        netlab.build(spec)
    assert "2001:db8::2/64" in str(info.value) and "duplicate address detection failed" in str(info.value)
    assert "nodad" in str(info.value)
    spec["netns"]["a"]["nodad"] = True
    spec["netns"]["b"]["nodad"] = True
    topo = netlab.build(spec)
    assert all("nodad" in x.flag_names for x in topo["a"].addresses(version=6, dev="v0") if x.scope == "global")


@pytest.mark.topology(BRIDGED)
def test_ping_arguments(topology: Topology) -> None:
    a = topology["a"]
    r = a.ping("192.168.9.3", count=2, interval=0.05, interface="e1", size=1000)
    assert (r.received, r.transmitted) == (2, 2), r.output
    r = a.ping("192.168.9.99", count=1, timeout=0.2, deadline=1)
    assert r.transmitted >= 1 and r.received == 0 and not r.ok, r.output
    topology["b"].sysctl("net.ipv4.icmp_echo_ignore_broadcasts", 0)
    cap = topology.link("b/e2").sniff()
    a.ping("192.168.9.255", broadcast=True, interface="e1", timeout=0.3)
    cap.wait_for(icmp_echo_request(dst="192.168.9.255") & incoming)
    with pytest.raises(ValueError):
        a.ping("192.168.9.3; reboot")


NEW_KINDS = """
[netns.h.link.br0]
type = "bridge"
mcast_snooping = false
[netns.h.link.v1]
type = "veth"
master = "br0"
isolated = true
learning = false
flood = false
mcast_flood = false
neigh_suppress = true
hairpin = true
peer = { name = "e1", netns = "a", addr = ["192.168.9.2/24"] }
[netns.h.link.v2]
type = "veth"
master = "br0"
peer = { name = "e2", netns = "a" }
[netns.h.link.t0]
type = "tap"
allmulticast = true
address = "02:00:00:00:0a:01"
mtu = 1400
[netns.h.link.vx0]
type = "vxlan"
id = 42
remote = "192.168.9.9"
dstport = 4789
learning = false
[[netns.h.fdb]]
lladdr = "02:00:00:00:0b:01"
dev = "v2"
[netns.a.link.mt0]
type = "macvtap"
link = "e2"
mode = "private"
[netns.a.link.m0]
type = "macvlan"
link = "e1"
mode = "source"
nodst = true
nopromisc = true
bcqueuelen = 100
macaddr = ["02:00:00:00:00:99"]
"""


@pytest.mark.topology(NEW_KINDS)
def test_new_kinds_and_options_are_what_the_kernel_reports(topology: Topology) -> None:
    h, a = topology["h"], topology["a"]
    br0 = h.link("br0").state()
    assert br0.data["mcast_snooping"] == 0
    port = h.link("v1").port
    assert {k: port[k] for k in ("isolated", "learning", "flood", "mcast_flood", "neigh_suppress", "hairpin")} == {
        "isolated": 1,
        "learning": 0,
        "flood": 0,
        "mcast_flood": 0,
        "neigh_suppress": 1,
        "hairpin": 1,
    }
    t0 = h.link("t0").state()
    assert (t0.kind, t0.mac, t0.mtu, t0.allmulticast, t0.is_up) == ("tap", "02:00:00:00:0a:01", 1400, True, True)
    vx = h.link("vx0").state()
    assert (vx.kind, vx.data["vni"], vx.data["port"], vx.data["group"], vx.data["learning"]) == (
        "vxlan",
        42,
        4789,
        "192.168.9.9",
        0,
    )
    # One entry without a VLAN; a kernel built with bridge VLAN support adds one per VLAN of the
    # port (VLAN 1, the default pvid) even with vlan_filtering off: each is static too.
    ours = [f for f in h.fdb(dev="v2") if f.mac == "02:00:00:00:0b:01"]
    assert [f.static for f in ours if f.vlan is None] == [True] and all(f.static for f in ours), ours
    mt0 = a.link("mt0")
    assert (mt0.kind, mt0.mode) == ("macvtap", "private")
    m0 = a.link("m0").state()
    assert (m0.mode, m0.data["nodst"], m0.data["nopromisc"], m0.data["bcqueuelen"]) == ("source", 1, 1, 100)


@pytest.mark.topology(BRIDGED)
def test_apply_a_fragment_with_new_vocabulary(topology: Topology) -> None:
    topology.apply(
        """
        [netns.h]
        fdb = [{ lladdr = "02:00:00:00:dd:01", dev = "v1" }]
        [netns.b.link.m2]
        type = "macvlan"
        link = "e2"
        mode = "private"
        nopromisc = true
        addr = ["192.168.9.13/24"]
        """
    )
    m2 = topology.link("b/m2")
    assert (m2.mode, m2.ipv4, m2.state().data["nopromisc"]) == ("private", "192.168.9.13", 1)
    assert {f.mac for f in topology["h"].fdb(dev="v1") if f.static} == {"02:00:00:00:dd:01"}
    assert topology["a"].ping("192.168.9.13").ok
    assert src_mac(m2.mac)  # a predicate from the live MAC


# -- what the host kernel lacks: run in a kernel lane (pytest-macvlan kernel run uml-6.1 -- ...) --


@pytest.mark.requires_kernel("dummy", "vrf", "bond")
def test_dummy_vrf_and_bond(netlab: PytestLab) -> None:
    topo = netlab.build(
        """
        [netns.a.link.vrf1]
        type = "vrf"
        table = 10
        [netns.a.link.d0]
        type = "dummy"
        master = "vrf1"
        addr = ["192.168.9.2/24"]
        [netns.a.link.bond0]
        type = "bond"
        mode = "active-backup"
        members = ["v1", "v2"]
        [netns.a.link.v1]
        type = "veth"
        peer = { name = "p1", netns = "b" }
        [netns.a.link.v2]
        type = "veth"
        peer = { name = "p2", netns = "b" }
        [netns.b]
        """
    )
    a = topo["a"]
    assert a.link("d0").master == "vrf1" and a.link("vrf1").state().data["table"] == 10
    assert a.link("bond0").mode == "active-backup"
    assert {a.link("v1").master, a.link("v2").master} == {"bond0"}
    assert any(r.table == 10 for r in a.routes(table=None))
    a.link("bond0").wait_carrier()


@pytest.mark.requires_kernel("ipvlan")
def test_ipvlan_modes_and_flags(netlab: PytestLab) -> None:
    topo = netlab.build(
        """
        [netns.h.link.v0]
        type = "veth"
        peer = { name = "v0", netns = "x" }
        [netns.h.link.v1]
        type = "veth"
        peer = { name = "v1", netns = "x" }
        [netns.a.link.i1]
        type = "ipvlan"
        link = "h/v0"
        mode = "l2"
        flag = "private"
        addr = ["192.168.9.2/24"]
        [netns.b.link.i2]
        type = "ipvlan"
        link = "h/v1"                        # the mode is the parent's: one mode per parent
        mode = "l3s"
        addr = ["192.168.9.3/24"]
        [netns.x]
        """
    )
    i1, i2 = topo.link("a/i1"), topo.link("b/i2")
    assert (i1.mode, i1.state().data["isolation"], i2.mode) == ("l2", "private", "l3s")
    i2.set(mode="l3")
    assert i2.mode == "l3"


@pytest.mark.requires_kernel("vlan_filtering", "8021ad")
def test_vlan_filtering_entries_and_8021ad(netlab: PytestLab) -> None:
    topo = netlab.build(
        """
        [netns.h.link.br0]
        type = "bridge"
        vlan_filtering = true
        vlan_default_pvid = 0
        vlan = [{ vid = 10, untagged = false }]
        [netns.h.link.v1]
        type = "veth"
        master = "br0"
        vlan = [{ vid = 10, pvid = true, untagged = true }, 20]
        peer = { name = "e1", netns = "a" }
        [netns.a.link.q1]
        type = "vlan"
        link = "e1"
        id = 100
        protocol = "802.1ad"
        """
    )
    h = topo["h"]
    assert h.link("br0").state().data["vlan_filtering"] == 1
    v1 = h.link("v1").ifindex
    entries = {(v.vid, v.pvid, v.untagged) for v in h.bridge_vlans() if v.index == v1}
    assert entries == {(10, True, True), (20, False, False)}
    q1 = topo.link("a/q1").state()
    assert (q1.vlan_id, q1.vlan_protocol) == (100, "802.1ad")
    h.link("v1").add_vlan(30)
    assert any(v.vid == 30 for v in h.bridge_vlans() if v.index == v1)


def test_a_link_a_program_moves_is_followed_by_its_handle(netlab: PytestLab) -> None:
    """``Link.netns`` asks the kernel: after ``ip link set v1 netns B`` run by a program, the handle
    is the one ``B`` gives out, and it reads the link there (its MAC survived the move)."""
    topo = netlab.build(
        {"netns": {"a": {"link": {"v1": {"type": "veth", "peer": {"name": "v2", "netns": "c"}}}}, "b": {}, "c": {}}}
    )
    v1 = topo.link("a/v1")
    mac = v1.mac
    topo["a"].run("ip", "link", "set", "v1", "netns", topo["b"].path)
    assert v1.netns is topo["b"] and v1.ref == "b/v1"
    assert v1.mac == mac and topo.link("b/v1") is v1
    assert "v1" not in [link.name for link in topo["a"].links()]
    topo["b"].run("ip", "link", "del", "v1")
    with pytest.raises(LookupError, match="no longer exists"):
        _ = v1.mac

"""The article's macvlan *bridge* mode, frame by frame (scenarios/bridge.toml).

The article's bridge-mode macvlans are named here macvl3 (ns3, 10.138.36.103) and macvl4 (ns4,
10.138.36.104), both on S3's eno2, in line with the article's names (macvl1..macvl5 in
ns1..ns5); their addresses are on the LAN, next to S20 and the gateway.
"""

from __future__ import annotations

import pytest

from pytest_macvlan import (
    Link,
    Pred,
    Topology,
    arp_reply,
    arp_request,
    broadcast,
    dst_mac,
    icmp_echo_reply,
    icmp_echo_request,
    incoming,
    ipv4,
    mac,
    outgoing,
    src_mac,
)

pytestmark = pytest.mark.topology("bridge.toml")

NS3_IP = "10.138.36.103"
NS4_IP = "10.138.36.104"
S20_IP = "10.138.36.66"
BEHIND_GATEWAY = ("10.138.10.161", "203.0.113.66")  # the other subnet's host, the public host


def between(a: Link, b: Link) -> Pred:
    """A unicast frame from ``a`` to ``b`` or back."""
    return (src_mac(a.mac) & dst_mac(b.mac)) | (src_mac(b.mac) & dst_mac(a.mac))


@pytest.mark.claim("two bridge-mode macvlans on one parent talk directly")
def test_bridge_macvlans_talk_directly(topology: Topology) -> None:
    """Article (in substance): two bridge-mode macvlans on eno2 talk directly. The macvlan driver switches
    frames between macvlans of one parent itself, with no hairpin and no external switch."""
    ns3 = topology["ns3"]
    macvl3, macvl4 = topology.link("ns3/macvl3"), topology.link("ns4/macvl4")
    cap = macvl4.sniff()
    result = ns3.ping(NS4_IP)
    assert result.ok, result.output
    assert result.ttl == 64, result.output  # no router in between
    assert ns3.neighbours().get(NS4_IP) == macvl4.mac
    cap.wait_for(icmp_echo_request(src=NS3_IP, dst=NS4_IP) & incoming & src_mac(macvl3.mac))
    cap.wait_for(icmp_echo_reply(src=NS4_IP, dst=NS3_IP) & outgoing & dst_mac(macvl3.mac))


@pytest.mark.claim(
    "between two bridge-mode macvlans only the ARP broadcast leaves eno2; the unicast shows there as received",
    differs="tcpdump on eno2 lists every frame of the exchange, but the unicast ones only as received "
    "(macvlan hands them to the parent's taps): they never go out; on the wire there is only the broadcast",
)
def test_parent_capture_between_bridge_macvlans(topology: Topology) -> None:
    """Article (in substance): what a capture on the parent eno2 shows of the exchange between two
    bridge-mode macvlans.

    What the kernel does (drivers/net/macvlan.c, bridge mode): a broadcast from a macvlan goes to
    the other macvlans *and* out of the parent; a unicast to a sibling's MAC is passed to the
    parent's receive path (``dev_forward_skb``) so that its taps see it, then delivered to the
    sibling. So a capture on eno2 does list the unicast frames, but as *received*, never as sent,
    and a capture on the wire (eno2's peer on the LAN switch) sees the broadcast alone.
    """
    macvl3, macvl4 = topology.link("ns3/macvl3"), topology.link("ns4/macvl4")
    eno2, wire = topology.link("S3/eno2").sniff(), topology.link("lan/s3").sniff()
    result = topology["ns3"].ping(NS4_IP)
    assert result.ok, result.output
    ask = arp_request(psrc=NS3_IP, pdst=NS4_IP)
    eno2.assert_count(ask & broadcast & outgoing, 1)
    unicast = between(macvl3, macvl4)
    seen = eno2.wait_for(unicast & incoming, count=3)  # ARP reply, echo request, echo reply
    assert [f.arp is not None for f in seen].count(True) == 1, eno2.summary()
    eno2.assert_none(unicast & outgoing)
    wire.assert_count(ask & broadcast, 1)
    wire.assert_none(unicast)


@pytest.mark.claim("another LAN host sees only the ARP broadcast of the macvlans' exchange, none of the unicast")
def test_lan_host_sees_only_the_arp_broadcast(topology: Topology) -> None:
    """Article (in substance): S20 sees only the ARP request. The macvlans and the LAN are one
    broadcast domain, but unicast between macvlans of one parent never reaches the LAN."""
    macvl3, macvl4 = topology.link("ns3/macvl3"), topology.link("ns4/macvl4")
    s20 = topology.link("S20/eth0").sniff()
    result = topology["ns3"].ping(NS4_IP)
    assert result.ok, result.output
    s20.assert_count(arp_request(psrc=NS3_IP, pdst=NS4_IP) & broadcast & incoming, 1)
    s20.assert_count(mac(macvl3.mac) | mac(macvl4.mac), 1)  # that broadcast, and nothing else of theirs
    s20.assert_none(arp_reply(psrc=NS4_IP) | ipv4(src=NS3_IP) | ipv4(src=NS4_IP))


@pytest.mark.claim("ns4 reaches the LAN host S20 directly, to S20's MAC")
def test_ns4_reaches_the_lan_host_directly(topology: Topology) -> None:
    """Article (in substance): ns4 reaches the LAN host 10.138.36.66 (on the same LAN: no gateway in
    between, ttl 64)."""
    macvl4, s20 = topology.link("ns4/macvl4"), topology.link("S20/eth0")
    eno2 = topology.link("S3/eno2").sniff()
    result = topology["ns4"].ping(S20_IP)
    assert result.ok, result.output
    assert result.ttl == 64, result.output
    eno2.wait_for(icmp_echo_request(src=NS4_IP, dst=S20_IP) & outgoing & src_mac(macvl4.mac) & dst_mac(s20.mac))
    eno2.wait_for(icmp_echo_reply(src=S20_IP, dst=NS4_IP) & incoming & src_mac(s20.mac) & dst_mac(macvl4.mac))


@pytest.mark.claim("ns4 reaches 10.138.10.161 and the public host through the gateway; on eno2 to the gateway's MAC")
def test_ns4_reaches_hosts_behind_the_gateway(topology: Topology) -> None:
    """Article (in substance): ns4 reaches 10.138.10.161 and the public host through the gateway; on
    eno2 the frames go to the gateway's MAC (the public host is 203.0.113.66 here)."""
    macvl4, gw = topology.link("ns4/macvl4"), topology.link("gw/eth0")
    eno2 = topology.link("S3/eno2").sniff()
    for dst in BEHIND_GATEWAY:
        result = topology["ns4"].ping(dst)
        assert result.ok, result.output
        assert result.ttl == 63, result.output  # one router: the gateway
        eno2.wait_for(icmp_echo_request(src=NS4_IP, dst=dst) & outgoing & src_mac(macvl4.mac) & dst_mac(gw.mac))
        eno2.wait_for(icmp_echo_reply(src=dst, dst=NS4_IP) & incoming & src_mac(gw.mac) & dst_mac(macvl4.mac))
    routed = ipv4(src=NS4_IP) & ~ipv4(dst=S20_IP)
    assert all(f.dst == gw.mac for f in eno2.matching(routed)), eno2.summary()


@pytest.mark.claim("no NAT on S3: the hosts behind the gateway see ns4's own address")
def test_no_nat_on_s3(topology: Topology) -> None:
    """Article (in substance): ns4 reaches the other subnet and the public host with no NAT on S3.

    The macvlan's frames leave eno2 as ns4 sent them: S3's IP stack (its routing, its netfilter)
    never sees them. The far hosts see 10.138.36.104 as the source, and answer it.
    """
    far = {
        "10.138.10.161": topology.link("other/eth0").sniff(),
        "203.0.113.66": topology.link("public/eth0").sniff(),
    }
    for dst, cap in far.items():
        result = topology["ns4"].ping(dst)
        assert result.ok, result.output
        cap.wait_for(icmp_echo_request(src=NS4_IP, dst=dst) & incoming)
        cap.wait_for(icmp_echo_reply(src=dst, dst=NS4_IP) & outgoing)
        assert all(f.ipv4 is None or f.ipv4[0] in (NS4_IP, dst) for f in cap.frames), cap.summary()

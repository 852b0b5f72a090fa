"""The article's macvlan *bridge* mode, frame by frame (scenarios/bridge.toml, L1020-1282).

As in the article: macvl4 (ns4, 10.138.36.2) and macvl5 (ns5, 10.138.36.3), both bridge-mode
macvlans on S3's eno2, with addresses on the LAN next to S20 (10.138.36.66) and the gateway
(10.138.36.1). The public host is 203.0.113.66 here (the article's is a real public address).
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

NS4_IP = "10.138.36.2"
NS5_IP = "10.138.36.3"
S20_IP = "10.138.36.66"
BEHIND_GATEWAY = ("10.138.10.161", "203.0.113.66")  # the other subnet's host, the public host


def between(a: Link, b: Link) -> Pred:
    """A unicast frame from ``a`` to ``b`` or back."""
    return (src_mac(a.mac) & dst_mac(b.mac)) | (src_mac(b.mac) & dst_mac(a.mac))


@pytest.mark.claim(
    "two bridge-mode macvlans on one parent talk directly",
    article="L1095",
    quote="在ns4中pingns5,通",
    gloss="from ns4, ping ns5: it works",
    precisely="the macvlan driver switches the frames between the two itself: no hairpin, no external switch (ttl 64)",
)
def test_bridge_macvlans_talk_directly(topology: Topology) -> None:
    """two bridge-mode macvlans on eno2 talk directly. The macvlan driver switches
    frames between macvlans of one parent itself, with no hairpin and no external switch."""
    ns4 = topology["ns4"]
    macvl4, macvl5 = topology.link("ns4/macvl4"), topology.link("ns5/macvl5")
    cap = macvl5.sniff()
    result = ns4.echo(NS5_IP)
    assert result.ok, result.output
    assert result.ttl == 64, result.output  # no router in between
    assert ns4.neighbours().get(NS5_IP) == macvl5.mac
    cap.wait_for(icmp_echo_request(src=NS4_IP, dst=NS5_IP) & incoming & src_mac(macvl4.mac))
    cap.wait_for(icmp_echo_reply(src=NS5_IP, dst=NS4_IP) & outgoing & dst_mac(macvl4.mac))


@pytest.mark.claim(
    "a capture on the parent eno2 shows the unicast between its bridge-mode macvlans",
    article="L1120-1134",
    quote="父接口相当于一个bridge转发其上macvlan接口之间的单播报文",
    gloss="the parent acts as a bridge forwarding the unicast frames between the macvlans on it",
    precisely="the unicast frames show on eno2 only as received (macvlan hands them to the parent's taps), "
    "never as sent: they never leave; on the wire there is only the ARP broadcast",
)
def test_parent_capture_between_bridge_macvlans(topology: Topology) -> None:
    """what a capture on the parent eno2 shows of the exchange between two
    bridge-mode macvlans.

    What the kernel does (drivers/net/macvlan.c, bridge mode): a broadcast from a macvlan goes to
    the other macvlans *and* out of the parent; a unicast to a sibling's MAC is passed to the
    parent's receive path (``dev_forward_skb``) so that its taps see it, then delivered to the
    sibling. So a capture on eno2 does list the unicast frames, but as *received*, never as sent,
    and a capture on the wire (eno2's peer on the LAN switch) sees the broadcast alone.
    """
    macvl4, macvl5 = topology.link("ns4/macvl4"), topology.link("ns5/macvl5")
    eno2, wire = topology.link("S3/eno2").sniff(), topology.link("lan/s3").sniff()
    result = topology["ns4"].echo(NS5_IP)
    assert result.ok, result.output
    ask = arp_request(psrc=NS4_IP, pdst=NS5_IP)
    eno2.assert_count(ask & broadcast & outgoing, 1)
    unicast = between(macvl4, macvl5)
    seen = eno2.wait_for(unicast & incoming, count=3)  # ARP reply, echo request, echo reply
    assert [f.arp is not None for f in seen].count(True) == 1, eno2.summary()
    eno2.assert_none(unicast & outgoing)
    wire.assert_count(ask & broadcast, 1)
    wire.assert_none(unicast)


@pytest.mark.claim(
    "another LAN host sees the ARP broadcast of the macvlans' exchange (one broadcast domain), none of the unicast",
    article="L1147",
    quote="抓到了arp广播报文,也说明macvlan接口和父接口共享同一广播域",
    gloss="it caught the ARP broadcast, which also shows that the macvlans and the parent share one broadcast domain",
)
def test_lan_host_sees_only_the_arp_broadcast(topology: Topology) -> None:
    """S20 sees only the ARP request. The macvlans and the LAN are one
    broadcast domain, but unicast between macvlans of one parent never reaches the LAN."""
    macvl4, macvl5 = topology.link("ns4/macvl4"), topology.link("ns5/macvl5")
    s20 = topology.link("S20/eth0").sniff()
    result = topology["ns4"].echo(NS5_IP)
    assert result.ok, result.output
    s20.assert_count(arp_request(psrc=NS4_IP, pdst=NS5_IP) & broadcast & incoming, 1)
    s20.assert_count(mac(macvl4.mac) | mac(macvl5.mac), 1)  # that broadcast, and nothing else of theirs
    s20.assert_none(arp_reply(psrc=NS5_IP) | ipv4(src=NS4_IP) | ipv4(src=NS5_IP))


@pytest.mark.claim(
    "ns4 reaches the LAN host 10.138.36.66 directly, to its MAC",
    article="L1170",
    quote="在ns4中ping和父接口同一物理网络的其它主机36.66",
    gloss="from ns4, ping 36.66, another host on the parent's physical network",
)
def test_ns4_reaches_the_lan_host_directly(topology: Topology) -> None:
    """ns4 reaches the LAN host 10.138.36.66 (on the same LAN: no gateway in
    between, ttl 64)."""
    macvl4, s20 = topology.link("ns4/macvl4"), topology.link("S20/eth0")
    eno2 = topology.link("S3/eno2").sniff()
    result = topology["ns4"].echo(S20_IP)
    assert result.ok, result.output
    assert result.ttl == 64, result.output
    eno2.wait_for(icmp_echo_request(src=NS4_IP, dst=S20_IP) & outgoing & src_mac(macvl4.mac) & dst_mac(s20.mac))
    eno2.wait_for(icmp_echo_reply(src=S20_IP, dst=NS4_IP) & incoming & src_mac(s20.mac) & dst_mac(macvl4.mac))


@pytest.mark.claim(
    "ns4 reaches 10.138.10.161 and the public host through the gateway; on eno2 to the gateway's MAC",
    article="L1203",
    quote="可以看到ping不同子网ip时,流量是经过网关36.1的",
    gloss="pinging an address of another subnet, the traffic goes through the gateway 36.1",
)
def test_ns4_reaches_hosts_behind_the_gateway(topology: Topology) -> None:
    """ns4 reaches 10.138.10.161 and the public host through the gateway; on
    eno2 the frames go to the gateway's MAC (the public host is 203.0.113.66 here)."""
    macvl4, gw = topology.link("ns4/macvl4"), topology.link("gw/eth0")
    eno2 = topology.link("S3/eno2").sniff()
    for dst in BEHIND_GATEWAY:
        result = topology["ns4"].echo(dst)
        assert result.ok, result.output
        assert result.ttl == 63, result.output  # one router: the gateway
        eno2.wait_for(icmp_echo_request(src=NS4_IP, dst=dst) & outgoing & src_mac(macvl4.mac) & dst_mac(gw.mac))
        eno2.wait_for(icmp_echo_reply(src=dst, dst=NS4_IP) & incoming & src_mac(gw.mac) & dst_mac(macvl4.mac))
    routed = ipv4(src=NS4_IP) & ~ipv4(dst=S20_IP)
    assert all(f.dst == gw.mac for f in eno2.matching(routed)), eno2.summary()


@pytest.mark.claim(
    "no NAT on S3: the hosts behind the gateway see ns4's own address",
    article="L1244",
    quote="所以省去了额外在防火墙iptables中配置 NAT规则的麻烦",
    gloss="so there is no need to configure NAT rules in the iptables firewall",
)
def test_no_nat_on_s3(topology: Topology) -> None:
    """ns4 reaches the other subnet and the public host with no NAT on S3.

    The macvlan's frames leave eno2 as ns4 sent them: S3's IP stack (its routing, its netfilter)
    never sees them. The far hosts see 10.138.36.2 as the source, and answer it.
    """
    far = {
        "10.138.10.161": topology.link("other/eth0").sniff(),
        "203.0.113.66": topology.link("public/eth0").sniff(),
    }
    for dst, cap in far.items():
        result = topology["ns4"].echo(dst)
        assert result.ok, result.output
        cap.wait_for(icmp_echo_request(src=NS4_IP, dst=dst) & incoming)
        cap.wait_for(icmp_echo_reply(src=dst, dst=NS4_IP) & outgoing)
        assert all(f.ipv4 is None or f.ipv4[0] in (NS4_IP, dst) for f in cap.frames), cap.summary()

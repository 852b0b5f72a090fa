"""The article's macvlan *vepa* transcript, frame by frame.

The article's topology (scenarios/vepa_vlan.toml) puts the macvlans on 802.1Q sub-interfaces;
on a kernel without 8021q its tests are skipped, naming the feature. The claims that do not
depend on VLANs also run on scenarios/vepa.toml, the same topology with the macvlans directly
on veth1 and veth2. Tests that need VLANs carry the ``vlan`` marker (``-m vlan``).
"""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_macvlan import (
    Netns,
    Topology,
    arp_reply,
    arp_request,
    icmp_echo_reply,
    icmp_echo_request,
    incoming,
    outgoing,
    vlan,
)

# Each variant's marks give the `topology` fixture its spec.
PLAIN = pytest.param("vepa.toml", marks=pytest.mark.topology("vepa.toml"), id="plain")
VLAN = pytest.param("vepa_vlan.toml", marks=[pytest.mark.topology("vepa_vlan.toml"), pytest.mark.vlan], id="vlan")
on_both = pytest.mark.parametrize("variant", [PLAIN, VLAN])
on_plain = pytest.mark.parametrize("variant", [PLAIN])
on_vlans = pytest.mark.parametrize("variant", [VLAN])

NS1, NS2, NS5 = "192.168.9.2", "192.168.9.3", "192.168.9.5"
TEST_BR_RULE = ("FORWARD", "-i", "test_br", "-o", "test_br", "-j", "ACCEPT")


def tag_of(variant: str) -> int | None:
    """The VLAN tag ns1 and ns2's frames carry on test_br: 11 in the article's topology."""
    return 11 if variant == "vepa_vlan.toml" else None


def require_br_netfilter(s3: Netns) -> None:
    """The FORWARD claims need br_netfilter (the article's Docker host loads it)."""
    try:
        s3.sysctl("net.bridge.bridge-nf-call-iptables")
    except OSError as exc:
        pytest.skip(
            f"kernel lacks br_netfilter (bridged IPv4 does not traverse iptables; "
            f"Docker loads it: modprobe br_netfilter): {exc}"
        )


@on_both
@pytest.mark.claim("two vepa macvlans on one parent reach each other through test_br's hairpin")
def test_vepa_siblings_talk_through_the_hairpin(topology: Topology, variant: str) -> None:
    """Article: "macvl1 and macvl2 (vepa, both on veth1.11) can ping each other: the frames go out
    to test_br and come back through the hairpin port"."""
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = topology["ns1"].ping(NS2)
    assert result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth1_br.wait_for(request & incoming)  # out of the parent into the switch ...
    veth1_br.wait_for(request & outgoing)  # ... and back through the hairpin
    macvl2.wait_for(request & incoming)


@on_vlans
@pytest.mark.claim("ns1's neighbour entry for 192.168.9.3 is macvl2's MAC, not macvl4's (VLAN 12)")
def test_neighbour_is_macvl2_not_macvl4(topology: Topology, variant: str) -> None:
    """Article: "the ARP entry for 192.168.9.3 in ns1 is macvl2's MAC": macvl4 has the same
    address on VLAN 12 and never hears the question."""
    macvl4 = topology.link("ns4/macvl4").sniff()
    result = topology["ns1"].ping(NS2)
    assert result.ok, result.output
    macvl2_mac, macvl4_mac = topology.link("ns2/macvl2").mac, topology.link("ns4/macvl4").mac
    assert macvl2_mac != macvl4_mac
    assert topology["ns1"].neighbours().get(NS2) == macvl2_mac
    macvl4.assert_none(within=0)


@on_vlans
@pytest.mark.claim("on veth1_br every frame carries 802.1Q tag 11")
def test_every_frame_on_veth1_br_is_tagged_11(topology: Topology, variant: str) -> None:
    """Article: "tcpdump -e on veth1_br: every frame has vlan 11"."""
    veth1_br = topology.link("S3/veth1_br").sniff()
    result = topology["ns1"].ping(NS2)
    assert result.ok, result.output
    veth1_br.wait_for(icmp_echo_reply(src=NS2, dst=NS1) & outgoing)
    frames = veth1_br.frames
    assert len(frames) >= 8, veth1_br.summary()  # ARP and ICMP, each way, each twice
    assert all(f.vlan == 11 for f in frames), veth1_br.summary()


@on_both
@pytest.mark.claim(
    "on veth1_br each frame appears twice (hairpin)",
    differs="twice means once in each direction: received from veth1, then sent back to it by the hairpin",
)
def test_each_frame_appears_twice_on_the_hairpin_port(topology: Topology, variant: str) -> None:
    """Article: "on veth1_br each frame appears twice".

    On this kernel the two copies are one frame received from veth1 and the same bytes sent back
    to veth1 by the hairpin (tcpdump shows them as ``In`` and ``Out``): nothing else is seen twice.
    """
    veth1_br = topology.link("S3/veth1_br").sniff()
    result = topology["ns1"].ping(NS2)
    assert result.ok, result.output
    received = veth1_br.matching(incoming)
    veth1_br.wait_for(outgoing, count=len(received))
    came = Counter(f.data for f in veth1_br.matching(incoming))
    went = Counter(f.data for f in veth1_br.matching(outgoing))
    assert came == went, veth1_br.summary()
    tag = tag_of(variant)
    on_the_wire = vlan(tag) if tag else ~vlan()
    for what in (arp_request(pdst=NS2), arp_reply(psrc=NS2), icmp_echo_request(dst=NS2), icmp_echo_reply(src=NS2)):
        assert veth1_br.count(what & on_the_wire & incoming) == 1, f"{what}\n{veth1_br.summary()}"


@on_both
@pytest.mark.claim("the bridge changes neither source nor destination MAC")
def test_bridge_keeps_both_macs(topology: Topology, variant: str) -> None:
    """Article: "the source and destination MACs are the macvlans' own, on the way in and on the
    way back out of veth1_br"."""
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = topology["ns1"].ping(NS2)
    assert result.ok, result.output
    mac1, mac2 = topology.link("ns1/macvl1").mac, topology.link("ns2/macvl2").mac
    for what, macs in ((icmp_echo_request(src=NS1, dst=NS2), (mac1, mac2)), (icmp_echo_reply(src=NS2), (mac2, mac1))):
        [came] = veth1_br.wait_for(what & incoming)
        [went] = veth1_br.wait_for(what & outgoing)
        assert (came.src, came.dst) == (went.src, went.dst) == macs, veth1_br.summary()
        assert came.data == went.data, veth1_br.summary()
    [delivered] = macvl2.wait_for(icmp_echo_request(src=NS1) & incoming)
    assert (delivered.src, delivered.dst) == (mac1, mac2), macvl2.summary()


@on_vlans
@pytest.mark.claim("veth2.12 and macvl4 (VLAN 12) see none of VLAN 11's frames")
def test_other_vlan_sees_nothing(topology: Topology, variant: str) -> None:
    """Article: "tcpdump on veth2.12 and on macvl4 shows nothing": VLAN 11's broadcasts reach
    veth2, and die there for VLAN 12."""
    veth2, veth2_12, macvl4 = topology.sniff("S3/veth2", "S3/veth2.12", "ns4/macvl4")
    result = topology["ns1"].ping(NS2)
    assert result.ok, result.output
    veth2.wait_for(arp_request(psrc=NS1, pdst=NS2) & vlan(11) & incoming)  # the flood reached the parent
    veth2_12.assert_none(within=0)
    macvl4.assert_none(within=0)


@on_vlans
@pytest.mark.claim("a VLAN sub-interface has the same MAC as its parent")
def test_vlan_subinterface_has_its_parents_mac(topology: Topology, variant: str) -> None:
    """Article: "veth1.11 has the same MAC address as veth1"."""
    for parent, sub in (("veth1", "veth1.11"), ("veth2", "veth2.11"), ("veth2", "veth2.12")):
        assert topology.link(f"S3/{sub}").mac == topology.link(f"S3/{parent}").mac, sub
    assert topology.link("S3/veth1").mac != topology.link("S3/veth2").mac


@on_vlans
@pytest.mark.claim("ns1 reaches ns5 on VLAN 11 of the other parent; veth2.11 shows the frames untagged")
def test_across_parents_on_vlan_11(topology: Topology, variant: str) -> None:
    """Article: "ns1 pings ns5 (macvl5 on veth2.11); tcpdump on veth2.11 shows no VLAN tag"
    (the tag is on veth2, the sub-interface's parent)."""
    veth2, veth2_11 = topology.sniff("S3/veth2", "S3/veth2.11")
    result = topology["ns1"].ping(NS5)
    assert result.ok, result.output
    request, reply = icmp_echo_request(src=NS1, dst=NS5), icmp_echo_reply(src=NS5, dst=NS1)
    veth2.wait_for(request & vlan(11) & incoming)
    veth2.wait_for(reply & vlan(11) & outgoing)
    veth2_11.wait_for(request & incoming)
    veth2_11.wait_for(reply & outgoing)
    assert veth2_11.count(vlan()) == 0, veth2_11.summary()


@on_both
@pytest.mark.claim("without hairpin, two vepa macvlans on one parent cannot talk")
def test_without_hairpin_vepa_siblings_cannot_talk(topology: Topology, variant: str) -> None:
    """Article: "with hairpin off on veth1_br, ping from ns1 to ns2 fails": the bridge does not
    send a frame back out of the port it came in on."""
    topology.link("S3/veth1_br").set_hairpin(False)
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = topology["ns1"].ping(NS2)
    assert not result.ok, result.output
    ask = arp_request(psrc=NS1, pdst=NS2)
    veth1_br.wait_for(ask & incoming)  # it reached the switch ...
    veth1_br.assert_none(ask & outgoing, within=0)  # ... and never came back
    macvl2.assert_none(ask, within=0)


@on_plain
@pytest.mark.claim("with FORWARD's policy DROP, test_br's iptables FORWARD rule is what lets bridged traffic through")
def test_forward_rule_lets_bridged_traffic_through(topology: Topology, variant: str) -> None:
    """Article: "Docker sets FORWARD's policy to DROP; the ACCEPT rule for test_br is needed".

    Bridged IPv4 traverses iptables because br_netfilter is on (Docker loads it). With the rule
    deleted, the echo request reaches test_br and is never forwarded. (Untagged frames: for the
    article's VLAN topology, see test_forward_rule_and_vlan_tagged_frames.)
    """
    s3, ns1 = topology["S3"], topology["ns1"]
    require_br_netfilter(s3)
    first = ns1.ping(NS2)
    assert first.ok, first.output
    s3.iptables("-D", *TEST_BR_RULE)
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = ns1.ping(NS2, timeout=0.3)
    assert not result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth1_br.wait_for(request & incoming)
    veth1_br.assert_none(request & outgoing, within=0)
    macvl2.assert_none(request, within=0)


@on_vlans
@pytest.mark.claim(
    "with FORWARD's policy DROP, test_br's FORWARD rule is what lets VLAN 11's traffic through",
    differs="802.1Q-tagged frames skip iptables unless net.bridge.bridge-nf-filter-vlan-tagged = 1 (default 0): "
    "without it the rule is not needed",
)
def test_forward_rule_and_vlan_tagged_frames(topology: Topology, variant: str) -> None:
    """Article: "Docker sets FORWARD's policy to DROP; the ACCEPT rule for test_br is needed".

    In the article's VLAN topology every frame on test_br is tagged, and br_netfilter hands a
    tagged IPv4 frame to iptables only when ``net.bridge.bridge-nf-filter-vlan-tagged`` is 1; its
    default is 0. So the ping works without the rule, until that sysctl is set.
    """
    s3, ns1 = topology["S3"], topology["ns1"]
    require_br_netfilter(s3)
    assert s3.sysctl("net.bridge.bridge-nf-filter-vlan-tagged") == "0"
    s3.iptables("-D", *TEST_BR_RULE)
    untouched = ns1.ping(NS2)
    assert untouched.ok, f"tagged frames do not meet FORWARD's DROP:\n{untouched.output}"
    s3.sysctl("net.bridge.bridge-nf-filter-vlan-tagged", 1)
    veth1_br = topology.link("S3/veth1_br").sniff()
    result = ns1.ping(NS2, timeout=0.3)
    assert not result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth1_br.wait_for(request & vlan(11) & incoming)
    veth1_br.assert_none(request & outgoing, within=0)
    s3.iptables("-A", *TEST_BR_RULE)
    back = ns1.ping(NS2)
    assert back.ok, back.output

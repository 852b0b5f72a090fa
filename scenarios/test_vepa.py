"""The article's macvlan *vepa* section (L21-472), frame by frame, in the article's order.

The article's topology (scenarios/vepa_vlan.toml) puts the macvlans on 802.1Q sub-interfaces;
on a kernel without 8021q its tests are skipped, naming the feature (``-m vlan`` selects them
in a kernel lane that has it). The spec is the article's first state (L30-286); the article's
next step, VLAN 11 on veth2 with macvl5 in ns5 (L389-423), is applied at run time
(:data:`VLAN11_ON_VETH2`). The claims that do not depend on VLANs also run on
scenarios/vepa.toml, the same topology with the macvlans directly on veth1 and veth2 (macvl5,
ns5, on veth2 from the start).
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
# L126-127: the article's two rules.
TEST_BR_RULES = (("FORWARD", "-i", "test_br", "-j", "ACCEPT"), ("FORWARD", "-o", "test_br", "-j", "ACCEPT"))
# L389-423: veth2.11 on veth2, macvl5 on it, moved to ns5, with 192.168.9.5 and its default route.
VLAN11_ON_VETH2 = """
[netns.S3.link."veth2.11"]
type = "vlan"
link = "veth2"
id = 11

[netns.ns5]
route = [{ to = "default", dev = "macvl5" }]

[netns.ns5.link.macvl5]
type = "macvlan"
link = "S3/veth2.11"
mode = "vepa"
addr = ["192.168.9.5/24"]
"""


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


def delete_test_br_rules(s3: Netns) -> None:
    for rule in TEST_BR_RULES:
        s3.iptables("-D", *rule)


def shows_promisc(ns: Netns, name: str) -> bool:
    flags = ns.run("ip", "-o", "link", "show", "dev", name).stdout.split("<", 1)[1].split(">", 1)[0]
    return "PROMISC" in flags.split(",")


@on_both
@pytest.mark.claim(
    "two vepa macvlans on one parent reach each other through test_br's hairpin",
    article="L290",
    quote="在bridge的作用下同一父接口的macvlan接口之间是通的",
    gloss="thanks to the bridge, the macvlans of one parent reach each other",
)
def test_vepa_siblings_talk_through_the_hairpin(topology: Topology, variant: str) -> None:
    """macvl1 and macvl2 (vepa, both on veth1.11): the frames go out to test_br and come back
    through the hairpin port."""
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = topology["ns1"].echo(NS2)
    assert result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth1_br.wait_for(request & incoming)  # out of the parent into the switch ...
    veth1_br.wait_for(request & outgoing)  # ... and back through the hairpin
    macvl2.wait_for(request & incoming)


@on_vlans
@pytest.mark.claim(
    "ns1's neighbour entry for 192.168.9.3 is macvl2's MAC, not macvl4's (VLAN 12)",
    article="L290",
    quote="192.168.9.3的mac地址正是是ns2中macvl2接口的mac地址,而不是ns4中macvl4的",
    gloss="the MAC for 192.168.9.3 is indeed that of macvl2 in ns2, not that of macvl4 in ns4",
)
def test_neighbour_is_macvl2_not_macvl4(topology: Topology, variant: str) -> None:
    """macvl4 has the same address on VLAN 12 and never hears the question."""
    macvl4 = topology.link("ns4/macvl4").sniff()
    result = topology["ns1"].echo(NS2)
    assert result.ok, result.output
    macvl2_mac, macvl4_mac = topology.link("ns2/macvl2").mac, topology.link("ns4/macvl4").mac
    assert macvl2_mac != macvl4_mac
    assert topology["ns1"].neighbours().get(NS2) == macvl2_mac
    macvl4.assert_none(within=0)


@on_vlans
@pytest.mark.claim(
    "on veth1_br every frame carries 802.1Q tag 11",
    article="L313",
    quote="可以看到数据帧都带有vlan tag",
    gloss="you can see that the frames all carry a VLAN tag",
)
def test_every_frame_on_veth1_br_is_tagged_11(topology: Topology, variant: str) -> None:
    veth1_br = topology.link("S3/veth1_br").sniff()
    result = topology["ns1"].echo(NS2)
    assert result.ok, result.output
    veth1_br.wait_for(icmp_echo_reply(src=NS2, dst=NS1) & outgoing)
    frames = veth1_br.frames
    assert len(frames) >= 8, veth1_br.summary()  # ARP and ICMP, each way, each twice
    assert all(f.vlan == 11 for f in frames), veth1_br.summary()


@on_both
@pytest.mark.claim(
    "on veth1_br each frame appears twice (hairpin)",
    article="L313",
    quote="又都发回veth1_br接口,所以数据包是双份的",
    gloss="and are all sent back out of veth1_br, so each packet appears twice",
    precisely="twice is once in each direction: received from veth1, then the same bytes sent back to veth1 by the "
    "hairpin (tcpdump's In and Out); nothing is seen twice in one direction",
)
def test_each_frame_appears_twice_on_the_hairpin_port(topology: Topology, variant: str) -> None:
    veth1_br = topology.link("S3/veth1_br").sniff()
    result = topology["ns1"].echo(NS2)
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
@pytest.mark.claim(
    "the bridge changes neither source nor destination MAC",
    article="L315",
    quote="注意bridge等桥接设备在转发数据包时源MAC和目的MAC不会改变",
    gloss="note that a bridge (or any bridging device) changes neither the source nor the destination MAC "
    "when it forwards a frame",
)
def test_bridge_keeps_both_macs(topology: Topology, variant: str) -> None:
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = topology["ns1"].echo(NS2)
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
@pytest.mark.claim(
    "VLAN 11's frames reach veth2 and die there: veth2.12 and macvl4 (VLAN 12) see none of them",
    article="L358-360",
    quote="非此vlan的数据包已经在父接口被丢弃",
    gloss="frames not of this VLAN were already dropped at the parent",
)
def test_other_vlan_sees_nothing(topology: Topology, variant: str) -> None:
    """Before the article's next step (no veth2.11 yet, L358-377): VLAN 11's broadcast reaches
    veth2 (the last point), and nothing of it reaches veth2.12, macvl3 or macvl4. After it
    (veth2.11 added, L389): the same broadcast now goes up veth2.11, untagged; still nothing on
    VLAN 12."""
    ask = arp_request(psrc=NS1, pdst=NS2)

    def observe() -> None:
        veth2, veth2_12, macvl3, macvl4 = topology.sniff("S3/veth2", "S3/veth2.12", "ns3/macvl3", "ns4/macvl4")
        topology["ns1"].run("ip", "neigh", "flush", "dev", "macvl1")
        result = topology["ns1"].echo(NS2)
        assert result.ok, result.output
        veth2.wait_for(ask & vlan(11) & incoming)  # the flood reached the parent ...
        for cap in (veth2_12, macvl3, macvl4):
            cap.assert_none(within=0)  # ... and went no further on VLAN 12
            cap.close()
        veth2.close()

    observe()
    topology.apply(VLAN11_ON_VETH2)
    veth2_11 = topology.link("S3/veth2.11").sniff()
    observe()
    veth2_11.wait_for(ask & ~vlan() & incoming)


@on_vlans
@pytest.mark.claim(
    "a VLAN sub-interface has the same MAC as its parent",
    article="L65",
    quote="注意,vlan子接口和父接口的MAC地址一样",
    gloss="note: a VLAN sub-interface and its parent have the same MAC address",
)
def test_vlan_subinterface_has_its_parents_mac(topology: Topology, variant: str) -> None:
    topology.apply(VLAN11_ON_VETH2)
    for parent, sub in (("veth1", "veth1.11"), ("veth2", "veth2.11"), ("veth2", "veth2.12")):
        assert topology.link(f"S3/{sub}").mac == topology.link(f"S3/{parent}").mac, sub
    assert topology.link("S3/veth1").mac != topology.link("S3/veth2").mac


@on_vlans
@pytest.mark.claim(
    "after veth2.11 is added, ns1 reaches ns5 on VLAN 11 of the other parent; veth2.11 shows the frames untagged",
    article="L444",
    quote="在veth2.11上抓包,可以看到vlan子接口上的vlan tag信息已经被去掉了",
    gloss="capturing on veth2.11 shows that the VLAN tag has been removed on the VLAN sub-interface",
)
def test_across_parents_on_vlan_11(topology: Topology, variant: str) -> None:
    """Before the step (L389-423) nobody has 192.168.9.5; after it, ns1 pings ns5 (L425) and
    the tag is on veth2, the sub-interface's parent, not on veth2.11."""
    # The default timeout outlasts ARP's three tries (100 ms apart), so the neighbour entry has
    # failed before the step: the ping after it starts a fresh resolution.
    before = topology["ns1"].echo(NS5)
    assert not before.ok and before.unreachable, before.output
    topology.apply(VLAN11_ON_VETH2)
    veth2, veth2_11 = topology.sniff("S3/veth2", "S3/veth2.11")
    result = topology["ns1"].echo(NS5)
    assert result.ok, result.output
    request, reply = icmp_echo_request(src=NS1, dst=NS5), icmp_echo_reply(src=NS5, dst=NS1)
    veth2.wait_for(request & vlan(11) & incoming)
    veth2.wait_for(reply & vlan(11) & outgoing)
    veth2_11.wait_for(request & incoming)
    veth2_11.wait_for(reply & outgoing)
    assert veth2_11.count(vlan()) == 0, veth2_11.summary()


@on_vlans
@pytest.mark.claim(
    "ip link shows a VLAN sub-interface as NAME@PARENT, and a macvlan moved to a namespace as NAME@ifN",
    article="L248",
    quote="macvl3@if23",
    gloss="(ip link output in ns3) macvl3, whose parent is interface 23 of another namespace: veth2.12 in S3 (L106)",
)
def test_ip_link_notation_with_vlans(topology: Topology, variant: str) -> None:
    s3 = topology["S3"]
    veth2_12 = topology.link("S3/veth2.12")
    assert ": veth2.12@veth2: " in s3.run("ip", "-o", "link", "show", "dev", "veth2.12").stdout  # L106
    shown = topology["ns3"].run("ip", "-o", "link", "show", "dev", "macvl3").stdout
    assert f": macvl3@if{veth2_12.ifindex}: " in shown, shown
    assert "link-netnsid" in shown, shown


@on_both
@pytest.mark.claim(
    "the VLAN sub-interfaces are promiscuous, as the article sets them",
    article="L65",
    quote="在两个veth设备对的另一端各自创建一个vlan子接口,并打开其混杂模式",
    gloss="on the other end of each veth pair create a VLAN sub-interface, and turn on its promiscuous mode",
    precisely="it is not needed: with promisc off, the macvlans on it still reach each other (a veth filters no "
    "destination MAC); in the plain variant veth1 and veth2 stand where the sub-interfaces are",
)
def test_promisc_settings(topology: Topology, variant: str) -> None:
    """``ip link show veth1.11`` shows PROMISC (L100, L106). Turned off, ns1 still reaches ns2."""
    s3 = topology["S3"]
    names = ("veth1.11", "veth2.12") if tag_of(variant) else ("veth1", "veth2")
    for name in names:
        assert shows_promisc(s3, name), name
        s3.run("ip", "link", "set", "dev", name, "promisc", "off")
        assert not shows_promisc(s3, name), name
    macvl2 = topology.link("ns2/macvl2").sniff()
    result = topology["ns1"].echo(NS2)
    assert result.ok, result.output
    macvl2.wait_for(icmp_echo_request(src=NS1, dst=NS2) & incoming)


@on_both
@pytest.mark.claim(
    "without hairpin on veth1_br, two vepa macvlans on one parent cannot talk",
    source="beyond the article: it turns hairpin on (L30, L56-57) and never off; this shows why it does",
)
def test_without_hairpin_vepa_siblings_cannot_talk(topology: Topology, variant: str) -> None:
    """The bridge does not send a frame back out of the port it came in on unless hairpin is on:
    the ARP request reaches the switch (its last point) and never comes back."""
    topology.link("S3/veth1_br").set_hairpin(False)
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = topology["ns1"].echo(NS2)
    assert not result.ok, result.output
    ask = arp_request(psrc=NS1, pdst=NS2)
    veth1_br.wait_for(ask & incoming)  # it reached the switch ...
    veth1_br.assert_none(ask & outgoing, within=0)  # ... and never came back
    macvl2.assert_none(ask, within=0)


@on_plain
@pytest.mark.claim(
    "two vepa macvlans on two parents reach each other across test_br, without VLANs",
    source="beyond the article: its cross-parent test (L379-442) is on VLAN 11; here the same without 802.1Q",
)
def test_vepa_across_two_parents_without_vlans(topology: Topology, variant: str) -> None:
    """macvl1 on veth1, macvl5 on veth2: out of veth1 into test_br, forwarded to veth2_br, up veth2
    to macvl5. No hairpin needed for this one (two different ports)."""
    topology.link("S3/veth1_br").set_hairpin(False)
    topology.link("S3/veth2_br").set_hairpin(False)
    veth1_br, veth2_br, macvl5 = topology.sniff("S3/veth1_br", "S3/veth2_br", "ns5/macvl5")
    result = topology["ns1"].echo(NS5)
    assert result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS5)
    veth1_br.wait_for(request & incoming)
    veth2_br.wait_for(request & outgoing)
    macvl5.wait_for(request & incoming)
    veth1_br.assert_none(request & outgoing, within=0)


@on_plain
@pytest.mark.requires_kernel("iptables")
@pytest.mark.claim(
    "with FORWARD's policy DROP, test_br's two FORWARD rules are what let bridged traffic through",
    article="L110",
    quote="配置防火墙规则允许bridge test_br转发数据",
    gloss="configure firewall rules that allow the bridge test_br to forward",
    precisely="they matter only because FORWARD's policy is DROP and br_netfilter hands bridged IPv4 to iptables "
    "(both Docker's doing on the article's host): with both rules deleted, the request reaches test_br and is "
    "not forwarded",
)
def test_forward_rules_let_bridged_traffic_through(topology: Topology, variant: str) -> None:
    """Untagged frames; for the article's VLAN topology, see test_forward_rules_and_vlan_tagged_frames."""
    s3, ns1 = topology["S3"], topology["ns1"]
    require_br_netfilter(s3)
    first = ns1.echo(NS2)
    assert first.ok, first.output
    delete_test_br_rules(s3)
    veth1_br, macvl2 = topology.sniff("S3/veth1_br", "ns2/macvl2")
    result = ns1.echo(NS2, timeout=0.3)
    assert not result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth1_br.wait_for(request & incoming)
    veth1_br.assert_none(request & outgoing, within=0)
    macvl2.assert_none(request, within=0)


@on_vlans
@pytest.mark.requires_kernel("iptables")
@pytest.mark.claim(
    "with FORWARD's policy DROP, test_br's FORWARD rules are what let VLAN 11's traffic through",
    article="L110",
    quote="配置防火墙规则允许bridge test_br转发数据",
    gloss="configure firewall rules that allow the bridge test_br to forward",
    precisely="in the article's own VLAN topology they are not needed: br_netfilter hands 802.1Q-tagged frames to "
    "iptables only with net.bridge.bridge-nf-filter-vlan-tagged = 1 (default 0); with that set, they are what "
    "lets VLAN 11 through",
)
def test_forward_rules_and_vlan_tagged_frames(topology: Topology, variant: str) -> None:
    """Every frame on test_br is tagged. Without the rules the ping still works, until
    ``net.bridge.bridge-nf-filter-vlan-tagged`` is 1; then the rules are what let it through."""
    s3, ns1 = topology["S3"], topology["ns1"]
    require_br_netfilter(s3)
    assert s3.sysctl("net.bridge.bridge-nf-filter-vlan-tagged") == "0"
    delete_test_br_rules(s3)
    untouched = ns1.echo(NS2)
    assert untouched.ok, f"tagged frames do not meet FORWARD's DROP:\n{untouched.output}"
    s3.sysctl("net.bridge.bridge-nf-filter-vlan-tagged", 1)
    veth1_br = topology.link("S3/veth1_br").sniff()
    result = ns1.echo(NS2, timeout=0.3)
    assert not result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth1_br.wait_for(request & vlan(11) & incoming)
    veth1_br.assert_none(request & outgoing, within=0)
    for rule in TEST_BR_RULES:
        s3.iptables("-I", rule[0], "1", *rule[1:])
    back = ns1.echo(NS2)
    assert back.ok, back.output

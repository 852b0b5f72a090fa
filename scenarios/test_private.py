"""The article's macvlan *private* section (L474-1017), frame by frame, in the article's order.

scenarios/private.toml is the article's first state (L502-606): three private macvlans, no
address on test_br, no routes but the connected ones, no static neighbours. The tests apply the
article's later steps at run time with ``topology.apply`` and observe before and after:
:data:`STATIC_NEIGHBOURS` (L720-740), :data:`BRIDGE_IP` (L868), :data:`ROUTES` (L906, L1017),
:data:`NAT` (L851).
"""

from __future__ import annotations

import json
import socket
import struct

import pytest

from pytest_macvlan import (
    Netns,
    Pred,
    Topology,
    arp_request,
    broadcast,
    dst_mac,
    icmp_echo_reply,
    icmp_echo_request,
    incoming,
    ipv4,
    outgoing,
    src_mac,
)
from pytest_macvlan.kernel.nsworker import socket_in
from pytest_macvlan.wait import wait_until

pytestmark = pytest.mark.topology("private.toml")

NS1, NS2, NS3 = "192.168.9.2", "192.168.9.3", "192.168.9.5"
PUBLIC = "203.0.113.66"  # stands in for the article's public address
# L720-740: each side's neighbour entry for the other, by hand.
STATIC_NEIGHBOURS = """
[netns.ns1]
neigh = [{ to = "192.168.9.3", lladdr = "ns2/macvl2", dev = "macvl1" }]
[netns.ns2]
neigh = [{ to = "192.168.9.2", lladdr = "ns1/macvl1", dev = "macvl2" }]
"""
# L868: sudo ip addr add 192.168.9.1/24 dev test_br
BRIDGE_IP = """
[netns.S3.link.test_br]
addr = ["192.168.9.1/24"]
"""
# L906: ip r add default via 192.168.9.1 dev macvl1 (in ns1); L1017: S20's route to 192.168.9.0/24.
ROUTES = """
[netns.ns1]
route = [{ to = "default", via = "192.168.9.1", dev = "macvl1" }]
[netns.S20]
route = [{ to = "192.168.9.0/24", via = "10.138.36.58" }]
"""
# L851: "iptables nat" for the public network (the article points to its ipvlan article for it).
NAT = """
[netns.S3]
iptables = ["-t nat -A POSTROUTING -s 192.168.9.0/24 -o eno2 -j MASQUERADE"]
"""


@pytest.mark.claim(
    "ping between two private macvlans of one parent fails",
    article="L610",
    quote="在ns1中执行ping 192.168.9.3,不通",
    gloss="in ns1, ping 192.168.9.3: it does not get through",
)
def test_ping_between_private_siblings_fails(topology: Topology) -> None:
    """L620-625: "Destination Host Unreachable" (both private, both on veth1)."""
    result = topology["ns1"].echo(NS2)
    assert not result.ok, result.output
    assert result.unreachable, result.output


@pytest.mark.claim(
    "the private sibling on the same parent captures nothing",
    article="L629",
    quote="在ns2中没有抓到任何报文",
    gloss="nothing at all is captured in ns2",
)
def test_sibling_on_same_parent_captures_nothing(topology: Topology) -> None:
    """The ARP request's last point is the parent: it came back into veth1 through the hairpin,
    and macvl2 saw none of it."""
    veth1, macvl2 = topology.sniff("S3/veth1", "ns2/macvl2")
    result = topology["ns1"].echo(NS2)
    ask = arp_request(pdst=NS2)
    veth1.wait_for(ask & incoming, count=result.transmitted)  # back at the parent ...
    macvl2.assert_none()  # ... and nothing at all at the sibling


@pytest.mark.claim(
    "the private macvlan on the other parent captures the ARP requests",
    article="L648",
    quote="在ns3上抓包,可以看到对应的arp报文",
    gloss="capturing in ns3 shows the corresponding ARP frames",
)
def test_private_macvlan_on_other_parent_captures_arp_requests(topology: Topology) -> None:
    """macvl3 is private too, on veth2: private only isolates macvlans of one parent."""
    macvl3 = topology.link("ns3/macvl3").sniff()
    result = topology["ns1"].echo(NS2)
    requests = macvl3.wait_for(arp_request(psrc=NS1, pdst=NS2) & incoming, count=result.transmitted)
    assert all(f.src == topology.link("ns1/macvl1").mac for f in requests), macvl3.summary()


@pytest.mark.claim(
    "the ARP requests went back to the parent veth1 and died there",
    article="L673",
    quote="对应的报文已经发回父接口,但是被父接口丢弃",
    gloss="the frames were sent back to the parent interface, but the parent dropped them",
    precisely="on veth1_br each request shows once in each direction (received from veth1, sent back to it by "
    "the hairpin); veth1 receives it and hands it to no sibling: the macvlan driver gives a private macvlan's "
    "broadcast back to its sender alone (macvl1 shows it as received), never to macvl2",
)
def test_requests_went_back_to_the_parent_and_died_there(topology: Topology) -> None:
    """The article's two copies on veth1_br are one frame in and the same frame out again; the
    last point the request reaches is veth1 (and its own sender), never macvl2."""
    veth1_br, veth1, macvl1, macvl2 = topology.sniff("S3/veth1_br", "S3/veth1", "ns1/macvl1", "ns2/macvl2")
    result = topology["ns1"].echo(NS2)
    ask = arp_request(pdst=NS2)
    sent_back = veth1_br.wait_for(ask & outgoing, count=result.transmitted)
    received = veth1_br.matching(ask & incoming)
    assert len(received) == len(sent_back), veth1_br.summary()
    assert [f.data for f in received] == [f.data for f in sent_back], veth1_br.summary()
    veth1.wait_for(ask & incoming, count=len(sent_back))  # back in the parent
    macvl1.wait_for(ask & incoming, count=len(sent_back))  # handed back to its sender only
    macvl2.assert_none(ask, within=0)


def neigh_state(ns: Netns, to: str, dev: str) -> str:
    shown = json.loads(ns.run("ip", "-j", "neigh", "show", to, "dev", dev).stdout or "[]")
    return " ".join(shown[0].get("state", [])) if shown else "(none)"


@pytest.mark.claim(
    "ip neigh add on the FAILED entry a failed ping left answers File exists; after ip neigh del ... dev, it works",
    article="L720-729",
    quote="RTNETLINK answers: File exists",
    gloss="(iproute2's message) the kernel refuses the new entry: one already exists, in state FAILED",
)
def test_neigh_add_on_a_failed_entry_answers_file_exists(topology: Topology) -> None:
    """L720-729: ``ip neigh add`` answers "File exists" (the entry is FAILED); ``ip neigh del``
    without ``dev`` answers "Device and destination are required arguments."; with ``dev`` it
    works, and the entry added then is PERMANENT."""
    ns1, mac2 = topology["ns1"], topology.link("ns2/macvl2").mac
    failed = ns1.echo(NS2)
    assert not failed.ok, failed.output
    wait_until(lambda: neigh_state(ns1, NS2, "macvl1"), lambda s: s == "FAILED", timeout=2.0, what="a FAILED entry")
    add = ("ip", "neigh", "add", NS2, "lladdr", mac2, "dev", "macvl1")
    refused = ns1.run(*add, check=False)
    assert refused.returncode != 0, refused
    assert "RTNETLINK answers: File exists" in refused.stderr, refused.stderr
    assert neigh_state(ns1, NS2, "macvl1") == "FAILED"
    no_dev = ns1.run("ip", "neigh", "del", NS2, check=False)
    assert "Device and destination are required arguments." in no_dev.stderr, no_dev.stderr
    ns1.run("ip", "neigh", "del", NS2, "dev", "macvl1")
    ns1.run(*add)
    assert neigh_state(ns1, NS2, "macvl1") == "PERMANENT"
    assert ns1.neighbours().get(NS2) == mac2


@pytest.mark.claim(
    "with static neighbour entries the two private macvlans talk",
    article="L745",
    quote="要能相互通信须手动更新arp表",
    gloss="for them to talk to each other, the ARP tables must be updated by hand",
)
def test_static_neighbours_let_private_siblings_talk(topology: Topology) -> None:
    """Before the article's step (L720-740) the ping fails; after it, it works, twice, and ns2
    captures both exchanges (L778-798): unicast to a sibling's MAC is delivered."""
    ns1 = topology["ns1"]
    before = ns1.echo(NS2)
    assert not before.ok, before.output
    ns1.run("ip", "neigh", "flush", "dev", "macvl1")  # the FAILED entry (L724-726)
    topology.apply(STATIC_NEIGHBOURS)
    macvl2 = topology.link("ns2/macvl2").sniff()
    for _ in range(2):  # "ping了两次"
        result = ns1.echo(NS2)
        assert result.ok, result.output
    macvl2.assert_count(icmp_echo_request(src=NS1, dst=NS2) & incoming, 2)
    macvl2.assert_count(icmp_echo_reply(src=NS2, dst=NS1) & outgoing, 2)
    macvl2.assert_none(arp_request(), within=0)


def udp_to(dst: str, port: int) -> Pred:
    return Pred(lambda f: f.ipv4 is not None and f.ipv4[1] == dst and f.ipv4[2] == 17, f"udp to {dst}:{port}")


GROUP, PORT = "239.1.1.1", 9999


def listener(ns: Netns, addr: str) -> socket.socket:
    """A UDP socket in ``ns`` on PORT that also joined GROUP on the interface with ``addr``."""
    sock = socket_in(ns.fd, socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", PORT))
    sock.setsockopt(
        socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", *map(socket.inet_aton, (GROUP, addr)))
    )
    sock.setblocking(False)
    return sock


def received(sock: socket.socket) -> list[bytes]:
    out: list[bytes] = []
    while True:
        try:
            out.append(sock.recv(2048))
        except BlockingIOError:
            return out


@pytest.mark.claim(
    "private mode keeps every broadcast and multicast of a macvlan from its siblings, not only ARP",
    article="L745",
    quote="只是屏蔽了同一父接口下macvlan子接口之间的arp广播报文",
    gloss="only blocks the ARP broadcasts between macvlans of one parent",
    differs="the article: 「只是屏蔽了同一父接口下macvlan子接口之间的arp广播报文」 (private mode only blocks the ARP "
    "broadcasts between macvlans of one parent); the kernel: it blocks every broadcast and multicast frame between "
    "them: a UDP broadcast and a UDP multicast that ns2 listens for never reach it, while they reach ns3 on the "
    "other parent. What passes is unicast (with neighbour entries by hand, as the article says)",
)
def test_private_blocks_every_broadcast_and_multicast(topology: Topology) -> None:
    """ns2 and ns3 listen on UDP 9999 and join 239.1.1.1; ns1 sends one datagram to 192.168.9.255
    and one to 239.1.1.1. Both come back into veth1 (the last point they reach on that side), and
    ns3 receives both; ns2, a private sibling, receives neither."""
    ns1, ns2, ns3 = topology["ns1"], topology["ns2"], topology["ns3"]
    at_ns2, at_ns3 = listener(ns2, NS2), listener(ns3, NS3)
    try:
        veth1, macvl2, macvl3 = topology.sniff("S3/veth1", "ns2/macvl2", "ns3/macvl3")
        tx = socket_in(ns1.fd, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(NS1))
            tx.sendto(b"broadcast", ("192.168.9.255", PORT))
            tx.sendto(b"multicast", (GROUP, PORT))
        finally:
            tx.close()
        for dst in ("192.168.9.255", GROUP):
            veth1.wait_for(udp_to(dst, PORT) & incoming)  # back at the parent
            macvl3.wait_for(udp_to(dst, PORT) & incoming)  # delivered on the other parent
        wait_until(lambda: received(at_ns3), lambda got: bool(got), timeout=2.0, what="ns3's socket to get them")
        macvl2.assert_none(udp_to("192.168.9.255", PORT) | udp_to(GROUP, PORT), within=0)
        assert received(at_ns2) == []
    finally:
        at_ns2.close()
        at_ns3.close()


def fdb_port(s3: Netns, mac: str) -> str | None:
    """The test_br port that the bridge has *learned* ``mac`` on (``bridge fdb``), or None."""
    entries = json.loads(s3.run("bridge", "-j", "fdb", "show", "br", "test_br").stdout or "[]")
    for e in entries:
        if e.get("mac") == mac and e.get("state") != "permanent" and "self" not in e.get("flags", []):
            return str(e["ifname"])
    return None


@pytest.mark.claim(
    "veth2 sees one flooded ICMP request (FDB miss), none for the next ping until the entry ages out",
    article="L805",
    quote="这是bridge泛洪的报文,在bridge的转发表相应条目过期前只会收到这一次",
    gloss="it is the bridge's flood; until the bridge's forwarding entry expires it is received only this once",
)
def test_fdb_miss_floods_one_request_to_veth2(topology: Topology) -> None:
    """With the static entries (L720-740): veth2 captures one ICMP request, flooded by test_br
    because it did not know macvl2's MAC yet; the next ping does not show on veth2 until the FDB
    entry ages out.

    The entry is learned from macvl2's first reply. Instead of waiting out the default 300 s,
    the test lowers test_br's ageing_time to 0.5 s and waits (bounded) until the kernel has
    removed the entry; the next ping is flooded again.
    """
    s3, ns1 = topology["S3"], topology["ns1"]
    macvl2 = topology.link("ns2/macvl2")
    topology.apply(STATIC_NEIGHBOURS)
    veth2 = topology.link("S3/veth2").sniff()
    request = icmp_echo_request(src=NS1, dst=NS2)
    reply = icmp_echo_reply(src=NS2, dst=NS1)
    assert fdb_port(s3, macvl2.mac) is None, "test_br knew macvl2's MAC before any ping"

    first = ns1.echo(NS2)
    assert first.ok, first.output
    veth2.assert_count(request & incoming & dst_mac(macvl2.mac), 1)  # the flood of an unknown destination
    assert fdb_port(s3, macvl2.mac) == "veth1_br"  # learned from macvl2's reply

    second = ns1.echo(NS2)
    assert second.ok, second.output
    veth2.assert_count(request, 1)  # still only the first one: the bridge forwarded to veth1_br alone

    s3.run("ip", "link", "set", "dev", "test_br", "type", "bridge", "ageing_time", "50")
    wait_until(
        lambda: fdb_port(s3, macvl2.mac),
        lambda port: port is None,
        timeout=5.0,
        what=f"test_br's FDB entry for macvl2 ({macvl2.mac}) to age out",
    )
    third = ns1.echo(NS2)
    assert third.ok, third.output
    veth2.assert_count(request, 2)  # flooded again
    veth2.assert_none(reply)  # the replies went to a known MAC: never flooded


@pytest.mark.claim(
    "the flooded request reaches veth2 and the parent gives it to no macvlan: macvl3 captures nothing",
    article="L826",
    quote="父接口并没有转发icmp请求报文到macvl3接口,报文并不是macvl3接口丢弃的",
    gloss="the parent did not forward the ICMP request to macvl3; it was not macvl3 that dropped it",
)
def test_parent_does_not_hand_the_flood_to_macvl3(topology: Topology) -> None:
    """The flooded request's last point is veth2 (received, for macvl2's MAC); macvl3, whose MAC
    it is not, never sees it: the macvlan driver hands a unicast frame only to the macvlan whose
    MAC it is for."""
    ns1, macvl2 = topology["ns1"], topology.link("ns2/macvl2")
    topology.apply(STATIC_NEIGHBOURS)
    veth2, macvl3 = topology.sniff("S3/veth2", "ns3/macvl3")
    result = ns1.echo(NS2)
    assert result.ok, result.output
    request = icmp_echo_request(src=NS1, dst=NS2)
    veth2.wait_for(request & incoming & dst_mac(macvl2.mac))
    macvl3.assert_none(request, within=0)


@pytest.mark.claim(
    "an IP address on test_br leaves its layer-2 forwarding as it was",
    article="L849",
    quote="bridge配置ip后就具备了三层路由功能,但这并不影响其二层转发功能",
    gloss="with an IP the bridge gains layer-3 routing, and this does not affect its layer-2 forwarding",
)
def test_bridge_ip_leaves_layer2_forwarding(topology: Topology) -> None:
    """Before and after the article's step (L868): ns1 reaches ns2 (through the hairpin, with the
    static entries) and ns3 (across the bridge), the frames take the same ports with the same
    MACs. What the address adds: test_br answers for 192.168.9.1 (it did not before)."""
    ns1 = topology["ns1"]
    mac1, mac3 = topology.link("ns1/macvl1").mac, topology.link("ns3/macvl3").mac
    topology.apply(STATIC_NEIGHBOURS)

    def observe() -> list[tuple[str, str, str, str]]:
        """Where each ping's request and reply crossed test_br's ports, with which MACs (floods
        to the other ports aside: they depend on what the bridge had learned)."""
        veth1_br, veth2_br = topology.sniff("S3/veth1_br", "S3/veth2_br")
        for dst in (NS2, NS3):
            result = ns1.echo(dst)
            assert result.ok, result.output
        path = {
            "to ns2": (icmp_echo_request(src=NS1, dst=NS2), ((veth1_br, incoming), (veth1_br, outgoing))),
            "from ns2": (icmp_echo_reply(src=NS2, dst=NS1), ((veth1_br, incoming), (veth1_br, outgoing))),
            "to ns3": (icmp_echo_request(src=NS1, dst=NS3), ((veth1_br, incoming), (veth2_br, outgoing))),
            "from ns3": (icmp_echo_reply(src=NS3, dst=NS1), ((veth2_br, incoming), (veth1_br, outgoing))),
        }
        seen: list[tuple[str, str, str, str]] = []
        for what, (pred, hops) in path.items():
            for cap, way in hops:
                [frame] = cap.wait_for(pred & way)
                seen.append((what, cap.label, frame.direction, f"{frame.src}>{frame.dst}"))
        assert ("to ns3", "S3/veth2_br", "out", f"{mac1}>{mac3}") in seen, seen
        veth1_br.close()
        veth2_br.close()
        return seen

    before = observe()
    no_gateway = ns1.echo("192.168.9.1", timeout=0.5)
    assert not no_gateway.ok, no_gateway.output
    topology.apply(BRIDGE_IP)
    assert observe() == before
    gateway = ns1.echo("192.168.9.1")
    assert gateway.ok, gateway.output


@pytest.mark.claim(
    "with 192.168.9.1 on test_br and the routes, ns1 reaches 10.138.36.58 (ttl 64) and 10.138.36.66 (ttl 63)",
    article="L884",
    quote="然后ping宿主机ip(36.58)和宿主机所在物理网络host(36.66),通",
    gloss="then ping the host's IP (36.58) and a host on the host's physical network (36.66): both get through",
)
def test_ns1_reaches_s3_and_the_lan_host(topology: Topology) -> None:
    """Before the article's steps (L868, L906, L1017) ns1 reaches neither; after them, both:
    10.138.36.58 is S3's own address, answered by S3 itself (ttl 64, L913); S20's reply crosses
    one router, S3 (ttl 63, L920)."""
    ns1 = topology["ns1"]
    for dst in ("10.138.36.58", "10.138.36.66"):
        before = ns1.echo(dst, timeout=0.3)
        assert not before.ok, before.output
    topology.apply(BRIDGE_IP)
    topology.apply(ROUTES)
    to_s3 = ns1.echo("10.138.36.58")
    assert to_s3.ok, to_s3.output
    assert to_s3.ttl == 64, to_s3.output
    to_s20 = ns1.echo("10.138.36.66")
    assert to_s20.ok, to_s20.output
    assert to_s20.ttl == 63, to_s20.output


@pytest.mark.claim(
    "on test_br the routed ICMP goes to and from the bridge's MAC",
    article="L956-961",
    quote="9a:e4:69:98:8f:e3 > 06:84:97:f4:94:01",
    gloss="from macvl1's MAC to test_br's MAC (06:84:97:f4:94:01 is test_br's, L871)",
)
def test_routed_icmp_uses_the_bridge_mac_on_test_br(topology: Topology) -> None:
    """test_br, with 192.168.9.1, is ns1's gateway: S3 routes for the macvlans."""
    topology.apply(BRIDGE_IP)
    topology.apply(ROUTES)
    test_br, macvl1 = topology.link("S3/test_br"), topology.link("ns1/macvl1")
    cap = test_br.sniff()
    for dst in ("10.138.36.58", "10.138.36.66"):
        result = topology["ns1"].echo(dst)
        assert result.ok, result.output
        cap.wait_for(icmp_echo_request(src=NS1, dst=dst) & incoming & src_mac(macvl1.mac) & dst_mac(test_br.mac))
        cap.wait_for(icmp_echo_reply(src=dst, dst=NS1) & outgoing & src_mac(test_br.mac) & dst_mac(macvl1.mac))
    echo = icmp_echo_request(src=NS1) | icmp_echo_reply(dst=NS1)
    assert all(test_br.mac in (f.src, f.dst) for f in cap.matching(echo)), cap.summary()


@pytest.mark.claim(
    "on eno2 the .66 traffic leaves with eno2's MAC; nothing of the .58 ping appears",
    article="L978",
    quote="可以看到36.66相关的报文已经从eno2(36.58)接口转发出去!注意并没有和36.58相关的交互报文",
    gloss="the 36.66 traffic has been forwarded out of eno2 (36.58); note there is no exchange for 36.58",
)
def test_eno2_carries_only_the_lan_ping_with_its_own_mac(topology: Topology) -> None:
    """.58 is S3's own address: that ping never leaves S3. The .66 one is routed by S3 (ttl 63)."""
    topology.apply(BRIDGE_IP)
    topology.apply(ROUTES)
    eno2, s20 = topology.link("S3/eno2"), topology.link("S20/eth0")
    cap = eno2.sniff()
    for dst in ("10.138.36.58", "10.138.36.66"):
        result = topology["ns1"].echo(dst)
        assert result.ok, result.output
    cap.wait_for(
        icmp_echo_request(src=NS1, dst="10.138.36.66") & outgoing & src_mac(eno2.mac) & dst_mac(s20.mac) & ipv4(ttl=63)
    )
    cap.wait_for(icmp_echo_reply(src="10.138.36.66", dst=NS1) & incoming & dst_mac(eno2.mac))
    cap.assert_none(ipv4(dst="10.138.36.58") | ipv4(src="10.138.36.58"))
    assert all(f.src == eno2.mac for f in cap.matching(ipv4(src=NS1) & outgoing)), cap.summary()


@pytest.mark.requires_kernel("iptables")
@pytest.mark.claim(
    "to reach a public host, the private topology needs NAT on S3",
    article="L851",
    quote="如果要和公网的交互,则还需要配置iptablesnat转发规则",
    gloss="to talk with the public network, iptables NAT rules are needed as well",
)
def test_public_host_needs_nat(topology: Topology) -> None:
    """With the address on test_br and the routes (L868-1017), ns1 reaches S20 but not the public
    host: the request gets there with source 192.168.9.2, and the reply dies at the gateway,
    which has no route to 192.168.9.0/24 (the last point it reaches). With a MASQUERADE rule on
    S3 (the step L851 points to), the public host sees 10.138.36.58 and the ping works."""
    ns1 = topology["ns1"]
    topology.apply(BRIDGE_IP)
    topology.apply(ROUTES)
    public, gw_lan = topology.sniff("public/eth0", "gw/eth0")
    without = ns1.echo(PUBLIC, timeout=0.5)
    assert not without.ok, without.output
    public.wait_for(icmp_echo_request(src=NS1, dst=PUBLIC) & incoming)
    public.wait_for(icmp_echo_reply(src=PUBLIC, dst=NS1) & outgoing)  # answered, to an address ...
    gw_lan.assert_none(icmp_echo_reply(dst=NS1), within=0)  # ... the gateway cannot route back
    topology.apply(NAT)
    public.clear()
    with_nat = ns1.echo(PUBLIC)
    assert with_nat.ok, with_nat.output
    public.wait_for(icmp_echo_request(src="10.138.36.58", dst=PUBLIC) & incoming)
    public.assert_none(ipv4(src=NS1), within=0)


@pytest.mark.claim(
    "inside its namespace, ip link shows a macvlan as NAME@ifN, N its parent's ifindex in S3",
    article="L558",
    quote="macvl1@if19",
    gloss="(ip link output) macvl1, whose parent is interface 19 of another namespace (veth1 is 19 in S3, L534)",
)
def test_macvlan_shows_its_parent_as_ifindex(topology: Topology) -> None:
    veth1, veth2 = topology.link("S3/veth1"), topology.link("S3/veth2")
    for ns, name, parent in (("ns1", "macvl1", veth1), ("ns2", "macvl2", veth1), ("ns3", "macvl3", veth2)):
        shown = topology[ns].run("ip", "-o", "link", "show", "dev", name).stdout
        assert f": {name}@if{parent.ifindex}: " in shown, shown
        assert "link-netnsid" in shown, shown


def shows_promisc(ns: Netns, name: str) -> bool:
    flags = ns.run("ip", "-o", "link", "show", "dev", name).stdout.split("<", 1)[1].split(">", 1)[0]
    return "PROMISC" in flags.split(",")


@pytest.mark.claim(
    "the parents veth1 and veth2 are promiscuous, as the article sets them",
    article="L502",
    quote="并打开两个父接口的混杂模式",
    gloss="and turn on promiscuous mode on the two parents",
    precisely="it is not needed here: with promisc off on both, ns1 still reaches ns3 across the bridge and "
    "veth2 still receives the frames for other MACs; a veth filters no destination MAC, and the macvlans keep "
    "their parent's promiscuity counter above 0 anyway (their MACs on a device without a unicast filter)",
)
def test_promisc_parents(topology: Topology) -> None:
    """``ip link show veth1`` shows PROMISC (L534, L537). Turned off, the topology works the same."""
    s3 = topology["S3"]
    veth1, veth2 = topology.link("S3/veth1"), topology.link("S3/veth2")
    assert shows_promisc(s3, "veth1") and shows_promisc(s3, "veth2")
    for name in ("veth1", "veth2"):
        s3.run("ip", "link", "set", "dev", name, "promisc", "off")
        assert not shows_promisc(s3, name)
    assert veth1.info().promiscuity > 0 and veth2.info().promiscuity > 0
    cap = veth2.sniff()
    result = topology["ns1"].echo(NS3)
    assert result.ok, result.output
    cap.wait_for(icmp_echo_request(src=NS1, dst=NS3) & incoming & dst_mac(topology.link("ns3/macvl3").mac))
    assert cap.count(broadcast) >= 1, cap.summary()

"""The article's macvlan *private* mode, frame by frame (scenarios/private.toml)."""

from __future__ import annotations

import json

import pytest

from pytest_macvlan import (
    Netns,
    Topology,
    arp_request,
    dst_mac,
    icmp_echo_reply,
    icmp_echo_request,
    incoming,
    ipv4,
    outgoing,
    src_mac,
)
from pytest_macvlan.wait import wait_until

pytestmark = pytest.mark.topology("private.toml")


@pytest.mark.claim("ping between two private macvlans of one parent fails")
def test_ping_between_private_siblings_fails(topology: Topology) -> None:
    """Article: "ping from ns1 to ns2 fails: Destination Host Unreachable" (both private, both on veth1)."""
    result = topology["ns1"].ping("192.168.9.3")
    assert not result.ok, result.output
    assert result.unreachable, result.output


@pytest.mark.claim("the private sibling on the same parent captures nothing")
def test_sibling_on_same_parent_captures_nothing(topology: Topology) -> None:
    """Article: "tcpdump on macvl2 shows nothing": the ARP request never reaches the sibling."""
    macvl2 = topology.link("ns2/macvl2").sniff()
    veth1 = topology.link("S3/veth1").sniff()
    topology["ns1"].ping("192.168.9.3")
    # The request did leave the parent and came back through the hairpin ...
    veth1.wait_for(arp_request(pdst="192.168.9.3") & incoming)
    # ... and still the sibling saw none of it.
    macvl2.assert_none(arp_request(pdst="192.168.9.3"))


@pytest.mark.claim("the private macvlan on the other parent captures the ARP requests")
def test_private_macvlan_on_other_parent_captures_arp_requests(topology: Topology) -> None:
    """Article: "macvl3 (private, on veth2) captures the ARP requests": private only isolates siblings."""
    macvl3 = topology.link("ns3/macvl3").sniff()
    result = topology["ns1"].ping("192.168.9.3")
    requests = macvl3.wait_for(arp_request(psrc="192.168.9.2", pdst="192.168.9.3"), count=result.transmitted)
    assert all(f.src == topology.link("ns1/macvl1").mac for f in requests), macvl3.summary()


@pytest.mark.claim(
    "veth1_br sees each ARP request twice: it went back to the parent and died there",
    differs="'twice' is once in each direction: received from veth1, then sent back to it by the hairpin",
)
def test_hairpin_port_shows_each_request_twice(topology: Topology) -> None:
    """Article: "on veth1_br each ARP request appears twice", so it went back to the parent and died there.

    On this kernel "twice" is once in each direction: received from veth1, sent back to veth1
    by the hairpin. Every request that came in went out again.
    """
    veth1_br = topology.link("S3/veth1_br").sniff()
    topology["ns1"].ping("192.168.9.3")
    ask = arp_request(pdst="192.168.9.3")
    sent_back = veth1_br.wait_for(ask & outgoing)
    received = veth1_br.matching(ask & incoming)
    assert len(received) == len(sent_back) >= 1, veth1_br.summary()
    assert len(veth1_br.matching(ask)) == 2 * len(received)


@pytest.mark.claim("with static neighbour entries the two private macvlans talk")
def test_static_neighbours_let_private_siblings_talk(topology: Topology) -> None:
    """Article: "with static ARP entries, ns1 and ns2 can ping each other" (private mode drops only
    the broadcasts that come back from the hairpin; unicast to a sibling's MAC is delivered)."""
    ns1, ns2 = topology["ns1"], topology["ns2"]
    macvl1, macvl2 = topology.link("ns1/macvl1"), topology.link("ns2/macvl2")
    ns1.add_neigh("192.168.9.3", macvl2.mac, "macvl1")
    ns2.add_neigh("192.168.9.2", macvl1.mac, "macvl2")
    cap = macvl2.sniff()
    result = ns1.ping("192.168.9.3")
    assert result.ok, result.output
    cap.wait_for(icmp_echo_request(src="192.168.9.2") & incoming)
    cap.wait_for(icmp_echo_reply(dst="192.168.9.2") & outgoing)


def fdb_port(s3: Netns, mac: str) -> str | None:
    """The test_br port that the bridge has *learned* ``mac`` on (``bridge fdb``), or None."""
    entries = json.loads(s3.run("bridge", "-j", "fdb", "show", "br", "test_br").stdout or "[]")
    for e in entries:
        if e.get("mac") == mac and e.get("state") != "permanent" and "self" not in e.get("flags", []):
            return str(e["ifname"])
    return None


@pytest.mark.claim("veth2 sees one flooded ICMP request (FDB miss), none for the next ping until the entry ages out")
def test_fdb_miss_floods_one_request_to_veth2(topology: Topology) -> None:
    """Article (in substance; with the static entries): veth2 captures one ICMP request, flooded
    by test_br because it did not know macvl2's MAC yet; the next ping does not show on veth2
    until the FDB entry ages out; macvl3 captures none of it.

    The entry is learned from macvl2's first reply. Instead of waiting out the default 300 s,
    the test lowers test_br's ageing_time to 0.5 s and waits (bounded) until the kernel has
    removed the entry; the next ping is flooded again.
    """
    s3, ns1, ns2 = topology["S3"], topology["ns1"], topology["ns2"]
    macvl1, macvl2 = topology.link("ns1/macvl1"), topology.link("ns2/macvl2")
    ns1.add_neigh("192.168.9.3", macvl2.mac, "macvl1")
    ns2.add_neigh("192.168.9.2", macvl1.mac, "macvl2")
    veth2, macvl3 = topology.link("S3/veth2").sniff(), topology.link("ns3/macvl3").sniff()
    request = icmp_echo_request(src="192.168.9.2", dst="192.168.9.3")
    reply = icmp_echo_reply(src="192.168.9.3", dst="192.168.9.2")
    assert fdb_port(s3, macvl2.mac) is None, "test_br knew macvl2's MAC before any ping"

    first = ns1.ping("192.168.9.3")
    assert first.ok, first.output
    veth2.assert_count(request & incoming & dst_mac(macvl2.mac), 1)  # the flood of an unknown destination
    assert fdb_port(s3, macvl2.mac) == "veth1_br"  # learned from macvl2's reply

    second = ns1.ping("192.168.9.3")
    assert second.ok, second.output
    veth2.assert_count(request, 1)  # still only the first one: the bridge forwarded to veth1_br alone

    s3.run("ip", "link", "set", "dev", "test_br", "type", "bridge", "ageing_time", "50")
    wait_until(
        lambda: fdb_port(s3, macvl2.mac),
        lambda port: port is None,
        timeout=5.0,
        what=f"test_br's FDB entry for macvl2 ({macvl2.mac}) to age out",
    )
    third = ns1.ping("192.168.9.3")
    assert third.ok, third.output
    veth2.assert_count(request, 2)  # flooded again
    veth2.assert_none(reply)  # the replies went to a known MAC: never flooded
    macvl3.assert_none(request | reply)  # veth2 got the floods; macvl3 (other MAC) none of them


@pytest.mark.claim("with 192.168.9.1 on test_br and the routes, ns1 reaches 10.138.36.58 and 10.138.36.66 (ttl 63)")
def test_ns1_reaches_s3_and_the_lan_host(topology: Topology) -> None:
    """Article (in substance): with 192.168.9.1 on test_br and the routes (ns1: default via
    192.168.9.1; S20: 192.168.9.0/24 via 10.138.36.58), ns1 reaches 10.138.36.58 and
    10.138.36.66, ttl 63.

    10.138.36.58 is S3's own address on eno2: S3 answers it itself, with ttl 64. The reply from
    S20 (10.138.36.66) crosses one router (S3): ttl 63.
    """
    ns1 = topology["ns1"]
    to_s3 = ns1.ping("10.138.36.58")
    assert to_s3.ok, to_s3.output
    assert to_s3.ttl == 64, to_s3.output
    to_s20 = ns1.ping("10.138.36.66")
    assert to_s20.ok, to_s20.output
    assert to_s20.ttl == 63, to_s20.output


@pytest.mark.claim("on test_br the routed ICMP goes to and from the bridge's MAC")
def test_routed_icmp_uses_the_bridge_mac_on_test_br(topology: Topology) -> None:
    """Article (in substance): on test_br the ICMP goes to and comes from the bridge's MAC
    (test_br, with 192.168.9.1, is ns1's gateway: S3 routes for the macvlans)."""
    test_br, macvl1 = topology.link("S3/test_br"), topology.link("ns1/macvl1")
    cap = test_br.sniff()
    for dst in ("10.138.36.58", "10.138.36.66"):
        result = topology["ns1"].ping(dst)
        assert result.ok, result.output
        cap.wait_for(
            icmp_echo_request(src="192.168.9.2", dst=dst) & incoming & src_mac(macvl1.mac) & dst_mac(test_br.mac)
        )
        cap.wait_for(
            icmp_echo_reply(src=dst, dst="192.168.9.2") & outgoing & src_mac(test_br.mac) & dst_mac(macvl1.mac)
        )
    echo = icmp_echo_request(src="192.168.9.2") | icmp_echo_reply(dst="192.168.9.2")
    assert all(test_br.mac in (f.src, f.dst) for f in cap.matching(echo)), cap.summary()


@pytest.mark.claim("on eno2 the .66 traffic leaves with eno2's MAC; nothing of the .58 ping appears")
def test_eno2_carries_only_the_lan_ping_with_its_own_mac(topology: Topology) -> None:
    """Article (in substance): on eno2 the ICMP to 10.138.36.66 leaves with eno2's MAC as source;
    nothing of the ping to 10.138.36.58 appears (.58 is S3's own address: that ping never leaves S3)."""
    eno2, s20 = topology.link("S3/eno2"), topology.link("S20/eth0")
    cap = eno2.sniff()
    for dst in ("10.138.36.58", "10.138.36.66"):
        result = topology["ns1"].ping(dst)
        assert result.ok, result.output
    cap.wait_for(
        icmp_echo_request(src="192.168.9.2", dst="10.138.36.66")
        & outgoing
        & src_mac(eno2.mac)
        & dst_mac(s20.mac)
        & ipv4(ttl=63)  # routed by S3
    )
    cap.wait_for(icmp_echo_reply(src="10.138.36.66", dst="192.168.9.2") & incoming & dst_mac(eno2.mac))
    cap.assert_none(ipv4(dst="10.138.36.58") | ipv4(src="10.138.36.58"))
    assert all(f.src == eno2.mac for f in cap.matching(ipv4(src="192.168.9.2") & outgoing)), cap.summary()

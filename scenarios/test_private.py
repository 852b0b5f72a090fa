"""The article's macvlan *private* mode, frame by frame (scenarios/private.toml)."""

from __future__ import annotations

import pytest

from pytest_macvlan import Topology, arp_request, icmp_echo_reply, icmp_echo_request, incoming, outgoing

pytestmark = pytest.mark.topology("private.toml")


def test_ping_between_private_siblings_fails(topology: Topology) -> None:
    """Article: "ping from ns1 to ns2 fails: Destination Host Unreachable" (both private, both on veth1)."""
    result = topology["ns1"].ping("192.168.9.3")
    assert not result.ok, result.output
    assert result.unreachable, result.output


def test_sibling_on_same_parent_captures_nothing(topology: Topology) -> None:
    """Article: "tcpdump on macvl2 shows nothing": the ARP request never reaches the sibling."""
    macvl2 = topology.link("ns2/macvl2").sniff()
    veth1 = topology.link("S3/veth1").sniff()
    topology["ns1"].ping("192.168.9.3")
    # The request did leave the parent and came back through the hairpin ...
    veth1.wait_for(arp_request(pdst="192.168.9.3") & incoming)
    # ... and still the sibling saw none of it.
    macvl2.assert_none(arp_request(pdst="192.168.9.3"))


def test_private_macvlan_on_other_parent_captures_arp_requests(topology: Topology) -> None:
    """Article: "macvl3 (private, on veth2) captures the ARP requests": private only isolates siblings."""
    macvl3 = topology.link("ns3/macvl3").sniff()
    result = topology["ns1"].ping("192.168.9.3")
    requests = macvl3.wait_for(arp_request(psrc="192.168.9.2", pdst="192.168.9.3"), count=result.transmitted)
    assert all(f.src == topology.link("ns1/macvl1").mac for f in requests), macvl3.summary()


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

"""Claims: one row each in the claims report at the end of the run (docs/plugin.md)."""

import pytest

from pytest_macvlan import arp_request, outgoing

pytestmark = pytest.mark.topology("private.toml")


@pytest.mark.claim("a private macvlan's ARP request leaves through its parent")
def test_request_leaves(topology):
    veth1_br = topology.link("S3/veth1_br").sniff()  # its frames are the row's evidence
    topology["ns1"].ping("192.168.9.3")
    veth1_br.wait_for(arp_request(pdst="192.168.9.3") & outgoing)


@pytest.mark.claim(
    "private siblings cannot reach each other",
    differs="with static neighbour entries and hairpin on, unicast between them works",
    scenario="private-mode",
)
def test_siblings(topology):
    ns1 = topology["ns1"]
    ns1.add_neigh("192.168.9.3", topology.link("ns2/macvl2").mac, "macvl1")
    topology["ns2"].add_neigh("192.168.9.2", topology.link("ns1/macvl1").mac, "macvl2")
    assert ns1.ping("192.168.9.3").ok

"""Claims: one row each in the claims report at the end of the run (docs/plugin.md)."""

import pytest

from pytest_macvlan import arp_request, outgoing

pytestmark = pytest.mark.topology("private.toml")


@pytest.mark.claim(
    "a private macvlan's ARP request leaves through its parent",
    source="ip-link(8): macvlan mode private",
)
def test_request_leaves(topology):
    veth1_br = topology.link("S3/veth1_br").sniff()  # its frames are the row's evidence
    topology["ns1"].ping("192.168.9.3")
    veth1_br.wait_for(arp_request(pdst="192.168.9.3") & outgoing)


@pytest.mark.claim(
    "private siblings that know each other's MAC can talk",
    source="this project's kernel notes",
    precisely="through the hairpin of the parent's bridge port, not inside the parent",
    scenario="private-mode",
)
def test_siblings(topology):
    ns1 = topology["ns1"]
    ns1.add_neigh("192.168.9.3", topology.link("ns2/macvl2").mac, "macvl1")
    topology["ns2"].add_neigh("192.168.9.2", topology.link("ns1/macvl1").mac, "macvl2")
    assert ns1.ping("192.168.9.3").ok

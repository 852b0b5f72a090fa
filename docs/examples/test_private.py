# test_private.py — run with: pytest -p pytest_macvlan test_private.py
import pytest

from pytest_macvlan import arp_request, outgoing

PRIVATE = """
[netns.host.link.br0]
type = "bridge"

[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0", hairpin = true }

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"          # the parent: 'netns/name', or 'name' in the same namespace
mode = "private"
addr = ["192.168.9.2/24"]

[netns.ns2.link.macvl2]
type = "macvlan"
link = "host/veth1"
mode = "private"
addr = ["192.168.9.3/24"]
"""


def test_private_siblings_cannot_arp(netlab):
    topo = netlab.build(PRIVATE)
    sibling = topo.link("ns2/macvl2").sniff()  # ready when returned
    hairpin = topo.link("host/veth1_br").sniff()
    result = topo["ns1"].ping("192.168.9.3")
    assert not result.ok
    hairpin.wait_for(arp_request(pdst="192.168.9.3") & outgoing)  # came back through the hairpin
    sibling.assert_none(arp_request())  # ... and died at the parent


@pytest.mark.topology("private.toml")  # a path relative to this file
def test_with_a_spec_file(topology):
    assert topology.link("ns1/macvl1").mode == "private"

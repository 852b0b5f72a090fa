"""Adding to a live topology with topo.apply(fragment) (docs/api.md)."""

import pytest

from pytest_macvlan import SpecError

SPEC = """
[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", netns = "sw" }

[netns.sw]

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"
mode = "bridge"
addr = ["192.168.9.2/24"]
"""


def test_add_a_namespace_and_a_macvlan(netlab):
    topo = netlab.build(SPEC)
    topo.apply("""
    [netns.ns2.link.macvl2]
    type = "macvlan"
    link = "host/veth1"
    mode = "bridge"
    addr = ["192.168.9.3/24"]
    """)
    assert topo.link("ns2/macvl2").mode == "bridge"
    assert topo["ns1"].ping("192.168.9.3").ok  # bridge mode: siblings talk directly


def test_add_addresses_routes_and_sysctls(netlab):
    topo = netlab.build(SPEC)
    topo.apply(
        {
            "netns": {
                "ns1": {
                    "link": {"macvl1": {"addr": ["192.168.9.12/24"]}},  # an existing link gains an address
                    "route": [{"to": "10.138.36.0/23", "dev": "macvl1"}],
                    "sysctl": {"net.ipv4.conf.macvl1.arp_ignore": 1},
                }
            }
        }
    )
    ns1 = topo["ns1"]
    assert "192.168.9.12/24" in ns1.run("ip", "-br", "addr", "show", "macvl1").stdout
    assert "10.138.36.0/23 dev macvl1" in ns1.run("ip", "route").stdout
    assert ns1.sysctl("net.ipv4.conf.macvl1.arp_ignore") == "1"


def test_a_fragment_cannot_change_what_exists(netlab):
    topo = netlab.build(SPEC)
    with pytest.raises(SpecError, match=r"netns\.ns1\.link\.macvl1: the link exists"):
        topo.apply({"netns": {"ns1": {"link": {"macvl1": {"type": "macvlan", "mode": "vepa"}}}}})

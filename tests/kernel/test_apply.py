"""``topo.apply(fragment)``: adding to a live topology in the spec's own vocabulary."""

from __future__ import annotations

import json

import pytest

from pytest_macvlan import BuildError, NetLab, SpecError, Topology, arp_request
from tests.support.specs import net_fds

BASE = """
[netns.host.link.br0]
type = "bridge"

[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0" }

[netns.ns1.link.m1]
type = "macvlan"
link = "host/veth1"
mode = "bridge"
addr = ["192.168.9.2/24"]
"""


@pytest.fixture
def topo(netlab: NetLab) -> Topology:
    return netlab.build(BASE)


def links_of(topo: Topology, ns: str) -> set[str]:
    return {e["ifname"] for e in json.loads(topo[ns].run("ip", "-j", "link", "show").stdout)}


def test_a_new_namespace_and_macvlan_on_an_existing_parent(topo: Topology) -> None:
    topo.apply("""
[netns.ns2.link.m2]
type = "macvlan"
link = "host/veth1"
mode = "bridge"
addr = ["192.168.9.3/24"]
""")
    m2 = topo.link("ns2/m2")
    assert (m2.kind, m2.mode, m2.carrier) == ("macvlan", "bridge", True)
    assert topo.spec.link(m2.spec.ref).entry == "netns.ns2.link.m2"
    cap = m2.sniff()
    assert topo["ns1"].ping("192.168.9.3").ok
    cap.wait_for(arp_request(pdst="192.168.9.3"))


def test_addresses_routes_neighbours_and_sysctls_of_what_exists(topo: Topology) -> None:
    topo.apply(
        {
            "netns": {
                "ns1": {
                    "link": {"m1": {"addr": ["192.168.9.12/24"]}},
                    "route": [{"to": "10.138.36.0/23", "dev": "m1"}],
                    "neigh": [{"to": "192.168.9.99", "lladdr": "02:00:00:00:09:99", "dev": "m1"}],
                    "sysctl": {"net.ipv4.ip_forward": "1"},
                }
            }
        }
    )
    ns1 = topo["ns1"]
    assert "192.168.9.12/24" in ns1.run("ip", "-br", "addr", "show", "m1").stdout
    assert "10.138.36.0/23 dev m1" in ns1.run("ip", "route").stdout
    assert ns1.neighbours()["192.168.9.99"] == "02:00:00:00:09:99"
    assert ns1.sysctl("net.ipv4.ip_forward") == "1"


def test_a_fragment_that_changes_what_exists_is_refused_before_the_kernel(topo: Topology) -> None:
    before = links_of(topo, "host"), net_fds()
    with pytest.raises(SpecError, match=r"<dict>: netns\.ns1\.link\.m1: the link exists"):
        topo.apply({"netns": {"ns1": {"link": {"m1": {"mode": "vepa"}}}}})
    with pytest.raises(SpecError, match=r"netns\.ns3\.link\.m3\.link: parent link host/nope is not defined"):
        topo.apply({"netns": {"ns3": {"link": {"m3": {"type": "macvlan", "link": "host/nope"}}}}})
    with pytest.raises(SpecError, match=r"netns\.host\.link\.veth1_br: the link is a veth peer"):
        topo.apply({"netns": {"host": {"link": {"veth1_br": {"addr": ["192.168.9.1/24"]}}}}})
    assert (links_of(topo, "host"), net_fds()) == before
    assert [n.name for n in topo] == ["host", "ns1"]


def test_a_kernel_refusal_undoes_the_fragment_and_keeps_the_topology(topo: Topology) -> None:
    fds = net_fds()
    with pytest.raises(BuildError) as info:  # the second macvlan takes the first one's MAC
        topo.apply(
            {
                "netns": {
                    "ns5": {"link": {"m5": {"type": "macvlan", "link": "host/veth1", "addr": ["192.168.9.5/24"]}}},
                    "ns6": {
                        "link": {"m6": {"type": "macvlan", "link": "host/veth1", "address": topo.link("ns1/m1").mac}}
                    },
                }
            }
        )
    assert info.value.entry == "netns.ns6.link.m6"
    assert net_fds() == fds, "the fragment's namespaces were released"
    assert [n.name for n in topo] == ["host", "ns1"] and "ns5" not in [ns.name for ns in topo.spec.netns]
    assert links_of(topo, "host") == {"lo", "br0", "veth1", "veth1_br"}
    topo.apply({"netns": {"ns5": {"link": {"m5": {"type": "macvlan", "link": "host/veth1"}}}}})  # still usable
    assert topo.link("ns5/m5").carrier


def test_what_a_fragment_added_goes_with_the_topology() -> None:
    fds = net_fds()
    with NetLab() as lab:
        topo = lab.build(BASE)
        topo.apply({"netns": {"ns2": {"link": {"m2": {"type": "macvlan", "link": "host/veth1"}}}}})
        assert len(net_fds() - fds) == 3
    assert net_fds() == fds
    with pytest.raises(Exception, match="torn down"):
        topo.apply({"netns": {"ns3": {}}})

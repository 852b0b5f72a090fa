"""Bridge port isolation: isolated ports do not talk to each other, only to non-isolated ones.

Origin: Linux kernel selftest ``tools/testing/selftests/net/forwarding/bridge_port_isolation.sh``,
tests ``ping_ipv4``, ``ping_ipv6`` and ``flooding`` (asserts kept: h1 -> h2 fails, h3 -> h2
works, over IPv4 and IPv6; a frame to an unknown MAC from h1 is not flooded to h2, from h3 it
is). The selftest's hosts h1..h3 are namespaces here (it uses VRFs); its addresses 192.0.2.0/24
become 192.168.9.0/24; ``mausezahn`` becomes ``Link.send``, and its ``tc`` counter a capture.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from pytest_macvlan import Topology, dst_mac, incoming, ipv4

SPEC = """
[netns.sw.link.br0]
type = "bridge"
[netns.sw.link.swp1]
type = "veth"
master = "br0"
isolated = true
peer = { name = "h1", netns = "h1", addr = ["192.168.9.1/24", "2001:db8:1::1/64"] }
[netns.sw.link.swp2]
type = "veth"
master = "br0"
isolated = true
peer = { name = "h2", netns = "h2", addr = ["192.168.9.2/24", "2001:db8:1::2/64"] }
[netns.sw.link.swp3]
type = "veth"
master = "br0"
isolated = false
peer = { name = "h3", netns = "h3", addr = ["192.168.9.3/24", "2001:db8:1::3/64"] }
[netns.h1]
ipv6 = true
[netns.h2]
ipv6 = true
[netns.h3]
ipv6 = true
"""

pytestmark = pytest.mark.topology(SPEC)


def test_ping_ipv4(topology: Topology) -> None:
    """Isolated port ping."""
    assert topology.link("sw/swp1").port["isolated"] == 1, "Can't set isolation on port swp1"
    assert topology.link("sw/swp3").port["isolated"] == 0, "Can't disable isolation on port swp3"
    assert not topology["h1"].ping("192.168.9.2", timeout=0.5).ok, "Ping worked when it should not have"
    assert topology["h3"].ping("192.168.9.2").ok, "Ping didn't work when it should have"


def test_ping_ipv6(topology: Topology) -> None:
    """Isolated port ping6."""
    assert not topology["h1"].ping("2001:db8:1::2", timeout=0.5).ok, "Ping6 worked when it should not have"
    assert topology["h3"].ping("2001:db8:1::2").ok, "Ping6 didn't work when it should have"


def test_flooding(topology: Topology) -> None:
    """Isolated port flooding: a frame to an unknown MAC is flooded, but not between isolated ports."""
    mac, ip = "de:ad:be:ef:13:37", "192.168.9.100"
    h2 = topology.link("h2/h2").sniff()
    probe = Ether(dst=mac) / IP(dst=ip) / UDP(dport=9)
    topology.link("h1/h1").send(probe)
    topology.link("h3/h3").send(probe)
    flooded = dst_mac(mac) & ipv4(dst=ip) & incoming
    [seen] = h2.wait_for(flooded)
    assert seen.src == topology.link("h3/h3").mac, "Packet was not flooded when it should have been"
    assert h2.count(flooded & (lambda f: f.src == topology.link("h1/h1").mac)) == 0, (
        "Packet was flooded when it should not have been"
    )

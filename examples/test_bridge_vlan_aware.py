"""A bridge, VLAN-aware and VLAN-unaware: ping, ping6, FDB learning, unknown-unicast and
unregistered-multicast flooding.

Origin: Linux kernel selftests ``tools/testing/selftests/net/forwarding/bridge_vlan_aware.sh``
(``ip link add dev br0 type bridge vlan_filtering 1 ageing_time 1000 mcast_snooping 0``) and
``bridge_vlan_unaware.sh`` (the same without VLAN filtering), which run ``ping_test``,
``ping6_test``, ``learning_test`` and ``flood_test`` from ``forwarding/lib.sh``. Asserts kept,
with lib.sh's messages: "Found FDB record when should not", "Packet reached first host when
should not", "Did not find FDB record when should", "Packet did not reach second host when
should", the record ageing out, no record with learning off; "Packet flooded when should not" /
"Packet was not flooded when should" for unicast and multicast. Differences: hosts are
namespaces (VRFs there), 192.0.2.0/24 is 192.168.9.0/24, ``mausezahn`` is ``Link.send`` and the
``tc`` drop counters are captures; lib.sh's ``sleep 1`` after each send is a marker broadcast
sent after it (when the marker has arrived, so would have the frame); the ageing time is 1 s
(10 s there) and its ``sleep ageing+10`` a bounded wait. The VLAN-aware variant needs bridge
VLAN filtering, which this host's kernel lacks: it runs in a kernel lane
(``pytest-macvlan kernel run uml-6.1 -- -p pytest_macvlan examples/``).
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from pytest_macvlan import Capture, Link, Topology, arp_request, dst_mac, incoming, wait_until
from pytest_macvlan.plugin.core import PytestLab

MAC = "de:ad:be:ef:13:37"


def spec(vlan_filtering: bool) -> str:
    return f"""
    [netns.sw.link.br0]
    type = "bridge"
    vlan_filtering = {"true" if vlan_filtering else "false"}
    ageing_time = 100
    mcast_snooping = false
    [netns.sw.link.swp1]
    type = "veth"
    master = "br0"
    peer = {{ name = "h1", netns = "h1", addr = ["192.168.9.1/24", "2001:db8:1::1/64"] }}
    [netns.sw.link.swp2]
    type = "veth"
    master = "br0"
    peer = {{ name = "h2", netns = "h2", addr = ["192.168.9.2/24", "2001:db8:1::2/64"] }}
    [netns.h1]
    ipv6 = true
    [netns.h2]
    ipv6 = true
    """


BRIDGES = [
    pytest.param(spec(False), id="vlan_unaware"),
    pytest.param(spec(True), id="vlan_aware", marks=pytest.mark.requires_kernel("vlan_filtering")),
]


def settle(sender: Link, cap: Capture) -> None:
    """What lib.sh's ``sleep 1`` waits for: a broadcast sent after the frame has reached ``cap``."""
    marker = "192.168.9.250"
    sender.send(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=marker))
    cap.wait_for(arp_request(pdst=marker) & incoming)


def flood(port: Link, flag: str, on: bool) -> None:
    """``bridge link set dev PORT flood|mcast_flood on|off``."""
    if flag == "flood":
        port.set(flood=on)
    else:
        port.set(mcast_flood=on)


def records(topology: Topology, mac: str = MAC) -> list[str]:
    return [str(f) for f in topology["sw"].fdb(master="br0", dev="swp1") if f.mac == mac]


@pytest.mark.parametrize("topology_spec", BRIDGES)
def test_ping_and_ping6(netlab: PytestLab, topology_spec: str) -> None:
    topology = netlab.build(topology_spec)
    assert topology["h1"].ping("192.168.9.2", count=10, interval=0.1).ok, "ping"
    assert topology["h1"].ping("2001:db8:1::2", count=10, interval=0.1).ok, "ping6"


@pytest.mark.parametrize("topology_spec", BRIDGES)
def test_fdb_learning(netlab: PytestLab, topology_spec: str) -> None:
    topology = netlab.build(topology_spec)
    swp1, h1, h2 = topology.link("sw/swp1"), topology.link("h1/h1"), topology.link("h2/h2")
    probe = Ether(dst=MAC) / IP(dst="192.168.9.1") / UDP(dport=9) / (b"\0" * 22)
    assert not records(topology), "Found FDB record when should not"
    swp1.set(flood=False)
    h1.set(promisc=True)
    at_h1 = h1.sniff()
    h2.send(probe)
    settle(h2, at_h1)
    assert at_h1.count(dst_mac(MAC)) == 0, "Packet reached first host when should not"
    h1.send(Ether(src=MAC, dst="02:00:00:00:00:02") / IP(dst="192.168.9.2") / UDP(dport=9))
    wait_until(lambda: records(topology), bool, timeout=3, what="Did not find FDB record when should")
    h2.send(probe)
    at_h1.wait_for(dst_mac(MAC) & incoming)  # "Packet did not reach second host when should"
    wait_until(lambda: records(topology), lambda r: not r, timeout=1 + 10, what="FDB record aged out")
    swp1.set(learning=False)
    at_h2 = h2.sniff()
    h1.send(Ether(src=MAC, dst="02:00:00:00:00:02") / IP(dst="192.168.9.2") / UDP(dport=9))
    settle(h1, at_h2)
    assert not records(topology), "Found FDB record when should not"
    swp1.set(learning=True, flood=True)
    h1.set(promisc=False)


@pytest.mark.parametrize("topology_spec", BRIDGES)
@pytest.mark.parametrize(
    ("flag", "mac", "ip"),
    [("flood", MAC, "192.168.9.100"), ("mcast_flood", "01:00:5e:00:00:01", "239.0.0.1")],
    ids=["unknown_unicast", "unregistered_multicast"],
)
def test_flood(netlab: PytestLab, topology_spec: str, flag: str, mac: str, ip: str) -> None:
    topology = netlab.build(topology_spec)
    swp2, h1, h2 = topology.link("sw/swp2"), topology.link("h1/h1"), topology.link("h2/h2")
    h2.set(promisc=True)
    frame = Ether(dst=mac) / IP(dst=ip) / UDP(dport=9) / (b"\0" * 22)
    flood(swp2, flag, False)
    at_h2 = h2.sniff()
    h1.send(frame)
    settle(h1, at_h2)
    assert at_h2.count(dst_mac(mac)) == 0, "Packet flooded when should not"
    flood(swp2, flag, True)
    h1.send(frame)
    at_h2.wait_for(dst_mac(mac) & incoming)  # "Packet was not flooded when should"

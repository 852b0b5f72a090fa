"""A sticky FDB entry does not move when its MAC shows up behind another port.

Origin: Linux kernel selftest ``tools/testing/selftests/net/forwarding/bridge_sticky_fdb.sh``,
test ``sticky`` (assert kept: after ``bridge fdb add TEST_MAC dev swp1 master static sticky``,
an ARP request sent from h2 with TEST_MAC as its source leaves the record on swp1: "Did not find
FDB record when should"). ``mausezahn`` becomes ``Link.send``; ``bridge -j fdb show | jq``
becomes ``Netns.fdb()``.
"""

from __future__ import annotations

import contextlib

import pytest
from scapy.layers.l2 import ARP, Ether

from pytest_macvlan import ChangeError, Topology, arp_request, incoming

TEST_MAC = "de:ad:be:ef:13:37"

SPEC = """
[netns.sw.link.br0]
type = "bridge"
[netns.sw.link.swp1]
type = "veth"
master = "br0"
peer = { name = "h1", netns = "h1" }
[netns.sw.link.swp2]
type = "veth"
master = "br0"
peer = { name = "h2", netns = "h2" }
[netns.h1]
[netns.h2]
"""


@pytest.mark.topology(SPEC)
def test_sticky(topology: Topology) -> None:
    sw = topology["sw"]
    sw.add_fdb(TEST_MAC, "swp1", master=True, state="static", sticky=True)  # "Could not add fdb entry"
    # The selftest then deletes the entry of VLAN 1 and ignores the result: where the bridge made
    # one entry per VLAN of the port (6.1) that one goes and the VLAN-less one stays; where it
    # made only the VLAN-less one (6.18 here) the kernel says ENOENT.
    with contextlib.suppress(ChangeError):
        sw.del_fdb(TEST_MAC, "swp1", vlan=1)
    seen = topology.link("sw/swp2").sniff()
    topology.link("h2/h2").send(Ether(src=TEST_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=TEST_MAC, pdst="192.168.9.1"))
    seen.wait_for(arp_request(hwsrc=TEST_MAC) & incoming)  # the bridge has had it
    records = [f for f in sw.fdb(master="br0", dev="swp1") if f.mac == TEST_MAC]
    assert records, "Did not find FDB record when should"
    assert records[0].sticky and records[0].static
    assert not [f for f in sw.fdb(dev="swp2") if f.mac == TEST_MAC], "the sticky entry did not move"

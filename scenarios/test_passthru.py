"""macvlan *passthru* mode (scenarios/passthru.toml).

The article lists passthru among the modes without a transcript, so these claims come from the
kernel's documentation (ip-link(8): "This mode gives more power to a single endpoint ... It is
not allowed for more than one endpoint on the same physical interface. All traffic will be
forwarded to this endpoint ... By default, this mode forces the underlying interface into
promiscuous mode. Passing the nopromisc flag prevents this") and from what this kernel does.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pytest_macvlan import (
    SpecError,
    Topology,
    arp_reply,
    broadcast,
    dst_mac,
    ethernet,
    icmp_echo_request,
    incoming,
    outgoing,
    src_mac,
)
from pytest_macvlan.capture.frames import PKTTYPE_NAMES
from pytest_macvlan.capture.predicates import ethertype
from pytest_macvlan.kernel.rtnl import IFF_UP
from pytest_macvlan.plugin.core import PytestLab

pytestmark = pytest.mark.topology("passthru.toml")

MODES = ("private", "vepa", "bridge", "passthru", "source")
ETH_P_LOCAL = 0x88B5  # IEEE 802 local experimental ethertype: no protocol stack answers it
LAN = "02:00:00:00:00:66"  # the source MAC of the frames the tests put on the wire
FOREIGN = "02:00:00:00:99:99"  # a MAC no interface has


@pytest.mark.claim(
    "a passthru macvlan takes its parent's MAC, whatever address it was created with",
    source="drivers/net/macvlan.c (macvlan_common_newlink: eth_hw_addr_inherit in passthru mode); beyond the article",
)
def test_passthru_macvlan_takes_the_parent_mac(topology: Topology) -> None:
    """The kernel gives a passthru macvlan its parent's MAC when it creates it (``macvlan_common_newlink``:
    ``eth_hw_addr_inherit``), even when an address is asked for: passthru.toml asks for
    02:00:00:00:01:01 and does not get it. From the LAN, the NIC and the macvlan are one station."""
    eno2, macvl1 = topology.link("S3/eno2"), topology.link("ns1/macvl1")
    asked = macvl1.spec.address
    assert asked is not None
    assert macvl1.info().mac == eno2.info().mac
    assert macvl1.info().mac != asked.lower()


@pytest.mark.claim(
    "a passthru macvlan and its parent share one MAC: setting either one's MAC sets both",
    source="ip-link(8), passthru: the endpoint may change its MAC address; drivers/net/macvlan.c",
)
def test_passthru_macvlan_and_parent_share_one_mac(topology: Topology) -> None:
    """ip-link(8): passthru allows the guest "to change MAC address". Setting the macvlan's MAC
    sets the parent's (``dev_set_mac_address`` on the lower device); setting the parent's MAC
    changes the macvlan's too (the driver follows the parent's NETDEV_CHANGEADDR)."""
    eno2, macvl1 = topology.link("S3/eno2"), topology.link("ns1/macvl1")
    topology["ns1"].run("ip", "link", "set", "dev", "macvl1", "address", "02:00:00:00:01:02")
    assert (eno2.info().mac, macvl1.info().mac) == ("02:00:00:00:01:02", "02:00:00:00:01:02")
    topology["S3"].run("ip", "link", "set", "dev", "eno2", "address", "02:00:00:00:01:03")
    assert (eno2.info().mac, macvl1.info().mac) == ("02:00:00:00:01:03", "02:00:00:00:01:03")


@pytest.mark.claim(
    "a passthru macvlan makes its parent promiscuous while it is up, unless created with nopromisc",
    source='ip-link(8), passthru: "forces the underlying interface into promiscuous mode. '
    'Passing the nopromisc flag prevents this"',
)
def test_passthru_sets_the_parent_promiscuous(topology: Topology) -> None:
    """ip-link(8): "By default, this mode forces the underlying interface into promiscuous mode.
    Passing the nopromisc flag prevents this". The parent's promiscuity counter is 1 while the
    macvlan is up, 0 while it is down; a passthru macvlan created with ``nopromisc`` leaves it at 0.

    (On a veth, a macvlan of any *other* mode also raises the counter, for another reason: its
    MAC goes into the parent's unicast address list, and a device without a unicast filter, as
    veth is, falls back to promiscuous mode. A passthru macvlan shares the parent's MAC and adds
    none, so the nopromisc case shows the counter at 0.)
    """
    s3, ns1 = topology["S3"], topology["ns1"]
    eno2, macvl1 = topology.link("S3/eno2"), topology.link("ns1/macvl1")
    assert eno2.info().promiscuity == 1
    macvl1.set_down()
    assert eno2.info().promiscuity == 0
    macvl1.set_up()
    assert eno2.info().promiscuity == 1

    ns1.run("ip", "link", "del", "dev", "macvl1")
    assert eno2.info().promiscuity == 0
    s3.run("ip", "link", "add", "link", "eno2", "name", "macvl2", "type", "macvlan", "mode", "passthru", "nopromisc")
    s3.run("ip", "link", "set", "dev", "macvl2", "up")
    shown = s3.run("ip", "-d", "link", "show", "dev", "macvl2").stdout
    assert "macvlan mode passthru nopromisc" in shown, shown
    macvl2 = next(info for info in s3.link_infos() if info.name == "macvl2")
    assert macvl2.flags & IFF_UP, shown
    assert eno2.info().promiscuity == 0


@pytest.mark.claim(
    "a passthru parent accepts exactly one macvlan: the spec validator and the kernel refuse another",
    source='ip-link(8), passthru: "not allowed for more than one endpoint on the same physical interface"',
)
def test_passthru_parent_accepts_one_macvlan(topology: Topology, netlab: PytestLab) -> None:
    """ip-link(8): passthru "is not allowed for more than one endpoint on the same physical interface".

    The spec validator refuses passthru.toml with a second macvlan on eno2 before anything is
    built. The kernel's own answer, asked at runtime with ``ip link add``: a second macvlan of
    any mode on a passthru parent is refused with EINVAL ("Invalid argument", no extended
    message), and so is a passthru macvlan on a parent that already has a macvlan.
    """
    spec = tomllib.loads((Path(__file__).parent / "passthru.toml").read_text(encoding="utf-8"))
    spec["netns"]["ns2"] = {"link": {"macvl2": {"type": "macvlan", "link": "S3/eno2", "mode": "bridge"}}}
    built = len(netlab.topologies)
    with pytest.raises(SpecError, match="a passthru parent accepts exactly one macvlan") as refused:
        netlab.build(spec)
    assert "netns.ns2.link.macvl2" in str(refused.value)
    assert len(netlab.topologies) == built  # nothing reached the kernel

    s3 = topology["S3"]
    for mode in MODES:
        done = s3.run(
            "ip", "link", "add", "link", "eno2", "name", "macvl2", "type", "macvlan", "mode", mode, check=False
        )
        assert done.returncode != 0, f"the kernel accepted a {mode} macvlan on a passthru parent"
        assert "Invalid argument" in done.stderr, done.stderr
    links = s3.run("ip", "-br", "link", "show").stdout
    assert "macvl2" not in links, links

    # The other way round: a passthru macvlan on a parent that already has a (bridge) macvlan.
    s20 = topology["S20"]
    s20.run("ip", "link", "add", "link", "eth0", "name", "macvl3", "type", "macvlan", "mode", "bridge")
    done = s20.run(
        "ip", "link", "add", "link", "eth0", "name", "macvl4", "type", "macvlan", "mode", "passthru", check=False
    )
    assert done.returncode != 0, "the kernel accepted a passthru macvlan on a parent that has a macvlan"
    assert "Invalid argument" in done.stderr, done.stderr


@pytest.mark.claim(
    "a passthru macvlan receives every frame that reaches its parent, whatever the destination MAC",
    source='ip-link(8), passthru: "All traffic will be forwarded to this endpoint"',
)
def test_passthru_macvlan_receives_every_frame(topology: Topology) -> None:
    """ip-link(8): "All traffic will be forwarded to this endpoint". Frames put on the wire for
    the shared MAC, for a MAC nobody has, and for broadcast all reach macvl1.

    The kernel delivers every unicast frame to the passthru macvlan as addressed to it (packet
    type "host"), even the one for a MAC nobody has: macvlan's receive handler marks each unicast
    frame it hands to a macvlan PACKET_HOST, and in passthru mode it hands it all of them.
    """
    eno2, macvl1 = topology.link("S3/eno2"), topology.link("ns1/macvl1")
    cap = macvl1.sniff()
    targets = {eno2.mac: "host", FOREIGN: "host", "ff:ff:ff:ff:ff:ff": "broadcast"}
    topology.link("lan/s3").send([ethernet(dst, LAN, ETH_P_LOCAL, b"passthru".ljust(46, b".")) for dst in targets])
    ours = ethertype(ETH_P_LOCAL) & src_mac(LAN) & incoming
    seen = cap.wait_for(ours, count=len(targets))
    assert {f.dst: PKTTYPE_NAMES[f.pkttype] for f in seen} == targets, cap.summary()


@pytest.mark.claim(
    "the parent loses its unicast to the passthru macvlan: S20 cannot ping S3's 10.138.36.58",
    source='ip-link(8), passthru: "All traffic will be forwarded to this endpoint" (a consequence); beyond the article',
)
def test_parent_loses_its_unicast_traffic(topology: Topology) -> None:
    """A consequence of "all traffic will be forwarded to this endpoint": S3 still answers ARP for
    10.138.36.58 (broadcasts reach the parent too), with the MAC it shares with macvl1; the echo
    requests that follow are unicast to that MAC and go to macvl1, which has no such address.
    Once macvl1 is deleted, S3 answers again."""
    eno2, macvl1 = topology.link("S3/eno2"), topology.link("ns1/macvl1")
    s20 = topology["S20"]
    on_eno2, on_macvl1 = eno2.sniff(), macvl1.sniff()
    lost = s20.echo("10.138.36.58", timeout=0.5)
    assert not lost.ok, lost.output
    assert s20.neighbours().get("10.138.36.58") == eno2.mac
    on_eno2.wait_for(arp_reply(psrc="10.138.36.58") & outgoing)  # S3 answered the ARP ...
    on_macvl1.assert_none(arp_reply() & outgoing)  # ... macvl1 did not
    on_macvl1.wait_for(icmp_echo_request(dst="10.138.36.58") & incoming & dst_mac(eno2.mac))  # it got the ping
    assert on_eno2.count(icmp_echo_request(dst="10.138.36.58") & ~broadcast) >= 1  # shown on the parent's tap

    on_macvl1.close()  # macvl1 is about to go (its frames stay readable)
    topology["ns1"].run("ip", "link", "del", "dev", "macvl1")
    back = s20.echo("10.138.36.58")
    assert back.ok, back.output

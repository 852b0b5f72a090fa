"""The article's general claims about any macvlan (scenarios/general.toml)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import (
    Topology,
    arp_reply,
    arp_request,
    broadcast,
    icmp_echo_reply,
    icmp_echo_request,
    incoming,
    outgoing,
    src_mac,
)
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, IFF_UP, LinkInfo
from pytest_macvlan.plugin.core import PytestLab
from pytest_macvlan.wait import wait_until

pytestmark = pytest.mark.topology("general.toml")

HOST = "10.138.36.58"  # S3's address, on eno2
S20 = "10.138.36.66"
MACVL1 = "10.138.36.70"
IF_OPER_DOWN = 2  # RFC 2863 operstates, as in if.h
IF_OPER_LOWERLAYERDOWN = 3
IF_OPER_UP = 6


@pytest.mark.claim("the default macvlan mode is vepa")
def test_default_mode_is_vepa(topology: Topology) -> None:
    """Article: "the default mode is vepa": macvl1 was created without a mode."""
    macvl1 = topology.link("ns1/macvl1")
    assert macvl1.spec.mode is None, "the spec must leave the mode to the kernel"
    assert macvl1.mode == "vepa"
    [shown] = json.loads(topology["ns1"].run("ip", "-d", "-j", "link", "show", "macvl1").stdout)
    assert shown["linkinfo"]["info_data"]["mode"] == "vepa", shown  # and iproute2 agrees


@pytest.mark.claim("a macvlan has its own MAC, different from its parent's")
def test_macvlan_has_its_own_mac(topology: Topology) -> None:
    """Article: "each macvlan gets its own MAC address": the LAN sees macvl1's MAC, not eno2's."""
    macvl1, eno2 = topology.link("ns1/macvl1"), topology.link("S3/eno2")
    assert macvl1.mac != eno2.mac
    lan = topology.link("S20/eth0").sniff()
    result = topology["ns1"].ping(S20)
    assert result.ok, result.output
    lan.wait_for(icmp_echo_request(src=MACVL1) & src_mac(macvl1.mac) & incoming)
    assert lan.count(src_mac(eno2.mac)) == 0, lan.summary()
    assert topology["S20"].neighbours().get(MACVL1) == macvl1.mac


@pytest.mark.claim("a macvlan's carrier follows its parent: parent down, no carrier; parent up, carrier")
def test_state_follows_parent(topology: Topology) -> None:
    """Article: "when the parent goes down, the macvlan goes down with it, and comes back with it".

    What follows the parent is the carrier; the macvlan's own admin UP flag stays set throughout.
    ``ip link`` in ns1 shows ``state DOWN`` on this kernel, ``LOWERLAYERDOWN`` on older ones:
    recent kernels look for the lower device by its index in the macvlan's own namespace to
    choose, and the parent is in S3.
    """
    eno2, macvl1 = topology.link("S3/eno2"), topology.link("ns1/macvl1")

    def state(want_carrier: bool, operstates: tuple[int, ...]) -> LinkInfo:
        return wait_until(
            macvl1.info,
            lambda i: bool(i.flags & IFF_LOWER_UP) == want_carrier and i.operstate in operstates,
            timeout=2.0,
            what=f"{macvl1.ref}: carrier {'on' if want_carrier else 'off'}, operstate in {operstates}",
            show=lambda i: f"flags=0x{i.flags:x} operstate={i.operstate}",
        )

    eno2.set_down()
    down = state(False, (IF_OPER_DOWN, IF_OPER_LOWERLAYERDOWN))
    assert down.flags & IFF_UP, "the macvlan's admin UP flag stays while its parent is down"
    eno2.set_up()
    state(True, (IF_OPER_UP,))
    lan = topology.link("S20/eth0").sniff()
    result = topology["ns1"].ping(S20)
    assert result.ok, result.output
    lan.wait_for(icmp_echo_request(src=MACVL1) & incoming)


@pytest.mark.claim("a macvlan and its parent share one broadcast domain")
def test_macvlan_and_parent_share_one_broadcast_domain(topology: Topology) -> None:
    """Article: "the macvlan is on the same broadcast domain as its parent": a broadcast on the
    LAN (S20 asking who has the host's address) reaches eno2 and macvl1 alike."""
    eno2, macvl1 = topology.sniff("S3/eno2", "ns1/macvl1")
    result = topology["S20"].ping(HOST)
    assert result.ok, result.output
    ask = arp_request(psrc=S20, pdst=HOST) & broadcast & incoming
    [on_parent] = eno2.wait_for(ask)
    [on_macvlan] = macvl1.wait_for(ask)
    assert on_macvlan.data == on_parent.data


@pytest.mark.claim("a macvlan cannot reach an IP address of its own parent")
def test_macvlan_cannot_reach_its_parent(topology: Topology) -> None:
    """Article: "from the macvlan you cannot ping the host's own address on the parent".

    The request leaves through the parent to the LAN (a vepa macvlan sends everything out),
    and the parent's own stack never receives it, so nobody answers.
    """
    eno2, lan = topology.sniff("S3/eno2", "S20/eth0")
    result = topology["ns1"].ping(HOST)
    assert not result.ok, result.output
    assert result.unreachable, result.output
    ask = arp_request(psrc=MACVL1, pdst=HOST)
    eno2.wait_for(ask & outgoing)  # out through the parent ...
    lan.wait_for(ask & incoming)  # ... onto the LAN ...
    eno2.assert_none(ask & incoming, within=0)  # ... never into the parent
    eno2.assert_none(arp_reply(psrc=HOST), within=0)


@pytest.mark.claim("the parent cannot reach an IP address of its own macvlan")
def test_parent_cannot_reach_its_macvlan(topology: Topology) -> None:
    """Article: "nor can the host reach the macvlan's address": the host's ARP request goes out
    to the LAN, and a macvlan only receives what comes in through its parent."""
    macvl1, lan = topology.sniff("ns1/macvl1", "S20/eth0")
    result = topology["S3"].ping(MACVL1)
    assert not result.ok, result.output
    assert result.unreachable, result.output
    ask = arp_request(psrc=HOST, pdst=MACVL1)
    lan.wait_for(ask & incoming)
    macvl1.assert_none(ask, within=0)


def workaround_spec() -> dict[str, Any]:
    """general.toml, with the host's address moved from eno2 to a second macvlan on eno2 (macvl0),
    and both macvlans in bridge mode."""
    spec: dict[str, Any] = tomllib.loads((Path(__file__).parent / "general.toml").read_text())
    s3 = spec["netns"]["S3"]
    host_addr = s3["link"]["eno2"].pop("addr")
    s3["link"]["macvl0"] = {"type": "macvlan", "link": "eno2", "mode": "bridge", "addr": host_addr}
    spec["netns"]["ns1"]["link"]["macvl1"]["mode"] = "bridge"
    return spec


@pytest.mark.claim("the workaround: a second macvlan on the parent, with the host's address, reaches the macvlan")
def test_host_address_on_a_second_macvlan_reaches_the_macvlan(netlab: PytestLab) -> None:
    """Article: "the workaround is to create a macvlan on the host too and give it the host's address".

    Both macvlans are in bridge mode, so the parent delivers between them directly; the LAN sees
    the ARP broadcast, none of the unicast. The host keeps its address on the LAN.
    """
    topo = netlab.build(workaround_spec())
    macvl0, lan = topo.sniff("S3/macvl0", "S20/eth0")
    host, ns1 = topo["S3"], topo["ns1"]
    for result in (host.ping(MACVL1), ns1.ping(HOST), host.ping(S20)):
        assert result.ok, result.output
    macvl0.wait_for(icmp_echo_reply(src=MACVL1, dst=HOST) & incoming)
    macvl0.wait_for(icmp_echo_request(src=MACVL1, dst=HOST) & incoming)
    lan.assert_none(icmp_echo_request(dst=MACVL1) | icmp_echo_request(dst=HOST), within=0)

"""macvlan *source* mode (scenarios/source.toml).

Not in the article; the claims come from the kernel's documentation (ip-link(8): source mode
"allows one to set a list of allowed mac address, which is used to match against source mac
address from received frames on underlying interface ... By default, packets are also
considered (duplicated) for destination-based MACVLAN. Passing the nodst flag stops matching
packets from also going through the destination-based flow") and from what this kernel does.
Frames are put on the wire from S20, eno2's peer, with explicit source and destination MACs.
"""

from __future__ import annotations

import platform

import pytest

from pytest_macvlan import Link, Topology, ethernet, icmp_echo_request, incoming, src_mac
from pytest_macvlan.capture.frames import PKTTYPE_NAMES
from pytest_macvlan.capture.predicates import ethertype
from pytest_macvlan.kernel.processes import CommandFailed

pytestmark = pytest.mark.topology("source.toml")

ETH_P_LOCAL = 0x88B5  # IEEE 802 local experimental ethertype: no protocol stack answers it
S20_MAC = "02:00:00:00:20:66"  # listed (S20's own MAC)
LISTED = "02:00:00:00:0a:02"  # listed
UNLISTED = "02:00:00:00:0a:03"  # not listed
FOREIGN = "02:00:00:00:99:99"  # a MAC no interface has
BROADCAST = "ff:ff:ff:ff:ff:ff"


def frames_from(src: str, dsts: list[str]) -> list[bytes]:
    """One experimental-ethertype frame from ``src`` to each of ``dsts``."""
    return [ethernet(dst, src, ETH_P_LOCAL, b"source".ljust(46, b".")) for dst in dsts]


def destinations(macvl1: Link, eno2: Link) -> list[str]:
    """macvl1's own MAC, the parent's, a MAC nobody has, and broadcast."""
    return [macvl1.mac, eno2.mac, FOREIGN, BROADCAST]


@pytest.mark.claim(
    "a source-mode macvlan receives every frame from a listed source MAC, whatever the destination",
    source='ip-link(8), source: the list "is used to match against source mac address from received frames"',
)
def test_listed_sources_reach_the_macvlan_whatever_the_destination(topology: Topology) -> None:
    """ip-link(8): the list "is used to match against source mac address from received frames".
    Every frame from a listed MAC reaches macvl1: to its own MAC, to the parent's, to a MAC
    nobody has, and broadcast.

    The copy keeps the packet type the parent gave the frame, except that a frame for macvl1's
    own MAC becomes "host" (``macvlan_forward_source_one``): so a frame for the *parent's* MAC is
    "host" on macvl1 too, and only the one for a MAC nobody has is "otherhost".
    """
    macvl1, eno2 = topology.link("ns1/macvl1"), topology.link("S3/eno2")
    cap = macvl1.sniff()
    dsts = destinations(macvl1, eno2)
    s20 = topology.link("S20/eth0")
    s20.send(frames_from(S20_MAC, dsts) + frames_from(LISTED, dsts))
    for listed in (S20_MAC, LISTED):
        seen = cap.wait_for(ethertype(ETH_P_LOCAL) & src_mac(listed) & incoming, count=len(dsts))
        assert {f.dst: PKTTYPE_NAMES[f.pkttype] for f in seen} == {
            macvl1.mac: "host",
            eno2.mac: "host",
            FOREIGN: "otherhost",
            BROADCAST: "broadcast",
        }, cap.summary()


@pytest.mark.claim(
    "a source-mode macvlan receives nothing from an unlisted source, not even to its own MAC",
    source="ip-link(8), source mode; drivers/net/macvlan.c (macvlan_handle_frame); beyond the article",
)
def test_unlisted_sources_never_reach_the_macvlan(topology: Topology) -> None:
    """The other half of source mode: from a MAC that is not in the list, macvl1 receives
    nothing, neither frames to its own MAC nor broadcasts, although they reach the parent."""
    macvl1, eno2 = topology.link("ns1/macvl1"), topology.link("S3/eno2")
    on_macvl1, on_eno2 = macvl1.sniff(), eno2.sniff()
    dsts = destinations(macvl1, eno2)
    topology.link("S20/eth0").send(frames_from(UNLISTED, dsts))
    ours = ethertype(ETH_P_LOCAL) & src_mac(UNLISTED)
    on_eno2.assert_count(ours & incoming, len(dsts))  # they did arrive on the parent
    on_macvl1.assert_none(ours)


@pytest.mark.claim(
    "the source MAC list changes at runtime (ip link set ... macaddr add|del)",
    source="ip-link(8), source: macaddr add|del|flush|set",
)
def test_source_list_changes_at_runtime(topology: Topology) -> None:
    """``ip link set macvl1 type macvlan macaddr add MAC`` lets that source's frames in from then
    on; ``macaddr del MAC`` shuts them out."""
    ns1, s20 = topology["ns1"], topology.link("S20/eth0")
    macvl1 = topology.link("ns1/macvl1")
    cap = macvl1.sniff()
    ours = ethertype(ETH_P_LOCAL) & incoming

    ns1.run("ip", "link", "set", "dev", "macvl1", "type", "macvlan", "macaddr", "add", UNLISTED)
    ns1.run("ip", "link", "set", "dev", "macvl1", "type", "macvlan", "macaddr", "del", LISTED)
    shown = ns1.run("ip", "-d", "link", "show", "dev", "macvl1").stdout
    assert UNLISTED in shown, shown
    assert LISTED not in shown, shown
    s20.send(frames_from(UNLISTED, [macvl1.mac]) + frames_from(LISTED, [macvl1.mac]))
    cap.assert_count(ours & src_mac(UNLISTED), 1)
    cap.assert_none(ours & src_mac(LISTED))


@pytest.mark.claim(
    "frames from listed sources are copies: the parent still receives them, unless nodst",
    source='ip-link(8), source: "packets are also considered (duplicated) for destination-based MACVLAN. '
    'Passing the nodst flag stops" that',
)
def test_listed_frames_are_duplicated_unless_nodst(topology: Topology) -> None:
    """ip-link(8): "By default, packets are also considered (duplicated) for destination-based
    MACVLAN. Passing the nodst flag stops" that. S20 (listed) pings S3's own 10.138.36.58: S3
    answers, and macvl1 gets a copy of each echo request. With ``nodst`` (set at runtime) macvl1
    still gets them, but the parent no longer does: the ping fails."""
    s20, ns1 = topology["S20"], topology["ns1"]
    cap = topology.link("ns1/macvl1").sniff()
    to_s3 = icmp_echo_request(src="10.138.36.66", dst="10.138.36.58") & incoming & src_mac(S20_MAC)

    answered = s20.echo("10.138.36.58")
    assert answered.ok, answered.output
    cap.assert_count(to_s3, 1)

    try:
        ns1.run("ip", "link", "set", "dev", "macvl1", "type", "macvlan", "mode", "source", "nodst")
    except CommandFailed as exc:  # before Linux 5.13 (commit 427f0c8c194b) the kernel refuses the flag
        if "Invalid argument" not in str(exc):
            raise
        pytest.skip(f"kernel {platform.release()} refuses the nodst flag (EINVAL): it arrived in Linux 5.13")
    shown = ns1.run("ip", "-d", "link", "show", "dev", "macvl1").stdout
    assert "macvlan mode source nodst" in shown, shown
    taken = s20.echo("10.138.36.58", timeout=0.5)
    assert not taken.ok, taken.output
    cap.assert_count(to_s3, 2)


@pytest.mark.claim(
    "a source-mode macvlan talks only with hosts whose MAC is listed",
    source="ip-link(8), source mode (a consequence); beyond the article",
)
def test_macvlan_talks_only_with_listed_hosts(topology: Topology) -> None:
    """ns1 pings S20 while S20's MAC is listed; once it is taken off the list, S20's replies
    (to macvl1's own MAC) no longer reach macvl1 and the ping fails."""
    ns1 = topology["ns1"]
    listed = ns1.echo("10.138.36.66")
    assert listed.ok, listed.output
    ns1.run("ip", "link", "set", "dev", "macvl1", "type", "macvlan", "macaddr", "del", S20_MAC)
    cap = topology.link("ns1/macvl1").sniff()
    on_eno2 = topology.link("S3/eno2").sniff()
    unlisted = ns1.echo("10.138.36.66", timeout=0.5)
    assert not unlisted.ok, unlisted.output
    on_eno2.wait_for(src_mac(S20_MAC) & incoming)  # S20 did answer
    cap.assert_none(src_mac(S20_MAC))

"""IPv6, ICMPv6 (ND, RS/RA, MLD) and IGMP: parsing, predicates and tcpdump-style summaries.

Frames are built with scapy (the reference encoder) and parsed by :mod:`pytest_macvlan.capture.frames`
without it; no privileges needed.
"""

from __future__ import annotations

import pytest
from scapy.layers.igmp import IGMP, IGMPv3_MR, IGMPv3_MR_Group
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLDMultAddrRec,
    ICMPv6MLQuery,
    ICMPv6MLReport,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    IPv6,
    IPv6ExtHdrHopByHop,
    RouterAlert,
)
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

import pytest_macvlan as pm
from pytest_macvlan.capture.frames import Frame

A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"
LL_A, LL_B = "fe80::1", "fe80::2"
G6 = "2001:db8::2"


def frame(pkt: object, direction: str = "in") -> Frame:
    data = bytes(pkt)  # type: ignore[call-overload]
    return Frame(1_700_000_000.5, direction, 0, "ns1/v0", data, len(data))  # type: ignore[arg-type]


def test_every_predicate_is_exported_from_the_package() -> None:
    from pytest_macvlan.capture import predicates

    public = {
        n
        for n, v in vars(predicates).items()
        if not n.startswith("_") and (isinstance(v, predicates.Pred) or callable(v)) and v.__module__ != "typing"
        if getattr(v, "__module__", predicates.__name__) == predicates.__name__ or isinstance(v, predicates.Pred)
    }
    missing = sorted(n for n in public if n not in pm.__all__ and n not in ("Callable", "Frame", "ip_address"))
    assert not missing, f"predicates not exported at top level: {missing}"
    assert pm.wait_until is __import__("pytest_macvlan.wait", fromlist=["wait_until"]).wait_until


def test_icmpv6_echo() -> None:
    f = frame(Ether(src=A, dst=B) / IPv6(src="2001:db8::1", dst=G6) / ICMPv6EchoRequest(id=7, seq=3, data=b"x" * 56))
    assert f.ipv6 is not None and f.ipv6[:4] == ("2001:db8::1", G6, 58, 64)
    assert f.icmpv6 is not None and f.icmpv6[0] == 128
    assert pm.icmpv6_echo_request(dst="2001:DB8::0002")(f)
    assert pm.icmpv6_echo_request(src="2001:db8::1", dst=G6)(f)
    assert not pm.icmpv6_echo_reply()(f) and not pm.icmp_echo_request()(f)
    assert pm.ipv6(dst=G6, hlim=64)(f) and not pm.ipv4()(f)
    assert f.ip == ("2001:db8::1", G6)
    assert "2001:db8::1 > 2001:db8::2: ICMP6, echo request, id 7, seq 3, length 64, hlim 64" in f.summary()
    assert "ethertype IPv6 (0x86dd), length" in f.summary()
    reply = frame(Ether(src=B, dst=A) / IPv6(src=G6, dst="2001:db8::1") / ICMPv6EchoReply(id=7, seq=3))
    assert pm.icmpv6_echo_reply(src=G6)(reply) and "echo reply, id 7, seq 3" in reply.summary()


def test_neighbour_discovery_and_dad() -> None:
    ns = frame(
        Ether(src=A, dst="33:33:ff:00:00:02") / IPv6(src="::", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt=G6)
    )
    assert f"who has {G6}" in ns.summary()
    assert ns.nd_target == G6 and pm.nd_solicitation(target=G6)(ns) and pm.dad(G6)(ns) and pm.dad()(ns)
    assert not pm.nd_solicitation(target="2001:db8::3")(ns) and pm.multicast(ns) and not pm.broadcast(ns)
    normal = frame(Ether(src=A, dst=B) / IPv6(src=LL_A, dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt=G6))
    assert pm.nd_solicitation(G6)(normal) and not pm.dad()(normal)
    na = frame(Ether(src=B, dst=A) / IPv6(src=G6, dst=LL_A) / ICMPv6ND_NA(tgt=G6, R=0, S=1, O=1))
    assert pm.nd_advertisement(target=G6)(na) and not pm.nd_solicitation()(na)
    assert f"neighbor advertisement, tgt is {G6}" in na.summary()
    assert repr(pm.dad(G6)) == f"dad(target='{G6}')"


def test_router_solicitation_and_advertisement() -> None:
    rs = frame(Ether(src=A, dst="33:33:00:00:00:02") / IPv6(src=LL_A, dst="ff02::2") / ICMPv6ND_RS())
    ra = frame(Ether(src=B, dst="33:33:00:00:00:01") / IPv6(src=LL_B, dst="ff02::1") / ICMPv6ND_RA())
    assert pm.router_solicitation()(rs) and not pm.router_advertisement()(rs)
    assert pm.router_advertisement(src=LL_B)(ra) and "router advertisement" in ra.summary()
    assert "fe80::1 > ff02::2: ICMP6, router solicitation, length 8" in rs.summary()


def test_mld_behind_the_hop_by_hop_header() -> None:
    hbh = IPv6ExtHdrHopByHop(options=[RouterAlert()])
    v2 = frame(
        Ether(src=A, dst="33:33:00:00:00:16")
        / IPv6(src=LL_A, dst="ff02::16", hlim=1)
        / hbh
        / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst="ff0e::42"), ICMPv6MLDMultAddrRec(dst="ff02::fb")])
    )
    assert v2.ipv6 is not None and v2.ipv6[2] == 58, "the upper layer behind hop-by-hop"
    assert v2.mld == (143, ("ff0e::42", "ff02::fb"))
    assert pm.mld_report("ff0e::42")(v2) and pm.mld_report()(v2) and pm.mld()(v2) and not pm.mld_report("ff0e::43")(v2)
    assert "HBH ICMP6, multicast listener report v2, 2 group record(s) [ff0e::42, ff02::fb]" in v2.summary()
    v1 = frame(Ether(src=A) / IPv6(src=LL_A, dst="ff0e::42", hlim=1) / hbh / ICMPv6MLReport(mladdr="ff0e::42"))
    assert pm.mld_report("ff0e::42", src=LL_A)(v1) and not pm.mld_query()(v1)
    q = frame(Ether(src=B) / IPv6(src=LL_B, dst="ff02::1", hlim=1) / hbh / ICMPv6MLQuery())
    assert pm.mld_query()(q) and not pm.mld_report()(q) and q.mld == (130, ())


def test_igmp_v2_and_v3() -> None:
    v2 = frame(
        Ether(src=A, dst="01:00:5e:01:01:01")
        / IP(src="192.168.9.2", dst="239.1.1.1", ttl=1)
        / IGMP(type=0x16, gaddr="239.1.1.1")
    )
    assert v2.igmp == (0x16, ("239.1.1.1",))
    assert pm.igmp_report("239.1.1.1", src="192.168.9.2")(v2) and pm.igmp()(v2) and not pm.igmp_leave()(v2)
    assert "192.168.9.2 > 239.1.1.1: igmp v2 report 239.1.1.1" in v2.summary()
    v3 = frame(
        Ether(src=A, dst="01:00:5e:00:00:16")
        / IP(src="192.168.9.2", dst="224.0.0.22", ttl=1)
        / IGMPv3_MR(records=[IGMPv3_MR_Group(maddr="239.1.1.1"), IGMPv3_MR_Group(maddr="239.2.2.2")])
    )
    assert pm.igmp_report("239.2.2.2")(v3) and not pm.igmp_report("239.3.3.3")(v3)
    assert "igmp v3 report, 2 group record(s) [239.1.1.1, 239.2.2.2]" in v3.summary()
    query = frame(Ether(src=B) / IP(src="192.168.9.1", dst="224.0.0.1", ttl=1) / IGMP(type=0x11, mrcode=100))
    assert pm.igmp_query()(query) and query.igmp == (0x11, ()) and "igmp query v2" in query.summary()


def test_udp_and_tcp_over_both_families() -> None:
    u4 = frame(Ether(src=A, dst=B) / IP(src="192.168.9.2", dst="192.168.9.3") / UDP(sport=68, dport=67) / (b"x" * 10))
    u6 = frame(Ether(src=A, dst=B) / IPv6(src=LL_A, dst="ff02::1:2") / UDP(sport=546, dport=547) / (b"x" * 4))
    assert pm.udp(dport=67)(u4) and pm.udp(sport=546)(u6) and not pm.tcp()(u6)
    assert "192.168.9.2.68 > 192.168.9.3.67: UDP, length 10" in u4.summary()
    assert "fe80::1.546 > ff02::1:2.547: UDP, length 4" in u6.summary()


def test_vlan_tags_are_walked_once_for_properties_and_summary() -> None:
    f = frame(Ether(src=A, dst=B) / Dot1AD(vlan=100) / Dot1Q(vlan=11) / IPv6(src=LL_A, dst=LL_B) / ICMPv6EchoRequest())
    assert f.vlan == 100 and f.vlan_tags == ((0x88A8, 100), (0x8100, 11))
    assert pm.icmpv6_echo_request()(f) and pm.vlan(100)(f)
    s = f.summary()
    assert "vlan 100, p 0, ethertype 802.1Q (0x8100)" in s and "vlan 11, p 0, ethertype IPv6 (0x86dd)" in s


def test_bad_address_in_a_predicate_is_refused() -> None:
    with pytest.raises(ValueError):
        pm.nd_solicitation(target="not-an-address")

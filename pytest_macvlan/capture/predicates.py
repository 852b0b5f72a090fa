"""Frame predicates that read like the article and compose with ``&``, ``|`` and ``~``.

``cap.count(arp_request(pdst="192.168.9.3") & vlan(11))``. Any callable that takes a scapy
packet works where a predicate is expected (it is wrapped by :func:`as_pred`).

Every predicate is exported from the package (``from pytest_macvlan import nd_solicitation``):

- direction and addresses: :data:`incoming`, :data:`outgoing`, :func:`direction`,
  :data:`broadcast`, :data:`multicast`, :func:`src_mac`, :func:`dst_mac`, :func:`mac`,
  :func:`ethertype`, :func:`vlan`;
- IPv4: :data:`arp`, :func:`arp_request`, :func:`arp_reply`, :func:`ipv4`,
  :func:`icmp_echo_request`, :func:`icmp_echo_reply`, :func:`icmp_unreachable`,
  :func:`igmp`, :func:`igmp_report`, :func:`igmp_query`, :func:`igmp_leave`;
- IPv6: :func:`ipv6`, :func:`icmpv6`, :func:`icmpv6_echo_request`, :func:`icmpv6_echo_reply`,
  :func:`nd_solicitation`, :func:`nd_advertisement`, :func:`dad` (a solicitation from ``::``),
  :func:`router_solicitation`, :func:`router_advertisement`, :func:`mld`,
  :func:`mld_report`, :func:`mld_query`, :func:`mld_done`;
- transport: :func:`udp`, :func:`tcp`.

Addresses given as strings are compared in their canonical form (``2001:DB8::01`` matches
``2001:db8::1``).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

from pytest_macvlan.capture.frames import (
    ICMP6_ECHO_REPLY,
    ICMP6_ECHO_REQUEST,
    IGMP_LEAVE,
    IGMP_QUERY,
    IGMP_REPORTS,
    MLD2_REPORT,
    MLD_DONE,
    MLD_QUERY,
    MLD_REPORT,
    ND_NEIGHBOR_ADVERT,
    ND_NEIGHBOR_SOLICIT,
    ND_ROUTER_ADVERT,
    ND_ROUTER_SOLICIT,
    Frame,
)

BROADCAST = "ff:ff:ff:ff:ff:ff"


class Pred:
    """A named test on a :class:`Frame`."""

    __slots__ = ("desc", "fn")

    def __init__(self, fn: Callable[[Frame], bool], desc: str) -> None:
        self.fn = fn
        self.desc = desc

    def __call__(self, frame: Frame) -> bool:
        return self.fn(frame)

    def __and__(self, other: PredLike) -> Pred:
        o = as_pred(other)
        return Pred(lambda f: self.fn(f) and o.fn(f), f"({self.desc} and {o.desc})")

    def __or__(self, other: PredLike) -> Pred:
        o = as_pred(other)
        return Pred(lambda f: self.fn(f) or o.fn(f), f"({self.desc} or {o.desc})")

    def __invert__(self) -> Pred:
        return Pred(lambda f: not self.fn(f), f"not {self.desc}")

    def __repr__(self) -> str:
        return self.desc


PredLike = Pred | Callable[[Any], Any]


def as_pred(p: PredLike | None) -> Pred:
    """A :class:`Pred` as is; None matches every frame; any other callable gets the scapy packet."""
    if p is None:
        return ANY
    if isinstance(p, Pred):
        return p
    fn = p
    return Pred(lambda f: bool(fn(f.packet)), getattr(fn, "__name__", repr(fn)))


def _desc(name: str, **kw: object) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items() if v is not None)
    return f"{name}({args})"


ANY = Pred(lambda f: True, "any frame")
incoming = Pred(lambda f: f.direction == "in", "incoming")
outgoing = Pred(lambda f: f.direction == "out", "outgoing")
broadcast = Pred(lambda f: f.dst == BROADCAST, "broadcast")
#: A frame to a group MAC address (the I/G bit), broadcast included.
multicast = Pred(lambda f: len(f.data) >= 6 and bool(f.data[0] & 1), "multicast")
arp = Pred(lambda f: f.arp is not None, "arp")


def _arp(op: int, name: str, psrc: str | None, pdst: str | None, hwsrc: str | None) -> Pred:
    hw = hwsrc.lower() if hwsrc else None

    def test(f: Frame) -> bool:
        a = f.arp
        return (
            a is not None
            and a[0] == op
            and (psrc is None or a[2] == psrc)
            and (pdst is None or a[4] == pdst)
            and (hw is None or a[1] == hw)
        )

    return Pred(test, _desc(name, psrc=psrc, pdst=pdst, hwsrc=hwsrc))


def arp_request(psrc: str | None = None, pdst: str | None = None, hwsrc: str | None = None) -> Pred:
    """ARP who-has (``tell psrc``, ``who-has pdst``)."""
    return _arp(1, "arp_request", psrc, pdst, hwsrc)


def arp_reply(psrc: str | None = None, pdst: str | None = None, hwsrc: str | None = None) -> Pred:
    """ARP is-at (``psrc is-at hwsrc``)."""
    return _arp(2, "arp_reply", psrc, pdst, hwsrc)


def _icmp(itype: int, name: str, src: str | None, dst: str | None) -> Pred:
    def test(f: Frame) -> bool:
        i, ip = f.icmp, f.ipv4
        return (
            i is not None
            and ip is not None
            and i[0] == itype
            and (src is None or ip[0] == src)
            and (dst is None or ip[1] == dst)
        )

    return Pred(test, _desc(name, src=src, dst=dst))


def icmp_echo_request(src: str | None = None, dst: str | None = None) -> Pred:
    """An ICMP echo request (``ping``), from ``src`` / to ``dst`` when given."""
    return _icmp(8, "icmp_echo_request", src, dst)


def icmp_echo_reply(src: str | None = None, dst: str | None = None) -> Pred:
    """An ICMP echo reply, from ``src`` / to ``dst`` when given."""
    return _icmp(0, "icmp_echo_reply", src, dst)


def icmp_unreachable(src: str | None = None, dst: str | None = None) -> Pred:
    """An ICMP destination unreachable, from ``src`` / to ``dst`` when given."""
    return _icmp(3, "icmp_unreachable", src, dst)


def ipv4(src: str | None = None, dst: str | None = None, ttl: int | None = None) -> Pred:
    """An IPv4 packet (from ``src``, to ``dst``, with ``ttl`` when given)."""

    def test(f: Frame) -> bool:
        ip = f.ipv4
        return (
            ip is not None
            and (src is None or ip[0] == src)
            and (dst is None or ip[1] == dst)
            and (ttl is None or ip[3] == ttl)
        )

    return Pred(test, _desc("ipv4", src=src, dst=dst, ttl=ttl))


def vlan(vid: int | None = None) -> Pred:
    """An 802.1Q-tagged frame (with VLAN id ``vid`` when given). ``~vlan()`` is untagged."""
    return Pred(lambda f: f.vlan is not None and (vid is None or f.vlan == vid), _desc("vlan", vid=vid))


def src_mac(mac: str) -> Pred:
    """From the MAC ``mac``."""
    m = mac.lower()
    return Pred(lambda f: f.src == m, f"src_mac({m})")


def dst_mac(mac: str) -> Pred:
    """To the MAC ``mac``."""
    m = mac.lower()
    return Pred(lambda f: f.dst == m, f"dst_mac({m})")


def mac(addr: str) -> Pred:
    """From or to ``addr``."""
    m = addr.lower()
    return Pred(lambda f: f.src == m or f.dst == m, f"mac({m})")


def ethertype(value: int) -> Pred:
    """Of this EtherType (after any VLAN tags), e.g. ``ethertype(0x88b5)``."""
    return Pred(lambda f: f.ethertype == value, f"ethertype(0x{value:04x})")


def _ip(value: str | None) -> str | None:
    """The canonical text of an address (``None`` stays None); a bad address raises ValueError."""
    return None if value is None else str(ip_address(value))


def ipv6(src: str | None = None, dst: str | None = None, hlim: int | None = None) -> Pred:
    """An IPv6 packet (from ``src``, to ``dst``, with hop limit ``hlim`` when given)."""
    s, d = _ip(src), _ip(dst)

    def test(f: Frame) -> bool:
        ip = f.ipv6
        return (
            ip is not None
            and (s is None or ip[0] == s)
            and (d is None or ip[1] == d)
            and (hlim is None or ip[3] == hlim)
        )

    return Pred(test, _desc("ipv6", src=s, dst=d, hlim=hlim))


def _icmp6(types: frozenset[int], name: str, src: str | None, dst: str | None, **kw: object) -> Pred:
    s, d = _ip(src), _ip(dst)

    def test(f: Frame) -> bool:
        i = f.icmpv6
        if i is None or i[0] not in types:
            return False
        ip = f.ipv6
        assert ip is not None
        return (s is None or ip[0] == s) and (d is None or ip[1] == d)

    return Pred(test, _desc(name, src=s, dst=d, **kw))


def icmpv6(itype: int | None = None, src: str | None = None, dst: str | None = None) -> Pred:
    """An ICMPv6 message (of type ``itype`` when given: 128 echo request, 135 NS, ...)."""
    types = frozenset(range(256)) if itype is None else frozenset({itype})
    return _icmp6(types, "icmpv6", src, dst, type=itype)


def icmpv6_echo_request(src: str | None = None, dst: str | None = None) -> Pred:
    """ICMPv6 echo request (``ping`` to an IPv6 address)."""
    return _icmp6(frozenset({ICMP6_ECHO_REQUEST}), "icmpv6_echo_request", src, dst)


def icmpv6_echo_reply(src: str | None = None, dst: str | None = None) -> Pred:
    """An ICMPv6 echo reply, from ``src`` / to ``dst`` when given."""
    return _icmp6(frozenset({ICMP6_ECHO_REPLY}), "icmpv6_echo_reply", src, dst)


def _nd(itype: int, name: str, target: str | None, src: str | None, dst: str | None) -> Pred:
    t = _ip(target)
    base = _icmp6(frozenset({itype}), name, src, dst, target=t)
    if t is None:
        return base
    return Pred(lambda f: base.fn(f) and f.nd_target == t, base.desc)


def nd_solicitation(target: str | None = None, src: str | None = None, dst: str | None = None) -> Pred:
    """An IPv6 neighbour solicitation (``who has TARGET``); DAD probes come from ``::``."""
    return _nd(ND_NEIGHBOR_SOLICIT, "nd_solicitation", target, src, dst)


def nd_advertisement(target: str | None = None, src: str | None = None, dst: str | None = None) -> Pred:
    """An IPv6 neighbour advertisement (``tgt is TARGET``)."""
    return _nd(ND_NEIGHBOR_ADVERT, "nd_advertisement", target, src, dst)


def dad(target: str | None = None) -> Pred:
    """A duplicate address detection probe: a neighbour solicitation from ``::`` for ``target``."""
    t = _ip(target)
    p = nd_solicitation(target, src="::")
    return Pred(p.fn, _desc("dad", target=t))


def router_solicitation(src: str | None = None) -> Pred:
    """An ICMPv6 router solicitation (from ``src`` when given)."""
    return _icmp6(frozenset({ND_ROUTER_SOLICIT}), "router_solicitation", src, None)


def router_advertisement(src: str | None = None) -> Pred:
    """An ICMPv6 router advertisement (from ``src`` when given)."""
    return _icmp6(frozenset({ND_ROUTER_ADVERT}), "router_advertisement", src, None)


def _groups(types: frozenset[int], name: str, group: str | None, attr: str, src: str | None = None) -> Pred:
    g = _ip(group)
    s = _ip(src)

    def test(f: Frame) -> bool:
        m = getattr(f, attr)
        if m is None or m[0] not in types or (g is not None and g not in m[1]):
            return False
        if s is None:
            return True
        ip = f.ip
        return ip is not None and ip[0] == s

    return Pred(test, _desc(name, group=g, src=s))


def mld(group: str | None = None) -> Pred:
    """Any MLD message (query, v1 report or done, v2 report), naming ``group`` when given."""
    return _groups(frozenset({MLD_QUERY, MLD_REPORT, MLD_DONE, MLD2_REPORT}), "mld", group, "mld")


def mld_report(group: str | None = None, src: str | None = None) -> Pred:
    """An MLD v1 or v2 report (a listener joins; a v2 report's group records are searched)."""
    return _groups(frozenset({MLD_REPORT, MLD2_REPORT}), "mld_report", group, "mld", src)


def mld_query(group: str | None = None) -> Pred:
    """An MLD query (for ``group`` when given)."""
    return _groups(frozenset({MLD_QUERY}), "mld_query", group, "mld")


def mld_done(group: str | None = None) -> Pred:
    """An MLD v1 done: a listener leaves (``group`` when given)."""
    return _groups(frozenset({MLD_DONE}), "mld_done", group, "mld")


def igmp(group: str | None = None) -> Pred:
    """Any IGMP message, naming ``group`` when given."""
    return _groups(frozenset(range(256)), "igmp", group, "igmp")


def igmp_report(group: str | None = None, src: str | None = None) -> Pred:
    """An IGMP v1, v2 or v3 membership report (v3 group records are searched)."""
    return _groups(IGMP_REPORTS, "igmp_report", group, "igmp", src)


def igmp_query(group: str | None = None) -> Pred:
    """An IGMP membership query (for ``group`` when given)."""
    return _groups(frozenset({IGMP_QUERY}), "igmp_query", group, "igmp")


def igmp_leave(group: str | None = None) -> Pred:
    """An IGMP v2 leave (``group`` when given)."""
    return _groups(frozenset({IGMP_LEAVE}), "igmp_leave", group, "igmp")


def _transport(proto: int, name: str, sport: int | None, dport: int | None) -> Pred:
    def test(f: Frame) -> bool:
        v4 = f.ipv4
        if v4 is not None:
            p, l4 = v4[2], v4[4]
        else:
            v6 = f.ipv6
            if v6 is None:
                return False
            p, l4 = v6[2], v6[4]
        if p != proto or len(l4) < 4:
            return False
        sp, dp = int.from_bytes(l4[0:2], "big"), int.from_bytes(l4[2:4], "big")
        return (sport is None or sp == sport) and (dport is None or dp == dport)

    return Pred(test, _desc(name, sport=sport, dport=dport))


def udp(sport: int | None = None, dport: int | None = None) -> Pred:
    """A UDP datagram over IPv4 or IPv6 (from/to these ports when given)."""
    return _transport(17, "udp", sport, dport)


def tcp(sport: int | None = None, dport: int | None = None) -> Pred:
    """A TCP segment over IPv4 or IPv6 (from/to these ports when given)."""
    return _transport(6, "tcp", sport, dport)


def direction(which: str) -> Pred:
    """``incoming`` for ``"in"``, ``outgoing`` for ``"out"``."""
    if which not in ("in", "out"):
        raise ValueError("direction is 'in' or 'out'")
    return incoming if which == "in" else outgoing

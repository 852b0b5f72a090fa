"""Frame predicates that read like the article and compose with ``&``, ``|`` and ``~``.

``cap.count(arp_request(pdst="192.168.9.3") & vlan(11))``. Any callable that takes a scapy
packet works where a predicate is expected (it is wrapped by :func:`as_pred`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_macvlan.capture.frames import Frame

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
    return _icmp(8, "icmp_echo_request", src, dst)


def icmp_echo_reply(src: str | None = None, dst: str | None = None) -> Pred:
    return _icmp(0, "icmp_echo_reply", src, dst)


def icmp_unreachable(src: str | None = None, dst: str | None = None) -> Pred:
    return _icmp(3, "icmp_unreachable", src, dst)


def ipv4(src: str | None = None, dst: str | None = None, ttl: int | None = None) -> Pred:
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
    m = mac.lower()
    return Pred(lambda f: f.src == m, f"src_mac({m})")


def dst_mac(mac: str) -> Pred:
    m = mac.lower()
    return Pred(lambda f: f.dst == m, f"dst_mac({m})")


def mac(addr: str) -> Pred:
    """From or to ``addr``."""
    m = addr.lower()
    return Pred(lambda f: f.src == m or f.dst == m, f"mac({m})")


def ethertype(value: int) -> Pred:
    return Pred(lambda f: f.ethertype == value, f"ethertype(0x{value:04x})")


def direction(which: str) -> Pred:
    if which not in ("in", "out"):
        raise ValueError("direction is 'in' or 'out'")
    return incoming if which == "in" else outgoing

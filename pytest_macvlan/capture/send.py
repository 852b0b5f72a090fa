"""Turn what a test wants to send into bytes, filling sources from the sending link.

scapy fills an unset ``Ether().src`` or ``ARP().hwsrc`` from the machine's own interface and
resolves an unset destination MAC by ARPing on the machine's network. Neither may happen
here: sources come from the link that sends, a missing destination is an error (except for
ARP requests, which are broadcast). scapy is only imported when a scapy packet is given.

The caller's packet is never changed. Rather than copying it (scapy copies every layer, field
by field), the missing fields are set on it for the time it takes to expand it into the
frames it stands for (scapy's own expansion makes fresh packets), then removed again: each
frame costs one copy and one build, the least scapy allows.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from scapy.packet import Packet

T = TypeVar("T")
Sendable = bytes | bytearray | memoryview | Any  # a scapy Packet; Any keeps scapy out of imports


def mac_bytes(text: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` (or ``-`` separated) as six raw bytes; :class:`ValueError` otherwise."""
    parts = text.replace("-", ":").split(":") if isinstance(text, str) else []
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def ethernet(dst: str, src: str, ethertype: int, payload: bytes = b"") -> bytes:
    """An Ethernet frame as bytes, padded to the 60-byte minimum (without the FCS), for
    :meth:`Link.send <pytest_macvlan.topology.links.Link.send>`: no scapy needed for a raw frame.
    ``ethernet(dst="ff:ff:ff:ff:ff:ff", src=mac, ethertype=0x88B5, payload=b"hello")``."""
    if isinstance(ethertype, bool) or not isinstance(ethertype, int) or not 0 <= ethertype <= 0xFFFF:
        raise ValueError(f"ethertype must be 0-0xffff, not {ethertype!r}")
    frame = mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype) + bytes(payload)
    return frame.ljust(60, b"\0")


def frames_bytes(frames: Sendable | Iterable[Sendable], mac: str, ipv4: str | None, label: str) -> list[bytes]:
    """What :meth:`Link.send` sends: bytes as they are; a scapy packet as every frame it expands to
    (``IP(dst="10.0.0.0/30")`` is four); a list or tuple item by item; any other iterable's items."""
    if isinstance(frames, (bytes, bytearray, memoryview)):
        return [_raw(frames, label)]
    if isinstance(frames, (list, tuple)):
        return [frame_bytes(f, mac, ipv4, label) for f in frames]
    if _is_packet(frames):
        return _expanded(frames, mac, ipv4, label)
    return [frame_bytes(f, mac, ipv4, label) for f in frames]


def frame_bytes(frame: Sendable, mac: str, ipv4: str | None, label: str) -> bytes:
    """One frame: bytes as they are, a scapy packet built (its first expansion) with sources filled."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return _raw(frame, label)
    return _with_fills(frame, mac, ipv4, label, _build_first)


def _raw(frame: bytes | bytearray | memoryview, label: str) -> bytes:
    data = bytes(frame)
    if len(data) < 14:
        raise ValueError(f"{label}: a frame needs at least an Ethernet header (14 bytes), got {len(data)}")
    return data


def _is_packet(obj: object) -> bool:
    packet = sys.modules.get("scapy.packet")  # not imported: it cannot be a scapy packet
    return packet is not None and isinstance(obj, packet.Packet)


def _expanded(pkt: Any, mac: str, ipv4: str | None, label: str) -> list[bytes]:
    return _with_fills(pkt, mac, ipv4, label, _build_all)


def _build_all(pkt: Packet) -> list[bytes]:
    if _plain(pkt):
        return [_build_as_is(pkt)]
    # scapy's expansions are fresh packets marked explicit: building them copies nothing more.
    return [bytes(p) for p in pkt]


def _build_first(pkt: Packet) -> bytes:
    return _build_as_is(pkt) if _plain(pkt) else bytes(pkt)


_PLAIN = (str, bytes, int, float, type(None))


def _plain(pkt: Packet) -> bool:
    """Is ``pkt`` exactly one frame, with no field that stands for several values (a ``Net``, a
    list or a range of values, a packet) or for a random one? (Checked conservatively: any other
    kind of value counts as not plain, and the packet is expanded the way scapy does it.)"""
    from scapy.fields import FlagValue
    from scapy.packet import NoPayload

    plain = (*_PLAIN, FlagValue)  # FlagValue: TCP's flags="S", IP's flags=0
    layer: Packet = pkt
    while not isinstance(layer, NoPayload):
        for store in (layer.fields, layer.default_fields, layer.overloaded_fields):
            for name, value in store.items():
                if isinstance(value, plain):
                    continue
                if isinstance(value, list) and all(isinstance(v, plain) for v in value):
                    field = layer.get_field(name)
                    if field is not None and field.islist:
                        continue  # a list-valued field (e.g. IP options): one value
                return False
        layer = layer.payload
    return True


def _build_as_is(pkt: Packet) -> bytes:
    """``bytes(pkt)`` without scapy's defensive copy: a packet that is not marked explicit is
    first copied layer by layer (its expansion), which for a plain packet gives the same fields."""
    from scapy.packet import NoPayload

    layers: list[tuple[Packet, int]] = []
    layer: Packet = pkt
    while not isinstance(layer, NoPayload):
        layers.append((layer, layer.explicit))
        layer = layer.payload
    for layer, _explicit in layers:
        layer.explicit = 1
    try:
        return bytes(pkt)
    finally:
        for layer, explicit in layers:
            layer.explicit = explicit


def _with_fills(pkt: Any, mac: str, ipv4: str | None, label: str, use: Callable[[Packet], T]) -> T:
    """``use(pkt)`` with the fields the sending link supplies set on ``pkt``, then removed again."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Packet

    if not isinstance(pkt, Packet):
        raise TypeError(f"{label}: send() takes bytes or scapy packets, not {type(pkt).__name__}")
    ether = pkt.getlayer(Ether)
    if ether is None or pkt.firstlayer() is not ether:
        raise ValueError(f"{label}: a frame must start with an Ether() layer, got {pkt.summary()}")
    arp = pkt.getlayer(ARP)
    fills: list[tuple[Packet, str, str]] = []  # (layer, field, value)
    if "src" not in ether.fields:
        fills.append((ether, "src", mac))
    if arp is not None:
        if "hwsrc" not in arp.fields:
            fills.append((arp, "hwsrc", mac))
        if "psrc" not in arp.fields:
            fills.append((arp, "psrc", ipv4 or "0.0.0.0"))
    ip = pkt.getlayer(IP)
    if ip is not None and "src" not in ip.fields:
        if ipv4 is None:
            raise ValueError(f"{label}: IP src is not set and the link has no IPv4 address to take it from")
        fills.append((ip, "src", ipv4))
    if ip is not None and "dst" not in ip.fields:
        raise ValueError(f"{label}: IP dst is not set")
    if "dst" not in ether.fields:
        if arp is not None and arp.op == 1:
            fills.append((ether, "dst", "ff:ff:ff:ff:ff:ff"))
        else:
            raise ValueError(
                f"{label}: Ether dst is not set; set it (scapy would resolve it on the machine's own network)"
            )
    for layer, name, value in fills:
        layer.setfieldval(name, value)
    try:
        return use(pkt)
    finally:
        for layer, name, _value in fills:
            layer.delfieldval(name)


def all_frames(frames: Sendable | Iterable[Sendable]) -> list[Sendable]:
    """One frame (bytes or a scapy packet) or many, as a list."""
    if isinstance(frames, (bytes, bytearray, memoryview)):
        return [frames]
    if isinstance(frames, (list, tuple)):
        return list(frames)
    return list(frames)  # a scapy packet iterates over its expansions (e.g. a range of addresses)


_RAW = (bytes, bytearray, memoryview)


def all_raw(frames: object) -> bool:
    """Are ``frames`` raw bytes only (nothing to fill in from the sending link)?"""
    return isinstance(frames, _RAW) or (isinstance(frames, (list, tuple)) and all(isinstance(f, _RAW) for f in frames))

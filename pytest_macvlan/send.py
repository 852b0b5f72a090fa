"""Turn what a test wants to send into bytes, filling sources from the sending link.

scapy fills an unset ``Ether().src`` or ``ARP().hwsrc`` from the machine's own interface and
resolves an unset destination MAC by ARPing on the machine's network. Neither may happen
here: sources come from the link that sends, a missing destination is an error (except for
ARP requests, which are broadcast). scapy is only imported when a scapy packet is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scapy.packet import Packet

Sendable = bytes | bytearray | memoryview | Any  # a scapy Packet; Any keeps scapy out of imports


def frame_bytes(frame: Sendable, mac: str, ipv4: str | None, label: str) -> bytes:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if len(data) < 14:
            raise ValueError(f"{label}: a frame needs at least an Ethernet header (14 bytes), got {len(data)}")
        return data
    return _scapy_bytes(frame, mac, ipv4, label)


def _scapy_bytes(pkt: Packet, mac: str, ipv4: str | None, label: str) -> bytes:
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Packet

    if not isinstance(pkt, Packet):
        raise TypeError(f"{label}: send() takes bytes or scapy packets, not {type(pkt).__name__}")
    pkt = pkt.copy()
    ether = pkt.getlayer(Ether)
    if ether is None or pkt.firstlayer() is not ether:
        raise ValueError(f"{label}: a frame must start with an Ether() layer, got {pkt.summary()}")
    arp = pkt.getlayer(ARP)
    if "src" not in ether.fields:
        ether.src = mac
    if arp is not None:
        if "hwsrc" not in arp.fields:
            arp.hwsrc = mac
        if "psrc" not in arp.fields:
            arp.psrc = ipv4 or "0.0.0.0"
    ip = pkt.getlayer(IP)
    if ip is not None and "src" not in ip.fields:
        if ipv4 is None:
            raise ValueError(f"{label}: IP src is not set and the link has no IPv4 address to take it from")
        ip.src = ipv4
    if ip is not None and "dst" not in ip.fields:
        raise ValueError(f"{label}: IP dst is not set")
    if "dst" not in ether.fields:
        if arp is not None and arp.op == 1:
            ether.dst = "ff:ff:ff:ff:ff:ff"
        else:
            raise ValueError(
                f"{label}: Ether dst is not set; set it (scapy would resolve it on the machine's own network)"
            )
    return bytes(pkt)


def all_frames(frames: Sendable | Iterable[Sendable]) -> list[Sendable]:
    if isinstance(frames, (bytes, bytearray, memoryview)):
        return [frames]
    if isinstance(frames, (list, tuple)):
        return list(frames)
    return list(frames)  # a scapy packet iterates over its expansions (e.g. a range of addresses)

"""Captured frames: raw bytes plus what the kernel said about them, parsed without scapy.

Parsing the few fields that assertions and summaries need (Ethernet, 802.1Q, ARP, IPv4,
ICMP, UDP, TCP) from bytes keeps captures cheap; :attr:`Frame.packet` dissects with scapy
only when asked.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from scapy.packet import Packet

Direction = Literal["in", "out"]
PACKET_OUTGOING = 4
PKTTYPE_NAMES = {0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost", 4: "outgoing"}
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
_ETHERTYPES = {
    ETH_P_8021Q: "802.1Q",
    ETH_P_8021AD: "802.1Q-QinQ",
    ETH_P_ARP: "ARP",
    ETH_P_IP: "IPv4",
    ETH_P_IPV6: "IPv6",
}


def mac_str(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame seen by a :class:`~pytest_macvlan.capture.Capture`.

    ``data`` holds the frame as it was on the wire: a VLAN tag the kernel delivered out of
    band (``PACKET_AUXDATA``) is put back in, as tcpdump does; ``vlan_offloaded`` says so.
    """

    ts: float
    direction: Direction
    pkttype: int
    link: str
    data: bytes
    wire_len: int
    vlan_offloaded: bool = False

    # -- Ethernet / 802.1Q ------------------------------------------------------------------

    @cached_property
    def dst(self) -> str:
        return mac_str(self.data[0:6])

    @cached_property
    def src(self) -> str:
        return mac_str(self.data[6:12])

    @cached_property
    def _l2(self) -> tuple[int, int | None, int]:
        """(ethertype after any tags, outermost VLAN id or None, offset of the payload)."""
        if len(self.data) < 14:
            return 0, None, len(self.data)
        off = 12
        etype = struct.unpack_from("!H", self.data, off)[0]
        vid: int | None = None
        while etype in (ETH_P_8021Q, ETH_P_8021AD) and off + 6 <= len(self.data):
            tci = struct.unpack_from("!H", self.data, off + 2)[0]
            if vid is None:
                vid = tci & 0x0FFF
            off += 4
            etype = struct.unpack_from("!H", self.data, off)[0]
        return etype, vid, off + 2

    @property
    def ethertype(self) -> int:
        return self._l2[0]

    @property
    def vlan(self) -> int | None:
        """The (outermost) 802.1Q VLAN id, or None for an untagged frame."""
        return self._l2[1]

    @property
    def payload(self) -> bytes:
        return self.data[self._l2[2] :]

    # -- ARP ------------------------------------------------------------------------------

    @cached_property
    def arp(self) -> tuple[int, str, str, str, str] | None:
        """``(op, hwsrc, psrc, hwdst, pdst)`` of an Ethernet/IPv4 ARP frame, else None."""
        p = self.payload
        if self.ethertype != ETH_P_ARP or len(p) < 28:
            return None
        op = struct.unpack_from("!H", p, 6)[0]
        return (op, mac_str(p[8:14]), socket.inet_ntoa(p[14:18]), mac_str(p[18:24]), socket.inet_ntoa(p[24:28]))

    # -- IPv4 -----------------------------------------------------------------------------

    @cached_property
    def ipv4(self) -> tuple[str, str, int, int, bytes] | None:
        """``(src, dst, proto, ttl, l4 payload)`` of an IPv4 frame, else None."""
        p = self.payload
        if self.ethertype != ETH_P_IP or len(p) < 20:
            return None
        ihl = (p[0] & 0x0F) * 4
        return socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]), p[9], p[8], p[ihl:]

    @cached_property
    def icmp(self) -> tuple[int, int, int, int] | None:
        """``(type, code, id, seq)`` of an ICMP message in IPv4, else None."""
        ip = self.ipv4
        if ip is None or ip[2] != 1 or len(ip[4]) < 8:
            return None
        t, code, _sum, ident, seq = struct.unpack_from("!BBHHH", ip[4])
        return t, code, ident, seq

    # -- scapy, lazily ----------------------------------------------------------------------

    @cached_property
    def packet(self) -> Packet:
        """The frame dissected by scapy (imported on first use)."""
        from scapy.layers.l2 import Ether

        return Ether(self.data)

    def summary(self) -> str:
        """One line in the style of ``tcpdump -e -n``, with the direction."""
        return summarize(self)


def summarize(f: Frame) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(f.ts)) + f".{int(f.ts * 1e6) % 1_000_000:06d}"
    head = f"{stamp} {f.link} {f.direction:<3} {f.src} > {f.dst}"
    parts: list[str] = []
    data, off = f.data, 12
    if len(data) < 14:
        return f"{head}, truncated frame, length {len(data)}"
    etype = struct.unpack_from("!H", data, off)[0]
    while etype in (ETH_P_8021Q, ETH_P_8021AD) and off + 6 <= len(data):
        tci = struct.unpack_from("!H", data, off + 2)[0]
        parts.append(
            f"ethertype {_ETHERTYPES[etype]} (0x{etype:04x}), length {f.wire_len}: vlan {tci & 0xFFF}, p {tci >> 13}"
        )
        off += 4
        etype = struct.unpack_from("!H", data, off)[0]
    tail = f"ethertype {_ETHERTYPES.get(etype, 'Unknown')} (0x{etype:04x})"
    if not parts:
        tail += f", length {f.wire_len}"
    parts.append(f"{tail}: {_l3(f)}")
    return f"{head}, " + ", ".join(parts)


def _l3(f: Frame) -> str:
    arp = f.arp
    if arp is not None:
        op, hwsrc, psrc, _hwdst, pdst = arp
        if op == 1:
            return f"Request who-has {pdst} tell {psrc}, length {len(f.payload)}"
        if op == 2:
            return f"Reply {psrc} is-at {hwsrc}, length {len(f.payload)}"
        return f"ARP op {op}, length {len(f.payload)}"
    ip = f.ipv4
    if ip is not None:
        src, dst, proto, ttl, l4 = ip
        icmp = f.icmp
        if icmp is not None:
            kind = {0: "echo reply", 8: "echo request", 3: "destination unreachable", 11: "time exceeded"}.get(
                icmp[0], f"type {icmp[0]}"
            )
            extra = f", id {icmp[2]}, seq {icmp[3]}" if icmp[0] in (0, 8) else ""
            return f"{src} > {dst}: ICMP {kind}{extra}, length {len(l4)}, ttl {ttl}"
        if proto in (6, 17) and len(l4) >= 4:
            sport, dport = struct.unpack_from("!HH", l4)
            name = "UDP" if proto == 17 else "TCP"
            return f"{src}.{sport} > {dst}.{dport}: {name}, length {len(l4)}"
        return f"{src} > {dst}: ip-proto-{proto}, length {len(l4)}"
    return f"length {len(f.payload)}"

"""Captured frames: raw bytes plus what the kernel said about them, parsed without scapy.

Parsing the few fields that assertions and summaries need (Ethernet, 802.1Q/802.1ad, ARP,
IPv4, ICMP, IGMP, IPv6 with its extension headers, ICMPv6 with neighbour discovery and MLD,
UDP, TCP) from bytes keeps captures cheap; :attr:`Frame.packet` dissects with scapy only when
asked.
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


#: ICMPv6 types (RFC 4443, 4861, 2710, 3810) and their names as tcpdump prints them.
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129
MLD_QUERY = 130
MLD_REPORT = 131
MLD_DONE = 132
ND_ROUTER_SOLICIT = 133
ND_ROUTER_ADVERT = 134
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
MLD2_REPORT = 143
ICMP6_NAMES = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded in-transit",
    128: "echo request",
    129: "echo reply",
    130: "multicast listener query",
    131: "multicast listener report",
    132: "multicast listener done",
    133: "router solicitation",
    134: "router advertisement",
    135: "neighbor solicitation",
    136: "neighbor advertisement",
    137: "redirect",
    143: "multicast listener report v2",
}
MLD_TYPES = frozenset({MLD_QUERY, MLD_REPORT, MLD_DONE, MLD2_REPORT})
#: IGMP types (RFC 2236, 3376).
IGMP_QUERY = 0x11
IGMP_V1_REPORT = 0x12
IGMP_V2_REPORT = 0x16
IGMP_LEAVE = 0x17
IGMP_V3_REPORT = 0x22
IGMP_REPORTS = frozenset({IGMP_V1_REPORT, IGMP_V2_REPORT, IGMP_V3_REPORT})
_IPV6_EXT = {0: "HBH", 43: "RT", 60: "DSTOPT"}  # extension headers walked over (and 44, fragment)


def mac_str(raw: bytes) -> str:
    """Six raw bytes as ``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in raw)


def vlan_tags(data: bytes) -> tuple[list[tuple[int, int]], int, int]:
    """Walk an Ethernet frame's VLAN tags: ``([(tag ethertype, TCI), ...], inner ethertype,
    offset of the payload)``. The one place tags are walked (properties and summaries use it)."""
    if len(data) < 14:
        return [], 0, len(data)
    tags: list[tuple[int, int]] = []
    off = 12
    etype = struct.unpack_from("!H", data, off)[0]
    while etype in (ETH_P_8021Q, ETH_P_8021AD) and off + 6 <= len(data):
        tags.append((etype, struct.unpack_from("!H", data, off + 2)[0]))
        off += 4
        etype = struct.unpack_from("!H", data, off)[0]
    return tags, etype, off + 2


def _v6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


def _records(body: bytes, count: int, addr_len: int) -> tuple[str, ...]:
    """The group addresses of IGMPv3 / MLDv2 report records starting at ``body[0]``."""
    groups, off = [], 0
    for _ in range(count):
        if off + 4 + addr_len > len(body):
            break
        _rtype, aux, nsrc = struct.unpack_from("!BBH", body, off)
        raw = body[off + 4 : off + 4 + addr_len]
        groups.append(socket.inet_ntoa(raw) if addr_len == 4 else _v6(raw))
        off += 4 + addr_len + nsrc * addr_len + aux * 4
    return tuple(groups)


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
        """The destination MAC, lower case."""
        return mac_str(self.data[0:6])

    @cached_property
    def src(self) -> str:
        """The source MAC, lower case."""
        return mac_str(self.data[6:12])

    @cached_property
    def _l2(self) -> tuple[int, int | None, int]:
        """(ethertype after any tags, outermost VLAN id or None, offset of the payload)."""
        tags, etype, off = vlan_tags(self.data)
        return etype, (tags[0][1] & 0x0FFF) if tags else None, off

    @cached_property
    def vlan_tags(self) -> tuple[tuple[int, int], ...]:
        """Every VLAN tag, outermost first: ``(tag protocol 0x8100 or 0x88a8, VLAN id)``."""
        return tuple((etype, tci & 0x0FFF) for etype, tci in vlan_tags(self.data)[0])

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

    @cached_property
    def igmp(self) -> tuple[int, tuple[str, ...]] | None:
        """``(type, groups)`` of an IGMP message (the groups a report or leave names, the
        group a query asks about; ``()`` for a general query), else None."""
        ip = self.ipv4
        if ip is None or ip[2] != 2 or len(ip[4]) < 8:
            return None
        body = ip[4]
        itype = body[0]
        if itype == IGMP_V3_REPORT:
            (count,) = struct.unpack_from("!H", body, 6)
            return itype, _records(body[8:], count, 4)
        group = socket.inet_ntoa(body[4:8])
        return itype, () if group == "0.0.0.0" else (group,)

    # -- IPv6 -----------------------------------------------------------------------------

    @cached_property
    def ipv6(self) -> tuple[str, str, int, int, bytes] | None:
        """``(src, dst, next header, hop limit, upper-layer payload)`` of an IPv6 frame, else None.

        Hop-by-hop, routing, destination-options and fragment headers are walked over: the next
        header is the upper layer's (58 for ICMPv6, also behind MLD's hop-by-hop router alert).
        """
        p = self.payload
        if self.ethertype != ETH_P_IPV6 or len(p) < 40:
            return None
        nh, hlim = p[6], p[7]
        (plen,) = struct.unpack_from("!H", p, 4)
        off, end = 40, min(len(p), 40 + plen) if plen else len(p)
        while nh in _IPV6_EXT or nh == 44:
            if off + 8 > end:
                break
            nxt = p[off]
            off += 8 if nh == 44 else (p[off + 1] + 1) * 8
            nh = nxt
        return _v6(p[8:24]), _v6(p[24:40]), nh, hlim, p[off:end]

    @cached_property
    def icmpv6(self) -> tuple[int, int, bytes] | None:
        """``(type, code, message body after the checksum)`` of an ICMPv6 message, else None."""
        ip = self.ipv6
        if ip is None or ip[2] != 58 or len(ip[4]) < 4:
            return None
        return ip[4][0], ip[4][1], ip[4][4:]

    @cached_property
    def nd_target(self) -> str | None:
        """The target address of a neighbour solicitation or advertisement, else None."""
        i = self.icmpv6
        if i is None or i[0] not in (ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT) or len(i[2]) < 20:
            return None
        return _v6(i[2][4:20])

    @cached_property
    def mld(self) -> tuple[int, tuple[str, ...]] | None:
        """``(type, groups)`` of an MLD message (v1 query/report/done, v2 report), else None."""
        i = self.icmpv6
        if i is None or i[0] not in MLD_TYPES:
            return None
        body = i[2]
        if i[0] == MLD2_REPORT:
            if len(body) < 4:
                return i[0], ()
            (count,) = struct.unpack_from("!H", body, 2)
            return i[0], _records(body[4:], count, 16)
        if len(body) < 20:
            return i[0], ()
        group = _v6(body[4:20])
        return i[0], () if group == "::" else (group,)

    @property
    def ip(self) -> tuple[str, str] | None:
        """``(src, dst)`` of an IPv4 or IPv6 packet, else None."""
        v4 = self.ipv4
        if v4 is not None:
            return v4[0], v4[1]
        v6 = self.ipv6
        return (v6[0], v6[1]) if v6 is not None else None

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
    """One line for ``f``, as tcpdump -e would print it: time, link, direction, MACs, then what it carries."""
    stamp = time.strftime("%H:%M:%S", time.localtime(f.ts)) + f".{int(f.ts * 1e6) % 1_000_000:06d}"
    head = f"{stamp} {f.link} {f.direction:<3} {f.src} > {f.dst}"
    if len(f.data) < 14:
        return f"{head}, truncated frame, length {len(f.data)}"
    tags, etype, _off = vlan_tags(f.data)
    parts = [
        f"ethertype {_ETHERTYPES[tag]} (0x{tag:04x}), length {f.wire_len}: vlan {tci & 0xFFF}, p {tci >> 13}"
        for tag, tci in tags
    ]
    tail = f"ethertype {_ETHERTYPES.get(etype, 'Unknown')} (0x{etype:04x})"
    if not parts:
        tail += f", length {f.wire_len}"
    parts.append(f"{tail}: {_l3(f)}")
    return f"{head}, " + ", ".join(parts)


def _groups(groups: tuple[str, ...]) -> str:
    return ", ".join(groups)


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
        igmp = f.igmp
        if igmp is not None:
            return f"{src} > {dst}: {_igmp(igmp[0], igmp[1], l4)}"
        return _l4(src, dst, proto, l4)
    ip6 = f.ipv6
    if ip6 is not None:
        src, dst, nh, hlim, l4 = ip6
        icmp6 = f.icmpv6
        if icmp6 is not None:
            hbh = "HBH " if f.payload[6] == 0 else ""
            return f"{src} > {dst}: {hbh}ICMP6, {_icmp6(f, icmp6)}, length {len(l4)}, hlim {hlim}"
        return _l4(src, dst, nh, l4)
    return f"length {len(f.payload)}"


def _l4(src: str, dst: str, proto: int, l4: bytes) -> str:
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack_from("!HH", l4)
        name = "UDP" if proto == 17 else "TCP"
        length = len(l4) - 8 if proto == 17 else len(l4)
        return f"{src}.{sport} > {dst}.{dport}: {name}, length {length}"
    return f"{src} > {dst}: ip-proto-{proto}, length {len(l4)}"


def _igmp(itype: int, groups: tuple[str, ...], body: bytes) -> str:
    if itype == IGMP_QUERY:
        version = "v3" if len(body) >= 12 else "v2" if body[1] else "v1"
        return f"igmp query {version}" + (f" [gaddr {groups[0]}]" if groups else "")
    if itype == IGMP_V3_REPORT:
        return f"igmp v3 report, {len(groups)} group record(s) [{_groups(groups)}]"
    name = {IGMP_V1_REPORT: "v1 report", IGMP_V2_REPORT: "v2 report", IGMP_LEAVE: "leave"}.get(
        itype, f"type 0x{itype:02x}"
    )
    return f"igmp {name} {_groups(groups)}".rstrip()


def _icmp6(f: Frame, icmp6: tuple[int, int, bytes]) -> str:
    itype, code, body = icmp6
    name = ICMP6_NAMES.get(itype, f"type {itype}")
    if itype in (ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY) and len(body) >= 4:
        ident, seq = struct.unpack_from("!HH", body)
        return f"{name}, id {ident}, seq {seq}"
    if itype == ND_NEIGHBOR_SOLICIT:
        return f"{name}, who has {f.nd_target}"
    if itype == ND_NEIGHBOR_ADVERT:
        return f"{name}, tgt is {f.nd_target}"
    mld = f.mld
    if mld is not None:
        if itype == MLD2_REPORT:
            return f"{name}, {len(mld[1])} group record(s) [{_groups(mld[1])}]"
        if itype == MLD_QUERY:
            return f"{name}" + (f" [gaddr {mld[1][0]}]" if mld[1] else "")
        return f"{name} {_groups(mld[1])}".rstrip()
    if code:
        return f"{name}, code {code}"
    return name

"""Link.send's scapy path builds exactly what the straightforward way (copy, fill, build) builds,
and leaves the caller's packet as it was."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_macvlan.capture.send import frames_bytes

scapy_all = pytest.importorskip("scapy.all")
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6  # noqa: E402
from scapy.layers.l2 import ARP, Dot1Q, Ether  # noqa: E402
from scapy.packet import Packet, Raw  # noqa: E402

MAC, IPV4 = "02:00:00:00:09:02", "192.168.9.2"


def reference(frames: Any, mac: str = MAC, ipv4: str | None = IPV4) -> list[bytes]:
    """The implementation this module replaced: expand, copy each frame, fill it, build it."""
    items = list(frames)  # a list as it is, a packet as its expansions
    out = []
    for pkt in items:
        pkt = pkt.copy()
        ether = pkt.getlayer(Ether)
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
            ip.src = ipv4
        if "dst" not in ether.fields:
            ether.dst = "ff:ff:ff:ff:ff:ff"
        out.append(bytes(pkt))
    return out


def state(pkt: Packet) -> list[tuple[dict[str, Any], int]]:
    out = []
    layer = pkt
    while layer:
        out.append((dict(layer.fields), layer.explicit))
        layer = layer.payload
    return out


PACKETS = [
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.3") / ICMP(),
    lambda: Ether(dst="02:00:00:00:09:03", src="02:00:00:00:00:01") / IP(dst="10.0.0.1", src="10.0.0.2") / ICMP(),
    lambda: Ether() / ARP(pdst="192.168.9.3"),
    lambda: Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, pdst="192.168.9.3", hwdst="02:00:00:00:09:03"),
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.3", ttl=3) / UDP(sport=1, dport=2) / Raw(b"x" * 40),
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.3") / TCP(dport=80, flags="S", options=[("MSS", 1460)]),
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.3", options=[IPOption_RR()]) / ICMP(),
    lambda: Ether(dst="02:00:00:00:09:03") / Dot1Q(vlan=11) / IP(dst="192.168.9.3") / ICMP(),
    lambda: Ether(dst="33:33:00:00:00:01") / IPv6(dst="ff02::1", src="fe80::1") / ICMPv6EchoRequest(),
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.0/30") / ICMP(),
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst=["10.0.0.1", "10.0.0.2"]) / UDP(dport=(7, 9)),
    lambda: Ether(bytes(Ether(dst="02:00:00:00:09:03", src="02:00:00:00:00:01") / IP(dst="1.2.3.4") / ICMP())),
    lambda: Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.3") / ICMP() / Raw(b"\x00" * 3) / Raw(b"abc"),
]


@pytest.mark.parametrize("make", PACKETS)
def test_same_bytes_as_copy_fill_build(make: Any) -> None:
    pkt = make()
    before = state(pkt)
    assert frames_bytes(pkt, MAC, IPV4, "t") == reference(make())
    assert state(pkt) == before  # the caller's packet is unchanged
    assert frames_bytes([make(), make()], MAC, IPV4, "t") == [reference(make())[0]] * 2


def test_random_fields_are_drawn_for_each_frame() -> None:
    from scapy.volatile import RandShort

    pkt = Ether(dst="02:00:00:00:09:03") / IP(dst="192.168.9.3", id=RandShort()) / ICMP()
    ids = {IP(frame[14:]).id for frame in (frames_bytes(pkt, MAC, IPV4, "t")[0] for _ in range(20))}
    assert len(ids) > 1

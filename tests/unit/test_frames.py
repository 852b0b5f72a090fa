"""Frame parsing, predicates, summaries and pcapng: bytes in, no privileges, no scapy needed."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from pytest_macvlan.capture.frames import Frame
from pytest_macvlan.capture.pcap import pcapng_bytes, write_pcapng
from pytest_macvlan.capture.predicates import (
    arp_reply,
    arp_request,
    as_pred,
    broadcast,
    dst_mac,
    icmp_echo_reply,
    icmp_echo_request,
    incoming,
    outgoing,
    src_mac,
    vlan,
)

A = bytes.fromhex("020000000001")
B = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6


def arp_frame(op: int, psrc: str, pdst: str, tag: int | None = None) -> bytes:
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + A + socket.inet_aton(psrc) + b"\0" * 6 + socket.inet_aton(pdst)
    l2 = (BCAST if op == 1 else B) + A
    if tag is not None:
        l2 += struct.pack("!HH", 0x8100, tag)
    return l2 + b"\x08\x06" + body


def icmp_frame(itype: int, src: str, dst: str, ttl: int = 64) -> bytes:
    icmp = struct.pack("!BBHHH", itype, 0, 0, 7, 1) + b"x" * 56
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, ttl, 1, 0, socket.inet_aton(src), socket.inet_aton(dst)
    )
    return B + A + b"\x08\x00" + ip + icmp


def frame(data: bytes, direction: Literal["in", "out"] = "in") -> Frame:
    return Frame(
        ts=1_700_000_000.5,
        direction=direction,
        pkttype=4 if direction == "out" else 1,
        link="ns1/macvl1",
        data=data,
        wire_len=len(data),
    )


def test_arp_fields_and_predicates() -> None:
    f = frame(arp_frame(1, "192.168.9.2", "192.168.9.3"))
    assert f.arp == (1, "02:00:00:00:00:01", "192.168.9.2", "00:00:00:00:00:00", "192.168.9.3")
    assert arp_request(pdst="192.168.9.3")(f)
    assert arp_request(psrc="192.168.9.2", pdst="192.168.9.3", hwsrc="02:00:00:00:00:01")(f)
    assert not arp_request(pdst="192.168.9.4")(f)
    assert not arp_reply()(f)
    assert broadcast(f) and src_mac("02:00:00:00:00:01")(f) and not dst_mac("02:00:00:00:00:01")(f)
    assert (arp_request() & incoming)(f) and not (arp_request() & outgoing)(f)
    assert (arp_reply() | arp_request())(f) and (~vlan())(f)


def test_vlan_tag_parsing() -> None:
    f = frame(arp_frame(1, "192.168.9.2", "192.168.9.3", tag=11))
    assert f.vlan == 11 and vlan(11)(f) and not vlan(12)(f) and vlan()(f)
    assert arp_request(pdst="192.168.9.3")(f), "ARP is parsed behind the tag"
    assert "vlan 11, p 0, ethertype ARP (0x0806)" in f.summary()


def test_icmp_predicates_and_summary() -> None:
    f = frame(icmp_frame(8, "192.168.9.2", "10.138.36.66", ttl=63), "out")
    assert icmp_echo_request(src="192.168.9.2", dst="10.138.36.66")(f)
    assert not icmp_echo_reply()(f)
    line = f.summary()
    assert "ns1/macvl1 out 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800)" in line
    assert "192.168.9.2 > 10.138.36.66: ICMP echo request, id 7, seq 1, length 64, ttl 63" in line


def test_arp_summary_reads_like_tcpdump() -> None:
    line = frame(arp_frame(1, "192.168.9.2", "192.168.9.3")).summary()
    assert line.endswith(
        "ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.168.9.3 tell 192.168.9.2, length 28"
    )


def test_composition_descriptions() -> None:
    p = arp_request(pdst="1.2.3.4") & ~vlan(11) | incoming
    assert repr(p) == "((arp_request(pdst='1.2.3.4') and not vlan(vid=11)) or incoming)"


def test_scapy_callable_is_a_predicate() -> None:
    from scapy.layers.l2 import ARP

    f = frame(arp_frame(2, "192.168.9.3", "192.168.9.2"))
    assert as_pred(lambda p: p.haslayer(ARP) and p[ARP].op == 2)(f)


def test_pcapng_keeps_direction_and_reads_back(tmp_path: Path) -> None:
    frames = [frame(arp_frame(1, "192.168.9.2", "192.168.9.3"), "out"), frame(icmp_frame(0, "1.1.1.1", "2.2.2.2"))]
    path = write_pcapng(tmp_path / "x.pcapng", frames, "ns1/macvl1")
    assert path.read_bytes() == pcapng_bytes(frames, "ns1/macvl1")
    from scapy.utils import PcapNgReader

    with PcapNgReader(str(path)) as reader:
        read = list(reader)
    assert [bytes(p) for p in read] == [f.data for f in frames]
    assert [p.direction for p in read] == [2, 1]  # epb_flags: outbound, inbound


@pytest.mark.skipif(
    not Path("/usr/bin/tcpdump").exists() and not Path("/usr/sbin/tcpdump").exists(), reason="tcpdump is not installed"
)
def test_tcpdump_reads_our_pcapng(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "x.pcapng", [frame(arp_frame(1, "192.168.9.2", "192.168.9.3"))], "l")
    out = subprocess.run(["tcpdump", "-r", str(path), "-n", "-e"], capture_output=True, text=True, check=True)
    assert "Request who-has 192.168.9.3 tell 192.168.9.2" in out.stdout


def test_importing_the_package_imports_neither_scapy_nor_pyroute2() -> None:
    code = (
        "import sys, pytest_macvlan, pytest_macvlan.plugin.core; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scapy', 'pyroute2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Captures, frames and predicates (docs/api.md)."""

from scapy.layers.l2 import ARP, Ether

from pytest_macvlan import arp_reply, arp_request, broadcast, incoming, outgoing, src_mac

SPEC = """
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]                      # a namespace is declared by its table, even an empty one
"""


def test_sniff_send_and_wait(netlab, tmp_path):
    topo = netlab.build(SPEC)
    a_v0, b_v0 = topo.link("a/v0"), topo.link("b/v0")
    here, there = topo.sniff("a/v0", "b/v0")  # bound before they are returned

    a_v0.send(Ether() / ARP(pdst="192.168.9.3"))  # sources filled from a/v0, broadcast
    request = arp_request(psrc="192.168.9.2", pdst="192.168.9.3")
    [frame] = there.wait_for(request & incoming & broadcast)
    assert frame.src == a_v0.mac and frame.arp[2] == "192.168.9.2"
    there.wait_for(arp_reply(psrc="192.168.9.3") & outgoing)  # b's kernel answered
    here.assert_count(arp_reply() & src_mac(b_v0.mac), 1)  # exactly one, none after
    here.assert_none(arp_request() & incoming)  # and nothing came the other way

    assert here.count_by_direction() == {"in": 1, "out": 1}
    packets, drops = there.stats()  # counted by the kernel
    assert packets >= 2 and drops == 0
    print(there.summary())  # one tcpdump -e -n style line per frame
    assert there.write_pcap(tmp_path / "b_v0.pcapng").stat().st_size > 0


def test_raw_bytes_and_any_callable(netlab):
    topo = netlab.build(SPEC)
    with topo.link("b/v0").sniff() as cap:  # a capture is also a context manager
        frame = bytes.fromhex("ff" * 6 + "020000000001" + "88b5") + b"hello"  # dst, src, ethertype 0x88b5
        assert topo.link("a/v0").send([frame, frame]) == 2
        cap.wait_for(lambda pkt: pkt.type == 0x88B5, count=2)  # a callable gets the scapy packet
    assert cap.closed and len(cap.frames) == 2  # frames stay readable after close

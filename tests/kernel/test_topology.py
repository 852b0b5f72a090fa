"""The foundation on the real kernel: build, handles, send and sniff, teardown, failure rollback."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pytest_macvlan import (
    BuildError,
    ClosedError,
    KernelFeatureError,
    NetLab,
    SpecError,
    WaitTimeout,
    arp_request,
    icmp_echo_request,
    incoming,
    outgoing,
    vlan,
)
from pytest_macvlan.kernel import features
from pytest_macvlan.kernel.nsworker import runner_ns_inode
from tests.support.specs import PAIR, net_fds


def test_build_yields_ready_handles() -> None:
    with NetLab() as lab:
        topo = lab.build(PAIR)
        a, b = topo["a"], topo["b"]
        assert a.inode != b.inode != runner_ns_inode()
        va, vb = topo.link("a/v0"), topo.link("b/v0")
        assert va.kind == "veth" and va.ifindex == 2 and va.mac != vb.mac
        assert va.carrier and vb.carrier, "built links are up with carrier"
        assert a.ping("192.168.9.3").ok
        assert "v0" in a.run("ip", "-br", "link").stdout


def test_send_and_sniff_with_scapy_fills_sources_from_the_link() -> None:
    from scapy.layers.l2 import ARP, Ether

    with NetLab() as lab:
        topo = lab.build(PAIR)
        va, vb = topo.link("a/v0"), topo.link("b/v0")
        cap = vb.sniff()
        out = va.sniff()
        va.send(Ether() / ARP(pdst="192.168.9.3"))  # no src, no hwsrc, no dst: all from the link
        [f] = cap.wait_for(arp_request(psrc="192.168.9.2", pdst="192.168.9.3") & incoming)
        assert f.src == va.mac and f.arp is not None and f.arp[1] == va.mac
        assert f.dst == "ff:ff:ff:ff:ff:ff"
        out.wait_for(arp_request() & outgoing)
        assert f.ts > 0 and f.packet[ARP].pdst == "192.168.9.3"


def test_raw_bytes_and_vlan_tags_survive_the_capture() -> None:
    with NetLab() as lab:
        topo = lab.build(PAIR)
        va, vb = topo.link("a/v0"), topo.link("b/v0")
        cap = vb.sniff()
        tagged = (
            bytes.fromhex("ffffffffffff")
            + bytes.fromhex(va.mac.replace(":", ""))
            + bytes.fromhex("8100000b0806")
            + bytes(28)
        )
        assert va.send([tagged] * 3) == 3
        frames = cap.wait_for(vlan(11), count=3)
        assert all(f.data == tagged for f in frames), cap.summary()
        assert all(f.vlan_offloaded for f in frames), "veth delivers the tag out of band (PACKET_AUXDATA)"


def test_capture_is_ready_when_returned() -> None:
    """A frame sent right after sniff() returns is never missed (no sleep anywhere)."""
    with NetLab() as lab:
        topo = lab.build(PAIR)
        va, vb = topo.link("a/v0"), topo.link("b/v0")
        frame = bytes.fromhex("ffffffffffff" + va.mac.replace(":", "") + "88b5") + b"x" * 46
        for _ in range(50):
            cap = vb.sniff()
            va.send(frame)
            assert cap.count() == 1 or len(cap.wait_for(timeout=1.0)) == 1
            cap.close()


def test_wait_for_times_out_with_what_it_saw() -> None:
    with NetLab() as lab:
        topo = lab.build(PAIR)
        cap = topo.link("b/v0").sniff()
        topo["a"].ping("192.168.9.3")
        with pytest.raises(WaitTimeout, match=r"(?s)saw 0.*icmp_echo_request|ICMP echo request") as info:
            cap.wait_for(icmp_echo_request(dst="10.0.0.1"), timeout=0.2)
        assert "ICMP echo request" in str(info.value), "the failure shows the frames that were seen"
        with pytest.raises(ValueError, match="deadline"):
            cap.wait_for(timeout=0)


def test_assert_none_shows_the_offending_frames() -> None:
    with NetLab() as lab:
        topo = lab.build(PAIR)
        cap = topo.link("b/v0").sniff()
        topo["a"].ping("192.168.9.3")
        with pytest.raises(AssertionError, match=r"Request who-has 192\.168\.9\.3"):
            cap.assert_none(arp_request())


def test_handles_refuse_use_after_teardown() -> None:
    lab = NetLab()
    topo = lab.build(PAIR)
    link = topo.link("a/v0")
    cap = link.sniff()
    lab.close()
    assert topo.closed and cap.closed
    for call in (
        lambda: topo["a"],
        lambda: link.sniff(),
        lambda: link.send(b"x" * 60),
        lambda: topo["a"] if False else link.netns.run("true"),
        lambda: cap.wait_for(),
    ):
        with pytest.raises(ClosedError):
            call()


def test_teardown_releases_every_namespace() -> None:
    before = net_fds()
    with NetLab() as lab:
        topo = lab.build(Path(__file__).parents[2] / "scenarios" / "private.toml")
        inodes = {ns.inode for ns in topo}
        assert inodes <= net_fds()
    assert net_fds() == before


def test_failed_build_undoes_everything_and_names_the_entry() -> None:
    before = net_fds()
    spec = {
        "netns": {
            "a": {"link": {"v0": {"type": "veth", "peer": "v1"}, "m0": {"type": "macvlan", "link": "v0", "mtu": 9000}}}
        }
    }
    with NetLab() as lab, pytest.raises(BuildError) as info:
        lab.build(spec)
    assert info.value.entry == "netns.a.link.m0"
    assert "Invalid argument" in str(info.value) or "mtu" in str(info.value).lower()
    assert net_fds() == before


def test_missing_kernel_feature_names_it() -> None:
    """The build agrees with the feature probe: a VLAN is made where the kernel has 8021q, and
    refused with a KernelFeatureError naming the feature and the entry where it has not."""
    spec = {
        "netns": {
            "a": {"link": {"v0": {"type": "veth", "peer": "v1"}, "v0.11": {"type": "vlan", "link": "v0", "id": 11}}}
        }
    }
    before = net_fds()
    if "8021q" in features.get().have:
        with NetLab() as lab:
            assert lab.build(spec).link("a/v0.11").kind == "vlan"
    else:
        with NetLab() as lab, pytest.raises(KernelFeatureError) as info:
            lab.build(spec)
        assert info.value.feature == "8021q" and info.value.entry == "netns.a.link.v0.11"
        assert "802.1Q" in str(info.value)
    assert net_fds() == before


def test_bad_spec_creates_nothing() -> None:
    before = net_fds()
    with NetLab() as lab, pytest.raises(SpecError):
        lab.build({"netns": {"a": {"link": {"m": {"type": "macvlan", "link": "nope"}}}}})
    assert net_fds() == before


def test_builds_from_many_threads_are_independent() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with NetLab() as lab:
                for _ in range(5):
                    topo = lab.build(PAIR)
                    assert topo["a"].ping("192.168.9.3").ok
                    topo.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_link_state_follows_commands() -> None:
    with NetLab() as lab:
        topo = lab.build(PAIR)
        va, vb = topo.link("a/v0"), topo.link("b/v0")
        va.set_down()
        vb.wait_carrier(on=False)
        va.set_up()
        vb.wait_carrier(on=True)
        with pytest.raises(OSError, match="a/v0: send failed"):
            va.set_down()
            va.send(b"\xff" * 60)


def test_capture_survives_its_link_going_down_and_away() -> None:
    with NetLab() as lab:
        topo = lab.build(PAIR)
        va, vb = topo.link("a/v0"), topo.link("b/v0")
        cap = vb.sniff()
        topo["a"].ping("192.168.9.3")
        seen = cap.count()
        assert seen >= 2, cap.summary()
        vb.set_down()
        assert cap.count() == seen and cap.link_down_seen, "the frames seen stay readable"
        vb.set_up()
        vb.wait_carrier()
        va.send(bytes.fromhex("ffffffffffff" + va.mac.replace(":", "") + "88b5") + bytes(46))
        cap.wait_for(lambda p: p.type == 0x88B5)
        topo["b"].run("ip", "link", "del", "v0")
        assert cap.count() >= seen + 1 and "b/v0" in cap.summary()

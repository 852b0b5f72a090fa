"""Live handles and run-time changes (docs/api.md)."""

import pytest

from pytest_macvlan import ChangeError

SPEC = """
[netns.a.link.e1]
type = "veth"
peer = { name = "e1", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
"""


def test_a_handle_sees_what_a_program_does(netlab):
    topo = netlab.build(SPEC)
    a = topo["a"]
    a.run("ip", "link", "add", "x0", "link", "e1", "type", "macvlan", "mode", "bridge")  # a program does this
    x0 = a.wait_link("x0")  # or topo.link("a/x0"): any link of a topology namespace
    assert x0.mode == "bridge" and not x0.declared
    a.run("ip", "link", "set", "x0", "type", "macvlan", "mode", "private")
    assert x0.mode == "private"  # every property asks the kernel


def test_changes_at_run_time(netlab):
    topo = netlab.build(SPEC)
    e1 = topo.link("a/e1")
    e1.add_address("192.168.9.2/24")
    e1.set(mtu=1400, address="02:00:00:00:09:02")
    assert (e1.mtu, e1.mac, e1.ipv4) == (1400, "02:00:00:00:09:02", "192.168.9.2")
    topo["a"].add_route("10.138.36.0/23", via="192.168.9.3")
    [route] = [r for r in topo["a"].routes(version=4) if str(r.dst) == "10.138.36.0/23"]
    assert str(route.gateway) == "192.168.9.3"
    with pytest.raises(ChangeError, match="mtu"):  # the kernel refuses: errno and its own words
        e1.set(mtu=70000)

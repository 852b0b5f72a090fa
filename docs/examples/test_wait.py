"""Bounded waits: wait_until (docs/api.md)."""

import pytest

from pytest_macvlan import WaitTimeout, wait_until

SPEC = """
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
"""


def test_wait_until_a_condition(netlab):
    topo = netlab.build(SPEC)
    a = topo["a"]
    a.popen("ping", "-n", "-c", "1", "192.168.9.3")  # in the background
    mac = wait_until(
        lambda: a.neighbours().get("192.168.9.3"),  # probe: called again and again ...
        lambda found: found is not None,  # ... until this holds
        timeout=2.0,  # every wait has a deadline
        what="a learns b's MAC",
    )
    assert mac == topo.link("b/v0").mac


def test_a_wait_fails_with_what_it_saw(netlab):
    topo = netlab.build(SPEC)
    with pytest.raises(WaitTimeout, match=r"b/v0: carrier off: not reached within 0.3s; last seen: flags=0x"):
        topo.link("b/v0").wait_carrier(False, timeout=0.3)

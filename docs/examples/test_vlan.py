"""A test that needs a kernel feature (docs/plugin.md, docs/kernels.md)."""

import pytest

from pytest_macvlan import icmp_echo_request, incoming, vlan


@pytest.mark.requires_kernel("8021q")  # skipped, naming what is missing, where the kernel lacks it
def test_frames_carry_the_tag(netlab):
    topo = netlab.build("vlan.toml")  # a spec with a vlan link is checked for 8021q as well
    wire = topo.link("lan/veth1_sw").sniff()
    assert topo["ns1"].ping("192.168.9.1").ok
    wire.wait_for(icmp_echo_request(dst="192.168.9.1") & vlan(11) & incoming)

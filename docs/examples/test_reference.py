"""What each key of reference.toml did, as the kernel reports it (docs/spec.md)."""

import pytest

pytestmark = [pytest.mark.topology("reference.toml"), pytest.mark.requires_kernel("iptables", "nftables")]


def test_namespace_keys(topology):
    host = topology["host"]
    assert host.sysctl("net.ipv4.ip_forward") == "1"
    assert host.sysctl("net.ipv6.conf.all.disable_ipv6") == "1"  # ipv6 = false
    assert topology["S20"].sysctl("net.ipv6.conf.all.disable_ipv6") == "0"  # ipv6 = true
    assert "-P FORWARD DROP" in host.iptables("-S").stdout
    assert "table inet t" in host.run("nft", "list", "tables").stdout
    assert "10.138.36.0/23 dev br0 scope link metric 10" in host.run("ip", "route").stdout
    neighbours = host.neighbours()  # Neighbour records; indexed by an address, the MAC
    assert neighbours["192.168.9.2"] == "02:00:00:00:09:02" and neighbours["192.168.9.20"] == "02:00:00:00:09:14"
    assert all(n.state_names == ("PERMANENT",) for n in neighbours)


def test_link_keys(topology):
    macvl1 = topology.link("ns1/macvl1")
    assert (macvl1.kind, macvl1.mode, macvl1.mac) == ("macvlan", "private", "02:00:00:00:09:02")
    assert topology.link("ns2/macvl2").mode == "source"
    assert "02:00:00:00:09:99" in topology["ns2"].run("ip", "-d", "link", "show", "macvl2").stdout
    bridge = topology["host"].run("ip", "-d", "link", "show", "br0").stdout
    assert "ageing_time 30000" in bridge and "stp_state 0" in bridge
    ports = topology["host"].run("bridge", "-d", "link").stdout
    assert "veth1_br" in ports and "hairpin on" in ports
    s20 = topology.link("host/s20")
    assert s20.is_up and s20.carrier and "PROMISC" in topology["host"].run("ip", "link", "show", "s20").stdout
    assert topology["ns1"].ping("192.168.9.1").ok  # macvl1 -> veth1 -> veth1_br -> br0

"""A CNI plugin under test: it makes a macvlan in a namespace given by path; the test waits for
the link the program made, then sniffs and sends on it.

Origin: the CNI project's macvlan plugin tests, containernetworking/plugins
``plugins/main/macvlan/macvlan_test.go``, "configures and deconfigures a macvlan link with ADD/DEL"
(asserts kept: ADD returns one interface, in the container's namespace, with the MAC the link
has there, and one IP; the link in the container is a macvlan of the requested mode with that
address, up; DEL removes it). The program under test is ``cni/macvlan-plugin`` (a small
CNI-style plugin in Python, calling ``ip`` as a plugin calls netlink); it is started the way a
container runtime starts a plugin: environment ``CNI_COMMAND``, ``CNI_NETNS`` (here
``Netns.path``), ``CNI_IFNAME``, ``CNI_CONTAINERID``; configuration on standard input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from scapy.layers.l2 import ARP, Ether

from pytest_macvlan import Topology, arp_reply, arp_request, icmp_echo_request, incoming, outgoing

from .conftest import netns_path

PLUGIN = Path(__file__).parent / "cni" / "macvlan-plugin"

# "host" is where the runtime (and so the plugin) runs: its lan0 is the macvlan's master, a veth
# to "lan", a neighbour on the same segment. "ctr" is the container's namespace, empty.
SPEC = """
[netns.host.link.lan0]
type = "veth"
peer = { name = "eth0", netns = "lan", addr = ["192.168.9.1/24"] }
[netns.lan]
[netns.ctr]
"""


def cni(topology: Topology, command: str, conf: Mapping[str, object]) -> tuple[int, str]:
    """Run the plugin in "host" as a runtime does; return (exit status, standard output)."""
    env = [
        f"CNI_COMMAND={command}",
        f"CNI_NETNS={netns_path(topology['ctr'])}",
        "CNI_IFNAME=eth0",
        "CNI_CONTAINERID=c0ffee0123",
        "CNI_PATH=/opt/cni/bin",
    ]
    # `env` puts the variables in the plugin's environment: no shell, every value one argument.
    done = topology["host"].run("env", *env, sys.executable, str(PLUGIN), input=json.dumps(conf), check=False)
    return done.returncode, done.stdout


CONF: dict[str, object] = {
    "cniVersion": "1.0.0",
    "name": "mynet",
    "type": "macvlan",
    "master": "lan0",
    "mode": "private",
    "ipam": {"type": "static", "addresses": [{"address": "192.168.9.10/24", "gateway": "192.168.9.1"}]},
}


@pytest.mark.topology(SPEC)
def test_configures_and_deconfigures_a_macvlan_link_with_add_del(topology: Topology) -> None:
    status, out = cni(topology, "ADD", CONF)
    assert status == 0, out
    result = json.loads(out)

    # The runtime's view: wait for the link the program made, then look at it live.
    ctr = topology["ctr"]
    eth0 = ctr.wait_link("eth0", up=True)
    assert len(result["interfaces"]) == 1
    assert result["interfaces"][0]["name"] == "eth0"
    assert result["interfaces"][0]["mac"] == eth0.mac
    assert result["interfaces"][0]["sandbox"] == netns_path(ctr)
    assert len(result["ips"]) == 1 and result["ips"][0]["address"] == "192.168.9.10/24"
    assert (eth0.kind, eth0.mode, eth0.ipv4, eth0.is_up) == ("macvlan", "private", "192.168.9.10", True)
    assert eth0.netns is ctr and topology.link("ctr/eth0") is eth0
    assert topology.link("host/lan0").ifindex == eth0.state().parent, "its parent is the master, seen from host"

    # Sniff and send on the link the program made.
    cap, lan = eth0.sniff(), topology.link("lan/eth0").sniff()
    assert topology["lan"].ping("192.168.9.10").ok
    cap.wait_for(icmp_echo_request(src="192.168.9.1", dst="192.168.9.10") & incoming)
    eth0.send(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="192.168.9.1"))  # sources from the live link
    lan.wait_for(arp_request(psrc="192.168.9.10", pdst="192.168.9.1", hwsrc=eth0.mac) & incoming)
    cap.wait_for(arp_reply(psrc="192.168.9.1") & incoming)
    assert cap.count(outgoing) >= 2

    status, out = cni(topology, "DEL", CONF)
    assert status == 0, out
    assert "eth0" not in {s.name for s in ctr.link_states()}


@pytest.mark.topology(SPEC)
def test_an_error_is_a_cni_error_object(topology: Topology) -> None:
    status, out = cni(topology, "ADD", {**CONF, "master": "nosuchdev"})
    assert status == 1
    error = json.loads(out)
    assert error["code"] == 999 and "nosuchdev" in error["msg"]
    assert [s.name for s in topology["ctr"].link_states()] == ["lo"], "nothing left behind"

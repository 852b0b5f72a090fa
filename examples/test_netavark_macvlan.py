"""netavark's macvlan driver, the program under test, configuring a container namespace.

Origin: containers/netavark ``test/300-macvlan.bats``, tests "simple macvlan setup", "macvlan
setup internal", "macvlan setup with mtu", "macvlan modes", "macvlan ipam none" and "macvlan
static mac" (asserts kept: MAC as reported, UP, kind macvlan, the address and prefix, the default
route via the gateway or none, ``autoconf`` 0, MTU, each mode, no addresses and no routes without
IPAM, the static MAC). Differences: the master is a veth (``dummy0`` in the original: this
kernel has no dummy); the subnet 10.88.0.0/16 becomes 10.138.36.0/23 (the addresses tests may
use); the container's namespace is a topology namespace given to netavark by ``Netns.path``, and
what the bats test reads with ``ip -j`` is read through the live handles.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import Topology

from .conftest import netns_path

NETAVARK = next((p for p in ("/usr/lib/podman/netavark", shutil.which("netavark")) if p and Path(p).exists()), None)
pytestmark = [
    pytest.mark.skipif(NETAVARK is None, reason="netavark is not installed (apt-get install netavark; ci/setup does)"),
    pytest.mark.topology(
        """
        [netns.host.link.lan0]
        type = "veth"
        peer = { name = "eth0", netns = "lan", addr = ["10.138.36.1/23"] }
        [netns.lan]
        [netns.ctr]
        """
    ),
]
SUBNET, GATEWAY, IPADDR = "10.138.36.0/23", "10.138.36.1", "10.138.36.2"


def config(
    *, internal: bool = False, mtu: int | None = None, mode: str | None = None, ipam: str = "host-local", mac: str = ""
) -> dict[str, Any]:
    """testfiles/macvlan*.json and the inline configurations of the bats file."""
    options: dict[str, str] = {}
    if mtu is not None:
        options["mtu"] = str(mtu)
    if mode is not None:
        options["mode"] = mode
    network: dict[str, Any] = {"interface_name": "eth0"}
    if ipam != "none":
        network["static_ips"] = [IPADDR]
    if mac:
        network["static_mac"] = mac
    subnets = [] if ipam == "none" else [{"subnet": SUBNET, "gateway": GATEWAY}]
    return {
        "container_id": "someID",
        "container_name": "someName",
        "networks": {"podman": network},
        "network_info": {
            "podman": {
                "name": "podman",
                "id": "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9",
                "driver": "macvlan",
                "network_interface": "lan0",
                "subnets": subnets,
                "ipv6_enabled": False,
                "internal": internal,
                "dns_enabled": False,
                "ipam_options": {"driver": ipam},
                "options": options,
            }
        },
    }


def netavark(topology: Topology, command: str, conf: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``run_netavark setup $(get_container_netns_path)``, in the host namespace, config on stdin."""
    assert NETAVARK is not None
    argv = (NETAVARK, "--config", str(tmp_path), "--rootless", "false", command, netns_path(topology["ctr"]))
    done = topology["host"].run(*argv, input=json.dumps(conf), check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_simple_macvlan_setup(topology: Topology, tmp_path: Path) -> None:
    result = netavark(topology, "setup", config(), tmp_path)
    mac = result["podman"]["interfaces"]["eth0"]["mac_address"]
    ctr = topology["ctr"]
    eth0 = ctr.wait_link("eth0")
    assert eth0.mac == mac, "MAC matches container mac"
    assert eth0.is_up, "Container interface is up"
    assert eth0.kind == "macvlan", "Container interface is a macvlan device"
    assert f"{IPADDR}/23" in [str(a.interface) for a in eth0.addresses], "IP address matches container address"
    assert result["podman"]["interfaces"]["eth0"]["subnets"][0]["ipnet"] == f"{IPADDR}/23"
    defaults = [r for r in ctr.routes(version=4) if r.is_default]
    assert [str(r.gateway) for r in defaults] == [GATEWAY], "gateway must be there in default route"
    assert result["podman"]["interfaces"]["eth0"]["subnets"][0]["gateway"] == GATEWAY
    assert ctr.sysctl("net.ipv6.conf.eth0.autoconf") == "0", "autoconf is disabled"
    assert ctr.ping(GATEWAY).ok, "and the container reaches its gateway on the LAN"


def test_macvlan_setup_internal(topology: Topology, tmp_path: Path) -> None:
    result = netavark(topology, "setup", config(internal=True), tmp_path)
    eth0 = topology["ctr"].wait_link("eth0")
    assert eth0.mac == result["podman"]["interfaces"]["eth0"]["mac_address"]
    assert eth0.is_up and eth0.kind == "macvlan"
    assert f"{IPADDR}/23" in [str(a.interface) for a in eth0.addresses]
    assert not [r for r in topology["ctr"].routes() if r.is_default], "macvlan must not contain default gateway"


def test_macvlan_setup_with_mtu(topology: Topology, tmp_path: Path) -> None:
    result = netavark(topology, "setup", config(mtu=1400), tmp_path)
    eth0 = topology["ctr"].wait_link("eth0")
    assert eth0.mtu == 1400, "MTU matches configured MTU"
    assert eth0.mac == result["podman"]["interfaces"]["eth0"]["mac_address"]
    assert eth0.is_up and eth0.kind == "macvlan"
    [addr] = [a for a in eth0.addresses if a.family == 4]
    assert (str(addr.address), addr.interface.network.prefixlen) == (IPADDR, 23)


@pytest.mark.parametrize("mode", ["bridge", "private", "vepa", "passthru", "source"])
def test_macvlan_modes(topology: Topology, tmp_path: Path, mode: str) -> None:
    conf = config(mode=mode)
    netavark(topology, "setup", conf, tmp_path)
    eth0 = topology["ctr"].wait_link("eth0")
    assert eth0.mtu == 1500, "MTU matches expected MTU"
    assert eth0.is_up, "Container interface is up"
    assert eth0.kind == "macvlan", "Container interface is a macvlan device"
    assert eth0.mode == mode, "Container interface has correct macvlan mode"
    netavark(topology, "teardown", conf, tmp_path)
    assert "eth0" not in {s.name for s in topology["ctr"].link_states()}


def test_macvlan_ipam_none(topology: Topology, tmp_path: Path) -> None:
    result = netavark(topology, "setup", config(ipam="none"), tmp_path)
    eth0 = topology["ctr"].wait_link("eth0")
    assert eth0.mac == result["podman"]["interfaces"]["eth0"]["mac_address"]
    assert eth0.is_up
    assert not [a for a in eth0.addresses if a.family == 4 or a.scope == "global"], "No ip addresses configured"
    assert not topology["ctr"].routes(version=4), "No routes configured"


def test_macvlan_static_mac(topology: Topology, tmp_path: Path) -> None:
    mac = "aa:bb:cc:dd:ee:ff"
    result = netavark(topology, "setup", config(mac=mac), tmp_path)
    assert result["podman"]["interfaces"]["eth0"]["mac_address"] == mac, "MAC matches input mac"
    eth0 = topology["ctr"].wait_link("eth0")
    assert eth0.mac == mac, "MAC matches container mac"
    assert eth0.is_up, "Container interface is up"

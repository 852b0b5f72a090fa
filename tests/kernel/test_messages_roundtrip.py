"""What the kernel makes of the builder's hand-packed messages, read back with iproute2.

``tests/unit/test_requests.py`` compares the bytes with pyroute2's encoding of the same request;
this reads the result from the kernel, so an encoder and its reference that agree on a wrong
choice (a flag, an attribute, a mode number) still fail here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_macvlan import NetLab, Topology
from pytest_macvlan.spec.model import MACVLAN_MODES

SPEC: dict[str, Any] = {
    "netns": {
        "h": {
            "ipv6": True,
            "link": {
                "br0": {"type": "bridge", "ageing_time": 1234, "stp": True, "mtu": 1400},
                "v1": {
                    "type": "veth",
                    "mtu": 1400,
                    "address": "02:00:00:00:01:01",
                    "peer": {"name": "v1_br", "master": "br0", "hairpin": True, "promisc": True},
                },
                "v2": {"type": "veth", "peer": {"name": "v2", "netns": "x", "up": False}},
                **{
                    f"m_{mode}": {"type": "macvlan", "link": f"v{3 + i}", "mode": mode}
                    for i, mode in enumerate(MACVLAN_MODES)
                },
                **{f"v{3 + i}": {"type": "veth", "peer": f"p{3 + i}"} for i in range(len(MACVLAN_MODES))},
                "plain": {"type": "macvlan", "link": "v1", "addr": ["192.168.9.2/24", "2001:db8::2/64"]},
            },
            "route": [{"to": "10.138.36.0/23", "via": "192.168.9.1", "metric": 7}],
            "neigh": [{"to": "192.168.9.3", "lladdr": "02:00:00:00:09:03", "dev": "plain"}],
        },
        "x": {},
    }
}


@pytest.fixture(scope="module")
def topo() -> Any:
    with NetLab() as lab:
        yield lab.build(SPEC)


def links(topo: Topology, ns: str) -> dict[str, dict[str, Any]]:
    out = topo[ns].run("ip", "-d", "-j", "link", "show").stdout
    return {entry["ifname"]: entry for entry in json.loads(out)}


def test_bridge_options(topo: Topology) -> None:
    br = links(topo, "h")["br0"]
    data = br["linkinfo"]["info_data"]
    assert (br["mtu"], data["ageing_time"], data["stp_state"]) == (1400, 1234, 1)


def test_veth_ends(topo: Topology) -> None:
    h = links(topo, "h")
    assert (h["v1"]["address"], h["v1"]["mtu"]) == ("02:00:00:00:01:01", 1400)
    port = h["v1_br"]
    assert port["master"] == "br0" and port["promiscuity"] >= 1
    assert port["linkinfo"]["info_slave_data"]["hairpin"] is True
    assert "UP" not in links(topo, "x")["v2"]["flags"], "the peer asked to stay down"


@pytest.mark.parametrize("mode", list(MACVLAN_MODES))
def test_macvlan_modes(topo: Topology, mode: str) -> None:
    assert links(topo, "h")[f"m_{mode}"]["linkinfo"]["info_data"]["mode"] == mode


def test_macvlan_without_mode_is_the_kernels_vepa(topo: Topology) -> None:
    assert links(topo, "h")["plain"]["linkinfo"]["info_data"]["mode"] == "vepa"


def test_addresses_routes_neighbours(topo: Topology) -> None:
    addrs = json.loads(topo["h"].run("ip", "-j", "addr", "show", "dev", "plain").stdout)[0]["addr_info"]
    assert {(a["local"], a["prefixlen"]) for a in addrs} >= {("192.168.9.2", 24), ("2001:db8::2", 64)}
    route = json.loads(topo["h"].run("ip", "-j", "route", "show", "10.138.36.0/23").stdout)
    assert [(r["gateway"], r["metric"]) for r in route] == [("192.168.9.1", 7)]
    neigh = json.loads(topo["h"].run("ip", "-j", "neigh", "show", "192.168.9.3").stdout)
    assert [(n["lladdr"], n["state"]) for n in neigh] == [("02:00:00:00:09:03", ["PERMANENT"])]

"""The spec's iproute2 vocabulary beyond veth/bridge/vlan/macvlan: parsed, and refused clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import SpecError, load_spec, parse_spec
from pytest_macvlan.kernel.features import needs_of_kinds

ROOT = Path(__file__).parent.parent.parent


def test_the_documented_vocabulary_is_a_valid_spec() -> None:
    """docs/examples/vocabulary.toml, included into docs/spec.md."""
    spec = load_spec(ROOT / "docs" / "examples" / "vocabulary.toml")
    kinds = {link.kind for link in spec.links}
    assert kinds >= {"bridge", "veth", "macvlan", "vlan", "ipvlan", "vxlan", "vrf", "bond", "tap", "dummy"}
    assert needs_of_kinds(spec.kinds()) >= {"vlan_filtering", "8021ad", "8021q", "ipvlan", "bond", "vrf", "dummy"}


def link(**kw: Any) -> dict[str, Any]:
    return {"netns": {"a": {"link": {"x": kw, "p": {"type": "veth", "peer": "q"}}}}}


def test_options_are_parsed() -> None:
    spec = parse_spec(
        {
            "netns": {
                "h": {
                    "nodad": True,
                    "ipv6": True,
                    "fdb": [{"lladdr": "02:00:00:00:00:AA", "dev": "v1", "sticky": True, "vlan": 10}],
                    "link": {
                        "br0": {
                            "type": "bridge",
                            "vlan_filtering": True,
                            "vlan_default_pvid": 0,
                            "mcast_snooping": False,
                        },
                        "v1": {
                            "type": "veth",
                            "master": "br0",
                            "isolated": True,
                            "learning": False,
                            "vlan": [{"vid": 10, "pvid": True, "untagged": True}, 20],
                            "peer": "e1",
                        },
                        "m0": {"type": "macvtap", "link": "e1", "mode": "source", "nodst": True, "bcqueuelen": 8},
                        "vx": {"type": "vxlan", "id": 7, "learning": False},
                    },
                }
            }
        }
    )
    ns = spec.netns[0]
    assert ns.nodad and ns.fdb[0].lladdr == "02:00:00:00:00:aa" and ns.fdb[0].sticky and ns.fdb[0].master
    by = {link.name: link for link in spec.links}
    assert by["br0"].vlan_filtering and by["br0"].vlan_default_pvid == 0 and by["br0"].mcast_snooping is False
    assert dict(by["v1"].port) == {"isolated": True, "learning": False}
    assert [(v.vid, v.pvid, v.untagged) for v in by["v1"].vlans] == [(10, True, True), (20, False, False)]
    assert by["m0"].kind == "macvtap" and by["m0"].nodst and by["m0"].bcqueuelen == 8
    assert by["vx"].learning is False and by["vx"].port == (), "a vxlan's learning is its own, not a port flag"
    assert "vlan_filtering" in spec.kinds()


@pytest.mark.parametrize(
    ("doc", "entry", "problem"),
    [
        (link(type="ipvlan", link="p", mode="l4"), "netns.a.link.x.mode", "unknown ipvlan mode 'l4'"),
        (link(type="ipvlan", link="p", flag="loud"), "netns.a.link.x.flag", "unknown ipvlan flag"),
        (link(type="vlan", link="p", id=5, protocol="802.1x"), "netns.a.link.x.protocol", "unknown VLAN protocol"),
        (link(type="vrf"), "netns.a.link.x", "needs 'table'"),
        (link(type="vrf", table=254), "netns.a.link.x.table", "reserved"),
        (link(type="bond", mode="fastest"), "netns.a.link.x.mode", "unknown bond mode"),
        (link(type="bond", members=["nope"]), "netns.a.link.x.members", "not a link"),
        (link(type="vxlan"), "netns.a.link.x", "needs 'id'"),
        (link(type="vxlan", id=1 << 24), "netns.a.link.x.id", "out of range"),
        (link(type="vxlan", id=1, group="192.168.9.9", link="p"), "netns.a.link.x.group", "not a multicast"),
        (link(type="vxlan", id=1, group="239.1.1.1"), "netns.a.link.x", "needs 'link'"),
        (link(type="macvlan", link="p", nodst=True), "netns.a.link.x.nodst", "source"),
        (link(type="macvlan", link="p", bcqueuelen=0), "netns.a.link.x.bcqueuelen", "positive"),
        (link(type="dummy", isolated=True), "netns.a.link.x.isolated", "needs 'master'"),
        (link(type="dummy", master="p"), "netns.a.link.x.master", "not a bond, bridge or vrf"),
        (link(type="dummy", vlan=[10]), "netns.a.link.x.vlan", "bridge port"),
        (link(type="bridge", vlan=[{"vid": 5000}]), "netns.a.link.x.vlan[0].vid", "out of range"),
        (link(type="bridge", vlan=[1, 1]), "netns.a.link.x.vlan", "twice"),
        (link(type="bridge", vlan_default_pvid=4095), "netns.a.link.x.vlan_default_pvid", "out of range"),
        (link(type="tap", mode="x"), "netns.a.link.x.mode", "unknown key"),
    ],
)
def test_bad_vocabulary_is_one_clear_error(doc: dict[str, Any], entry: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(doc, "bad.toml")
    assert info.value.entry == entry, str(info.value)
    assert problem in info.value.problem


def test_fdb_entries_are_checked() -> None:
    base: dict[str, Any] = {"netns": {"a": {"link": {"br0": {"type": "bridge"}, "v": {"type": "veth", "peer": "w"}}}}}
    base["netns"]["a"]["fdb"] = [{"lladdr": "02:00:00:00:00:01", "dev": "v"}]
    with pytest.raises(SpecError, match="not a bridge port"):
        parse_spec(base)
    base["netns"]["a"]["fdb"] = [{"lladdr": "02:00:00:00:00:01", "dev": "v", "self": True, "state": "sometimes"}]
    with pytest.raises(SpecError, match="unknown FDB state"):
        parse_spec(base)
    base["netns"]["a"]["fdb"] = [{"lladdr": "02:00:00:00:00:01", "dev": "v", "self": True}]
    assert parse_spec(base).netns[0].fdb[0].master is False


def test_ping_command_is_checked() -> None:
    from pytest_macvlan.kernel.ping import command, probe

    p = probe("2001:db8::2", 3, 0.5, 0.1, "e1", False, 100, 2)
    argv, limit = command(p), p.limit
    assert argv == [
        "ping",
        "-n",
        "-c",
        "3",
        "-W",
        "0.5",
        "-i",
        "0.1",
        "-I",
        "e1",
        "-s",
        "100",
        "-w",
        "2",
        "2001:db8::2",
    ]
    assert limit == 7.0
    for bad in (("example.com",), ("192.168.9.1", 0), ("2001:db8::1", 1, 1.0, 0.2, None, True)):
        with pytest.raises(ValueError):
            probe(*bad)
    with pytest.raises(ValueError, match="interface"):
        probe("192.168.9.1", interface="a b")

"""Spec parsing and validation: no privileges needed, nothing touches the kernel."""

from __future__ import annotations

from ipaddress import ip_interface
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan.errors import SpecError
from pytest_macvlan.spec.model import LinkRef
from pytest_macvlan.spec.parse import load_spec, parse_spec

SCENARIOS = Path(__file__).parents[2] / "scenarios"

GOOD = """
[netns.host]
sysctl = { "net.ipv4.ip_forward" = 1, "net.ipv4.conf.veth1/11.rp_filter" = 0 }
iptables = ["-P FORWARD DROP", ["-A", "FORWARD", "-i", "br0", "-j", "ACCEPT"]]

[netns.host.link.br0]
type = "bridge"
addr = ["192.168.9.1/24"]
ageing_time = 30

[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0", hairpin = true }

[netns.ns1]
route = [{ to = "default", via = "192.168.9.1" }]
neigh = [{ to = "192.168.9.3", lladdr = "ns2/macvl2", dev = "macvl1" }]

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"
mode = "private"
address = "02:00:00:00:00:01"
addr = ["192.168.9.2/24"]
mtu = 1400

[netns.ns2.link.macvl2]
type = "macvlan"
link = "host/veth1"
"""


def test_good_spec_parses_into_frozen_dataclasses() -> None:
    spec = load_spec(GOOD)
    assert [n.name for n in spec.netns] == ["host", "ns1", "ns2"]
    peer = spec.link(LinkRef("host", "veth1_br"))
    assert peer.is_peer and peer.master == "br0" and peer.hairpin is True
    macvl1 = spec.link(LinkRef("ns1", "macvl1"))
    assert macvl1.parent == LinkRef("host", "veth1")
    assert macvl1.mode == "private" and macvl1.mtu == 1400 and macvl1.address == "02:00:00:00:00:01"
    assert macvl1.addrs == (ip_interface("192.168.9.2/24"),)
    assert spec.link(LinkRef("ns2", "macvl2")).mode is None  # the kernel's default (vepa) applies
    ns1 = spec.netns[1]
    assert str(ns1.routes[0].to) == "0.0.0.0/0"
    assert ns1.neighs[0].lladdr_of == LinkRef("ns2", "macvl2")
    assert spec.netns[0].iptables[0] == ("-P", "FORWARD", "DROP")
    assert ("net.ipv4.conf.veth1/11.rp_filter", "0") in spec.netns[0].sysctl
    assert spec.kinds() >= {"macvlan", "macvlan:private", "macvlan:vepa", "veth", "bridge"}
    with pytest.raises(AttributeError):
        macvl1.mode = "vepa"  # type: ignore[misc]


def test_dict_and_file_forms_give_the_same_spec(tmp_path: Path) -> None:
    import tomllib

    path = tmp_path / "t.toml"
    path.write_text(GOOD)
    from_file = load_spec(str(path))
    from_dict = load_spec(tomllib.loads(GOOD))
    assert from_file.links == from_dict.links
    assert from_file.source == str(path) and from_dict.source == "<dict>"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_every_scenario_file_is_valid(path: Path) -> None:
    assert load_spec(path).links


def _ns(**links: dict[str, Any]) -> dict[str, Any]:
    return {"netns": {"a": {"link": links}, "b": {}}}


VETH = {"type": "veth", "peer": "v0p"}
MV = {"type": "macvlan", "link": "v0"}

# (id, spec, entry named in the error, words in the problem)
BAD: list[tuple[str, Any, str, str]] = [
    ("toml-syntax", "[netns.a\n", "", "TOML syntax error"),
    ("toml-dup-key", "[netns.a.link.x]\ntype='bridge'\ntype='veth'\n", "", "TOML syntax error"),
    ("unknown-top-key", {"netns": {"a": {}}, "links": {}}, "links", "unknown key"),
    ("no-netns", {}, "netns", "at least one namespace"),
    ("netns-not-table", {"netns": []}, "netns", "must be a table"),
    ("netns-bad-name", {"netns": {"a b": {}}}, "netns.a b", "not allowed"),
    ("netns-path-name", {"netns": {"../etc": {}}}, "netns.../etc", "not allowed"),
    ("netns-unknown-key", {"netns": {"a": {"links": {}}}}, "netns.a.links", "unknown key"),
    ("link-no-type", _ns(x={}), "netns.a.link.x", "missing 'type'"),
    ("link-unknown-kind", _ns(x={"type": "wireguard"}), "netns.a.link.x.type", "unknown link type 'wireguard'"),
    ("link-unknown-key", _ns(x={"type": "bridge", "colour": 1}), "netns.a.link.x.colour", "unknown key"),
    ("link-key-of-other-kind", _ns(x={"type": "bridge", "mode": "vepa"}), "netns.a.link.x.mode", "unknown key"),
    ("name-too-long", _ns(abcdefghijklmnop={"type": "bridge"}), "netns.a.link.abcdefghijklmnop", "at most 15"),
    ("name-slash", _ns(**{"a/b": {"type": "bridge"}}), "netns.a.link.a/b", "'/'"),
    ("name-colon", _ns(**{"a:b": {"type": "bridge"}}), "netns.a.link.a:b", "':'"),
    ("name-space", _ns(**{"a b": {"type": "bridge"}}), "netns.a.link.a b", "whitespace"),
    ("name-shell", _ns(**{"x;rm": {"type": "bridge"}}), "netns.a.link.x;rm", "shell metacharacter"),
    ("name-dollar", _ns(**{"$(id)": {"type": "bridge"}}), "netns.a.link.$(id)", "shell metacharacter"),
    ("name-lo", _ns(lo={"type": "bridge"}), "netns.a.link.lo", "'lo' exists"),
    ("bad-mac", _ns(x={"type": "bridge", "address": "02:00:00:00:00"}), "netns.a.link.x.address", "bad MAC"),
    ("multicast-mac", _ns(x={"type": "bridge", "address": "01:00:5e:00:00:01"}), "netns.a.link.x.address", "multicast"),
    ("bad-cidr", _ns(x={"type": "bridge", "addr": ["192.168.9.300/24"]}), "netns.a.link.x.addr", "bad CIDR"),
    ("no-prefix", _ns(x={"type": "bridge", "addr": ["192.168.9.1"]}), "netns.a.link.x.addr", "prefix length"),
    ("mtu-type", _ns(x={"type": "bridge", "mtu": "1500"}), "netns.a.link.x.mtu", "must be an integer"),
    ("mtu-bool", _ns(x={"type": "bridge", "mtu": True}), "netns.a.link.x.mtu", "must be an integer"),
    ("mtu-range", _ns(x={"type": "bridge", "mtu": 20}), "netns.a.link.x.mtu", "out of range"),
    ("up-type", _ns(x={"type": "bridge", "up": "yes"}), "netns.a.link.x.up", "must be a boolean"),
    ("macvlan-no-parent", _ns(x={"type": "macvlan"}), "netns.a.link.x", "missing 'link'"),
    ("macvlan-missing-parent", _ns(x={"type": "macvlan", "link": "eth9"}), "netns.a.link.x.link", "not defined"),
    (
        "macvlan-parent-unknown-ns",
        _ns(x={"type": "macvlan", "link": "zz/eth0"}),
        "netns.a.link.x.link",
        "unknown namespace 'zz'",
    ),
    (
        "macvlan-bad-mode",
        _ns(v0=VETH, x={**MV, "mode": "privat"}),
        "netns.a.link.x.mode",
        "unknown macvlan mode 'privat'",
    ),
    (
        "macaddr-without-source",
        _ns(v0=VETH, x={**MV, "mode": "vepa", "macaddr": ["02:00:00:00:00:02"]}),
        "netns.a.link.x.macaddr",
        "needs mode",
    ),
    (
        "source-bad-mac",
        _ns(v0=VETH, x={**MV, "mode": "source", "macaddr": ["zz"]}),
        "netns.a.link.x.macaddr",
        "bad MAC",
    ),
    (
        "second-on-passthru",
        _ns(v0=VETH, x={**MV, "mode": "passthru"}, y=MV),
        "netns.a.link.y",
        "accepts exactly one macvlan",
    ),
    ("vlan-no-id", _ns(v0=VETH, x={"type": "vlan", "link": "v0"}), "netns.a.link.x", "needs 'id'"),
    ("vlan-id-range", _ns(v0=VETH, x={"type": "vlan", "link": "v0", "id": 4095}), "netns.a.link.x.id", "out of range"),
    ("veth-no-peer", _ns(x={"type": "veth"}), "netns.a.link.x", "needs 'peer'"),
    (
        "veth-peer-unknown-ns",
        _ns(x={"type": "veth", "peer": {"name": "p", "netns": "zz"}}),
        "netns.a.link.x.peer",
        "unknown namespace 'zz'",
    ),
    (
        "veth-peer-empty-ns",
        _ns(x={"type": "veth", "peer": {"name": "p", "netns": ""}}),
        "netns.a.link.x.peer",
        "unknown namespace ''",
    ),
    ("veth-peer-own", _ns(x={"type": "veth", "peer": "x"}), "netns.a.link.x.peer", "own peer"),
    (
        "veth-peer-clash",
        _ns(x={"type": "veth", "peer": "y"}, y={"type": "bridge"}),
        "netns.a.link.y",
        "duplicate interface name 'y' in namespace 'a' (also netns.a.link.x.peer)",
    ),
    ("veth-peer-bad-name", _ns(x={"type": "veth", "peer": "p" * 16}), "netns.a.link.x.peer.name", "at most 15"),
    ("master-unknown", _ns(v0={**VETH, "master": "br9"}), "netns.a.link.v0.master", "not a link"),
    ("master-not-bridge", _ns(v0={**VETH, "master": "v0p"}), "netns.a.link.v0.master", "not a bond, bridge or vrf"),
    ("hairpin-without-master", _ns(v0={**VETH, "hairpin": True}), "netns.a.link.v0.hairpin", "needs 'master'"),
    (
        "bridge-in-bridge",
        _ns(b1={"type": "bridge", "master": "b2"}, b2={"type": "bridge"}),
        "netns.a.link.b1.master",
        "cannot be a port",
    ),
    (
        "parent-cycle",
        _ns(x={"type": "macvlan", "link": "y"}, y={"type": "macvlan", "link": "x"}),
        "netns.a.link.x",
        "cycle",
    ),
    ("route-no-to", {"netns": {"a": {"route": [{"via": "10.0.0.1"}]}}}, "netns.a.route[0]", "missing 'to'"),
    (
        "route-bad-prefix",
        {"netns": {"a": {"route": [{"to": "10.0.0.0/33", "via": "10.0.0.1"}]}}},
        "netns.a.route[0].to",
        "bad prefix",
    ),
    (
        "route-mixed-family",
        {"netns": {"a": {"route": [{"to": "10.0.0.0/8", "via": "fe80::1"}]}}},
        "netns.a.route[0].via",
        "IPv6",
    ),
    (
        "route-unknown-dev",
        {"netns": {"a": {"route": [{"to": "10.0.0.0/8", "dev": "eth0"}]}}},
        "netns.a.route[0].dev",
        "no link 'eth0'",
    ),
    ("route-nothing", {"netns": {"a": {"route": [{"to": "10.0.0.0/8"}]}}}, "netns.a.route[0]", "'via' or 'dev'"),
    (
        "neigh-bad-ip",
        _ns(v0=VETH)
        | {
            "netns": {
                "a": {"link": {"v0": VETH}, "neigh": [{"to": "1.2.3", "lladdr": "02:00:00:00:00:01", "dev": "v0"}]}
            }
        },
        "netns.a.neigh[0].to",
        "bad IP address",
    ),
    (
        "neigh-dangling-lladdr",
        {"netns": {"a": {"link": {"v0": VETH}, "neigh": [{"to": "1.2.3.4", "lladdr": "b/x", "dev": "v0"}]}}},
        "netns.a.neigh[0].lladdr",
        "not defined",
    ),
    (
        "sysctl-not-net",
        {"netns": {"a": {"sysctl": {"kernel.panic": 1}}}},
        "netns.a.sysctl.kernel.panic",
        "only network sysctls",
    ),
    (
        "sysctl-traversal",
        {"netns": {"a": {"sysctl": {"net.ipv4..x": 1}}}},
        "netns.a.sysctl.net.ipv4..x",
        "only network sysctls",
    ),
    (
        "iptables-with-command",
        {"netns": {"a": {"iptables": ["iptables -A FORWARD -j ACCEPT"]}}},
        "netns.a.iptables[0]",
        "without the 'iptables' command",
    ),
    ("iptables-bad-type", {"netns": {"a": {"iptables": [1]}}}, "netns.a.iptables[0]", "a list of strings"),
]


@pytest.mark.parametrize(("spec", "entry", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_spec_is_one_clear_error(spec: Any, entry: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        if isinstance(spec, str):
            load_spec(spec)
        else:
            parse_spec(spec, "bad.toml")
    err = info.value
    assert err.entry == entry, str(err)
    assert words in err.problem, str(err)
    assert str(err).startswith(("bad.toml", "<string>")), str(err)


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[netns.a.link.x]\ntype = "macvlan"\nlink = "nowhere"\n')
    with pytest.raises(SpecError, match=r"broken\.toml: netns\.a\.link\.x\.link: parent link a/nowhere"):
        load_spec(str(path))


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(str(tmp_path / "nope.toml"))


def test_emulates_is_free_text_shown_nowhere_but_diagrams() -> None:
    spec = load_spec({"netns": {"lan": {"emulates": "the LAN switch"}, "a": {}}})
    assert [ns.emulates for ns in spec.netns] == ["the LAN switch", None]
    for bad in ("", "  ", 3):
        with pytest.raises(SpecError, match=r"netns\.lan\.emulates"):
            load_spec({"netns": {"lan": {"emulates": bad}}})


def test_iptables_optional_needs_rules_and_a_boolean() -> None:
    spec = load_spec({"netns": {"s": {"iptables": ["-P FORWARD DROP"], "iptables_optional": True}, "t": {}}})
    assert [ns.iptables_optional for ns in spec.netns] == [True, False]
    with pytest.raises(SpecError, match=r"netns\.s\.iptables_optional: there are no iptables rules"):
        load_spec({"netns": {"s": {"iptables_optional": True}}})
    with pytest.raises(SpecError, match=r"netns\.s\.iptables_optional"):
        load_spec({"netns": {"s": {"iptables": ["-P FORWARD DROP"], "iptables_optional": "yes"}}})

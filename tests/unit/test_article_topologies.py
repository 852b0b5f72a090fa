"""Every scenarios/*.toml uses the article's names, addresses, VLAN ids, modes, promisc, routes and
firewall rules where the article gives them; each expectation cites the article line that gives it.

No privileges: the specs are parsed, not built. When the article is present, each cited line is
checked to say what the table says it says.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_macvlan.spec.model import LinkRef, TopologySpec
from pytest_macvlan.spec.parse import load_spec
from pytest_macvlan.topology.diagram import render
from tests.support.article import ARTICLE, SCENARIOS

# (spec, what, expected, article line, text on that line)
# what: "ns/link kind|parent|mode|vlan|addr|promisc|master|hairpin|peer", "ns route", "ns iptables"
VEPA_VLAN = [
    ("S3/test_br kind", "bridge", 48, "ip link add test_br type bridge"),
    ("S3/veth1 peer", "S3/veth1_br", 49, "name veth1 type veth peer name veth1_br"),
    ("S3/veth2 peer", "S3/veth2_br", 50, "name veth2 type veth peer name veth2_br"),
    ("S3/veth1_br master", "test_br", 51, "veth1_br master test_br"),
    ("S3/veth2_br master", "test_br", 52, "veth2_br master test_br"),
    ("S3/veth1_br hairpin", True, 56, "hairpin test_br veth1_br on"),
    ("S3/veth2_br hairpin", True, 57, "hairpin test_br veth2_br on"),
    ("S3/veth1.11 parent", "S3/veth1", 90, "link veth1 name veth1.11 type vlan id 11"),
    ("S3/veth1.11 vlan", 11, 90, "type vlan id 11"),
    ("S3/veth2.12 parent", "S3/veth2", 91, "link veth2 name veth2.12 type vlan id 12"),
    ("S3/veth2.12 vlan", 12, 91, "type vlan id 12"),
    ("S3/veth1.11 promisc", True, 94, "veth1.11 promisc on"),
    ("S3/veth2.12 promisc", True, 95, "veth2.12 promisc on"),
    ("S3 iptables", ("-I", "FORWARD", "1", "-i", "test_br", "-j", "ACCEPT"), 126, "-I FORWARD 1 -i test_br -j ACCEPT"),
    ("S3 iptables", ("-I", "FORWARD", "1", "-o", "test_br", "-j", "ACCEPT"), 127, "-I FORWARD 1 -o test_br -j ACCEPT"),
    ("ns1/macvl1 parent", "S3/veth1.11", 161, "link veth1.11 name macvl1 type macvlan mode vepa"),
    ("ns1/macvl1 mode", "vepa", 161, "macvl1 type macvlan mode vepa"),
    ("ns2/macvl2 parent", "S3/veth1.11", 162, "link veth1.11 name macvl2 type macvlan mode vepa"),
    ("ns2/macvl2 mode", "vepa", 162, "macvl2 type macvlan mode vepa"),
    ("ns3/macvl3 parent", "S3/veth2.12", 166, "link veth2.12 name macvl3 type macvlan mode vepa"),
    ("ns3/macvl3 mode", "vepa", 166, "macvl3 type macvlan mode vepa"),
    ("ns4/macvl4 parent", "S3/veth2.12", 167, "link veth2.12 name macvl4 type macvlan mode vepa"),
    ("ns4/macvl4 mode", "vepa", 167, "macvl4 type macvlan mode vepa"),
    ("ns1/macvl1 addr", "192.168.9.2/24", 194, "192.168.9.2/24 dev macvl1"),
    ("ns1 route", "default dev macvl1", 195, "ip r add default dev macvl1"),
    ("ns2/macvl2 addr", "192.168.9.3/24", 223, "192.168.9.3/24 dev macvl2"),
    ("ns2 route", "default dev macvl2", 224, "ip route add default dev macvl2"),
    ("ns3/macvl3 addr", "192.168.9.2/24", 252, "192.168.9.2/24 dev macvl3"),
    ("ns3 route", "default dev macvl3", 253, "ip r add default dev macvl3"),
    ("ns4/macvl4 addr", "192.168.9.3/24", 281, "192.168.9.3/24 dev macvl4"),
    ("ns4 route", "default dev macvl4", 282, "ip r add default dev macvl4"),
]
LAN = [
    ("S3/test_br kind", "bridge", 48, "ip link add test_br type bridge"),
    ("S3/veth1 peer", "S3/veth1_br", 49, "name veth1 type veth peer name veth1_br"),
    ("S3/veth2 peer", "S3/veth2_br", 50, "name veth2 type veth peer name veth2_br"),
    ("S3/veth1_br master", "test_br", 51, "veth1_br master test_br"),
    ("S3/veth2_br master", "test_br", 52, "veth2_br master test_br"),
    ("S3/veth1_br hairpin", True, 56, "hairpin test_br veth1_br on"),
    ("S3/veth2_br hairpin", True, 57, "hairpin test_br veth2_br on"),
    ("S3/veth1.11 parent", "S3/veth1", 90, "link veth1 name veth1.11 type vlan id 11"),
    ("S3/veth1.11 vlan", 11, 90, "type vlan id 11"),
    ("S3/veth2.12 parent", "S3/veth2", 91, "link veth2 name veth2.12 type vlan id 12"),
    ("S3/veth2.12 vlan", 12, 91, "type vlan id 12"),
    ("S3/veth1.11 promisc", True, 94, "veth1.11 promisc on"),
    ("S3/veth2.12 promisc", True, 95, "veth2.12 promisc on"),
    ("S3 iptables", ("-I", "FORWARD", "1", "-i", "test_br", "-j", "ACCEPT"), 126, "-I FORWARD 1 -i test_br -j ACCEPT"),
    ("S3 iptables", ("-I", "FORWARD", "1", "-o", "test_br", "-j", "ACCEPT"), 127, "-I FORWARD 1 -o test_br -j ACCEPT"),
    ("ns1/macvl1 parent", "S3/veth1.11", 161, "link veth1.11 name macvl1 type macvlan mode vepa"),
    ("ns1/macvl1 mode", "vepa", 161, "macvl1 type macvlan mode vepa"),
    ("ns2/macvl2 parent", "S3/veth1.11", 162, "link veth1.11 name macvl2 type macvlan mode vepa"),
    ("ns2/macvl2 mode", "vepa", 162, "macvl2 type macvlan mode vepa"),
    ("ns3/macvl3 parent", "S3/veth2.12", 166, "link veth2.12 name macvl3 type macvlan mode vepa"),
    ("ns3/macvl3 mode", "vepa", 166, "macvl3 type macvlan mode vepa"),
    ("ns4/macvl4 parent", "S3/veth2.12", 167, "link veth2.12 name macvl4 type macvlan mode vepa"),
    ("ns4/macvl4 mode", "vepa", 167, "macvl4 type macvlan mode vepa"),
    ("ns1/macvl1 addr", "192.168.9.2/24", 194, "192.168.9.2/24 dev macvl1"),
    ("ns1 route", "default dev macvl1", 195, "ip r add default dev macvl1"),
    ("ns2/macvl2 addr", "192.168.9.3/24", 223, "192.168.9.3/24 dev macvl2"),
    ("ns2 route", "default dev macvl2", 224, "ip route add default dev macvl2"),
    ("ns3/macvl3 addr", "192.168.9.2/24", 252, "192.168.9.2/24 dev macvl3"),
    ("ns3 route", "default dev macvl3", 253, "ip r add default dev macvl3"),
    ("ns4/macvl4 addr", "192.168.9.3/24", 281, "192.168.9.3/24 dev macvl4"),
    ("ns4 route", "default dev macvl4", 282, "ip r add default dev macvl4"),
]
PLAIN_SUBJECTS = ("S3/test_br", "S3/veth1", "S3/veth2", "S3/veth1_br", "S3/veth2_br", "S3", "ns1", "ns2")
VEPA_PLAIN = [
    e
    for e in VEPA_VLAN
    if e[0].split()[0] in PLAIN_SUBJECTS or (e[0].split()[0] in ("ns1/macvl1", "ns2/macvl2") and "parent" not in e[0])
] + [
    ("ns5/macvl5 mode", "vepa", 391, "macvl5 type macvlan mode vepa"),
    ("ns5/macvl5 addr", "192.168.9.5/24", 418, "192.168.9.5/24 dev macvl5"),
    ("ns5 route", "default dev macvl5", 419, "ip route add default dev macvl5"),
]
LAN = [
    ("S3/eno2 addr", "10.138.36.58/23", 878, "10.138.36.0/23 dev eno2 proto kernel scope link src 10.138.36.58"),
    ("S20/eth0 addr", "10.138.36.66/23", 1015, "10.138.36.0/23 dev eno1 proto kernel scope link src 10.138.36.66"),
]
GATEWAY = [("gw/eth0 addr", "10.138.36.1/23", 877, "default via 10.138.36.1 dev eno2")]
PRIVATE = [
    e for e in VEPA_VLAN if e[0].split()[0] in ("S3/test_br", "S3/veth1", "S3/veth2", "S3/veth1_br", "S3/veth2_br")
] + [
    *(e for e in VEPA_VLAN if e[0] == "S3 iptables"),
    ("ns1/macvl1 parent", "S3/veth1", 522, "link veth1 name macvl1 type macvlan mode private"),
    ("ns1/macvl1 mode", "private", 522, "macvl1 type macvlan mode private"),
    ("ns2/macvl2 parent", "S3/veth1", 523, "link veth1 name macvl2 type macvlan mode private"),
    ("ns2/macvl2 mode", "private", 523, "macvl2 type macvlan mode private"),
    ("ns3/macvl3 parent", "S3/veth2", 524, "link veth2 name macvl3 type macvlan mode private"),
    ("ns3/macvl3 mode", "private", 524, "macvl3 type macvlan mode private"),
    ("S3/veth1 promisc", True, 531, "veth1 promisc on"),
    ("S3/veth2 promisc", True, 532, "veth2 promisc on"),
    ("ns1/macvl1 addr", "192.168.9.2/24", 554, "192.168.9.2/24 dev macvl1"),
    ("ns2/macvl2 addr", "192.168.9.3/24", 582, "192.168.9.3/24 dev macvl2"),
    ("ns3/macvl3 addr", "192.168.9.5/24", 603, "192.168.9.5/24 dev macvl3"),
    ("S3 route", "default via 10.138.36.1", 877, "default via 10.138.36.1 dev eno2"),
    *LAN,
    *GATEWAY,
]
BRIDGE = [
    ("ns4/macvl4 parent", "S3/eno2", 1037, "link eno2 name macvl4 type macvlan mode bridge"),
    ("ns4/macvl4 mode", "bridge", 1037, "macvl4 type macvlan mode bridge"),
    ("ns5/macvl5 parent", "S3/eno2", 1038, "link eno2 name macvl5 type macvlan mode bridge"),
    ("ns5/macvl5 mode", "bridge", 1038, "macvl5 type macvlan mode bridge"),
    ("ns4/macvl4 addr", "10.138.36.2/23", 1058, "10.138.36.2/23 dev macvl4"),
    ("ns4 route", "default via 10.138.36.1", 1059, "default via 10.138.36.1 dev macvl4"),
    ("ns5/macvl5 addr", "10.138.36.3/23", 1083, "10.138.36.3/23 dev macvl5"),
    ("ns5 route", "default via 10.138.36.1", 1084, "default via 10.138.36.1 dev macvl5"),
    ("other/eth0 addr", "10.138.10.161/24", 1194, "ping 10.138.10.161"),
    *LAN,
    *GATEWAY,
]
EXPECTED: dict[str, list[tuple[str, Any, int, str]]] = {
    "vepa_vlan.toml": VEPA_VLAN,
    "vepa.toml": VEPA_PLAIN,
    "private.toml": PRIVATE,
    "bridge.toml": BRIDGE,
    "general.toml": LAN,
    "passthru.toml": LAN,
    "source.toml": LAN,
}
CASES = [(spec, *e) for spec, entries in EXPECTED.items() for e in entries]


def actual(spec: TopologySpec, what: str) -> Any:
    subject, attr = what.split(" ")
    if "/" not in subject:
        ns = next(n for n in spec.netns if n.name == subject)
        if attr == "iptables":
            return ns.iptables
        routes = []
        for r in ns.routes:
            to = "default" if r.to.prefixlen == 0 else str(r.to)
            routes.append(" ".join([to, *([f"via {r.via}"] if r.via else []), *([f"dev {r.dev}"] if r.dev else [])]))
        return routes
    ns_name, name = subject.split("/")
    link = spec.link(LinkRef(ns_name, name))
    return {
        "kind": link.kind,
        "parent": str(link.parent) if link.parent else None,
        "mode": link.mode,
        "vlan": link.vlan_id,
        "addr": [str(a) for a in link.addrs],
        "promisc": link.promisc,
        "master": link.master,
        "hairpin": link.hairpin,
        "peer": str(link.peer) if link.peer else None,
    }[attr]


def test_every_scenario_spec_is_in_the_table() -> None:
    assert {p.name for p in SCENARIOS.glob("*.toml")} == set(EXPECTED)


@pytest.mark.parametrize(
    ("spec", "what", "expected", "line", "text"), CASES, ids=[f"{c[0]}:{c[1]}:L{c[3]}" for c in CASES]
)
def test_spec_uses_the_articles_names(spec: str, what: str, expected: Any, line: int, text: str) -> None:
    topo = load_spec(SCENARIOS / spec)
    try:
        got = actual(topo, what)
    except (KeyError, StopIteration):
        pytest.fail(f"{spec}: {what.split()[0]} is missing; the article has it (L{line}: {text})")
    if (isinstance(got, list) and not isinstance(expected, list)) or (
        isinstance(got, tuple) and isinstance(expected, tuple)
    ):
        assert expected in got, f"{spec}: {what} is {got}, the article (L{line}) has {expected}"
    else:
        assert got == expected, f"{spec}: {what} is {got!r}, the article (L{line}) has {expected!r}"


def test_macvlans_are_named_as_the_article_names_them() -> None:
    """The article's convention: macvlN lives in nsN."""
    for path in SCENARIOS.glob("*.toml"):
        for link in load_spec(path).links:
            if link.kind == "macvlan":
                assert link.name.startswith("macvl") and link.netns == "ns" + link.name.removeprefix("macvl"), (
                    f"{path.name}: {link.ref}"
                )


LINES = sorted({(line, text) for entries in EXPECTED.values() for _w, _e, line, text in entries})


@pytest.mark.parametrize(("line", "text"), LINES, ids=[f"L{line}" for line, _ in LINES])
def test_the_cited_line_says_it(line: int, text: str) -> None:
    if not ARTICLE.exists():
        pytest.skip(f"the article is not here ({ARTICLE}): the cited lines cannot be checked")
    lines = ARTICLE.read_text(encoding="utf-8").splitlines()
    assert text in lines[line - 1], f"L{line}: {lines[line - 1]!r} does not contain {text!r}"


#: Namespaces that stand in for parts of the article's setup the emulation must replace.
EMULATED = {"lan", "gw", "public", "other"}


def test_emulated_parts_say_so_and_the_diagram_marks_them() -> None:
    """The LAN and its switch, the gateway and what is behind it, the public host (203.0.113.66
    for the article's public address): each says what it emulates, and the diagram shows it;
    the article's own parts do not."""
    for path in SCENARIOS.glob("*.toml"):
        spec = load_spec(path)
        picture = render(spec)
        for ns in spec.netns:
            if ns.name in EMULATED:
                assert ns.emulates, f"{path.name}: netns {ns.name} emulates what?"
                assert f"netns {ns.name} [emulated: {ns.emulates}]" in picture, picture
            else:
                assert ns.emulates is None, f"{path.name}: netns {ns.name} is the article's own"

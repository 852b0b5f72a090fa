"""The text diagram of a topology (no privileges needed: a pure function of the spec)."""

from __future__ import annotations

from pytest_macvlan.spec.model import LinkRef
from pytest_macvlan.spec.parse import load_spec
from pytest_macvlan.topology.diagram import Live, LiveLink, live_of, render

SPEC = """
description = "hairpin, private siblings, a VLAN, a default route"

[netns.host]
route = [{ to = "default", via = "192.168.9.254" }]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = ["-P FORWARD DROP"]

[netns.host.link.br0]
type = "bridge"
addr = ["192.168.9.1/24"]

[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0", hairpin = true }

[netns.host.link.veth2]
type = "veth"
peer = { name = "veth2_br", master = "br0" }

[netns.host.link."veth2.11"]
type = "vlan"
link = "veth2"
id = 11
up = false

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"
mode = "private"
addr = ["192.168.9.2/24"]
mtu = 1400

[netns.ns2.link.macvl2]
type = "macvlan"
link = "host/veth1"
address = "02:00:00:00:09:03"

[netns.empty]
"""


def box(text: str, netns: str) -> list[str]:
    """The lines of one namespace's box, border included."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"+-- netns {netns} "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("+-"))
    return lines[start : end + 1]


def row(text: str, netns: str, link: str) -> str:
    found = [line for line in box(text, netns) if line.startswith(f"| {link} ")]
    assert len(found) == 1, f"{netns}/{link} not in:\n{text}"
    return found[0]


def test_namespaces_are_boxes_of_one_width_in_spec_order() -> None:
    text = render(load_spec(SPEC))
    lines = text.splitlines()
    assert lines[0] == "topology <string>"
    heads = [line.split()[2] for line in lines if line.startswith("+-- netns ")]
    assert heads == ["host", "ns1", "ns2", "empty"]
    assert len({len(line) for line in lines[1:]}) == 1, text
    assert all(line[0] in "+|" and line[-1] in "+|" for line in lines[1:])
    assert text.isascii()
    assert box(text, "empty")[1].startswith("| (no links)")


def test_links_show_kind_mode_parent_ports_peers_and_addresses() -> None:
    text = render(load_spec(SPEC))
    br0 = row(text, "host", "br0")
    assert "bridge" in br0 and "ports veth1_br (hairpin), veth2_br" in br0 and "192.168.9.1/24" in br0
    assert "peer veth1_br" in row(text, "host", "veth1")
    port = row(text, "host", "veth1_br")
    assert "peer veth1" in port and "port of br0, hairpin on" in port
    assert "hairpin" not in row(text, "host", "veth2_br")
    vlan = row(text, "host", "veth2.11")
    assert "vlan 11" in vlan and "on veth2" in vlan and "DOWN" in vlan
    mv1 = row(text, "ns1", "macvl1")
    assert "macvlan private" in mv1 and "on host/veth1" in mv1 and "192.168.9.2/24" in mv1 and "mtu 1400" in mv1
    mv2 = row(text, "ns2", "macvl2")
    assert "macvlan vepa (default)" in mv2 and "02:00:00:00:09:03" in mv2


def test_namespace_settings_are_listed_under_its_links() -> None:
    host = "\n".join(box(render(load_spec(SPEC)), "host"))
    assert "- route default via 192.168.9.254" in host
    assert "- sysctl net.ipv4.ip_forward = 1" in host
    assert "- iptables: 1 rule(s)" in host


def test_live_facts_add_indexes_macs_kernel_modes_and_kept_names() -> None:
    spec = load_spec(SPEC)
    live = Live(
        links={
            LinkRef("ns1", "macvl1"): LiveLink(7, "aa:bb:cc:00:00:07", "private"),
            LinkRef("ns2", "macvl2"): LiveLink(8, "02:00:00:00:09:03", "vepa"),
        },
        netns_names={"ns1": "pmv-run-1-ns1"},
    )
    text = render(spec, live)
    assert "#7 aa:bb:cc:00:00:07" in row(text, "ns1", "macvl1")
    assert "macvlan vepa (default)" in row(text, "ns2", "macvl2")
    assert box(text, "ns1")[0].startswith("+-- netns ns1 = pmv-run-1-ns1 ")
    assert "=" not in box(text, "ns2")[0]


def test_live_of_reads_handles() -> None:
    class FakeLink:
        def __init__(self, ref: str, ifindex: int, mac: str, mode: str | None) -> None:
            self.ref, self.ifindex, self.mac, self.mode = ref, ifindex, mac, mode

    class FakeTopology:
        links = [FakeLink("ns2/macvl2", 9, "02:00:00:00:09:03", "bridge")]

    live = live_of(FakeTopology(), {"ns2": "pmv-x-ns2"})
    assert live.links[LinkRef("ns2", "macvl2")] == LiveLink(9, "02:00:00:00:09:03", "bridge")
    text = render(load_spec(SPEC), live)
    assert "macvlan bridge (default)" in row(text, "ns2", "macvl2")
    assert "pmv-x-ns2" in box(text, "ns2")[0]


def test_the_description_is_not_in_the_diagram() -> None:
    assert "hairpin, private siblings" not in render(load_spec(SPEC))

"""Topologies shared by several tests: fixture factories (docs/plugin.md)."""

from pytest_macvlan.plugin import factories

private = factories.topology("private.toml", scope="module")  # relative to this file
module_lab = factories.netlab(scope="module")

seen = set()


def test_one(private):
    seen.add(private["ns1"].inode)
    assert private.link("ns1/macvl1").mode == "private"


def test_two(private):
    seen.add(private["ns1"].inode)
    assert len(seen) == 1  # the same topology: built once for the module


def test_a_wider_lab(module_lab):
    topo = module_lab.build("[netns.a.link.br0]\ntype = 'bridge'\n")
    assert topo.link("a/br0").kind == "bridge"

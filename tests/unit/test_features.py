"""Kernel feature probing."""

from __future__ import annotations

from pytest_macvlan.kernel.features import Features, needs_of_kinds
from pytest_macvlan.spec.parse import load_spec


def test_lack_is_described_with_the_feature_and_the_kernels_answer() -> None:
    f = Features("6.18.0", frozenset({"veth", "macvlan"}), {"8021q": "Operation not supported: Unknown device type"})
    assert f.lacking(frozenset({"veth", "8021q"})) == ["8021q"]
    text = f.describe_lack(["8021q"])
    assert "kernel 6.18.0 lacks 8021q (802.1Q VLAN sub-interfaces" in text and "Unknown device type" in text
    assert f.header().startswith("veth macvlan -8021q")


def test_a_vlan_in_a_spec_needs_8021q() -> None:
    spec = load_spec(
        {
            "netns": {
                "a": {"link": {"v0": {"type": "veth", "peer": "v1"}, "v0.11": {"type": "vlan", "link": "v0", "id": 11}}}
            }
        }
    )
    assert needs_of_kinds(spec.kinds()) == {"veth", "8021q"}

"""The spec format's firewall examples (``iptables`` and ``nft`` of docs/examples/reference.toml,
shown in docs/spec.md) build, and the kernel then holds what they say (issue 12, item 10: the nft
example was a syntax error for nftables 1.0.6, Debian 12's, and no test built an ``nft`` spec)."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import KernelFeatureError, NetLab
from pytest_macvlan.kernel import features, firewall

REFERENCE = Path(__file__).parents[2] / "docs" / "examples" / "reference.toml"


def readme_netns(name: str) -> dict[str, Any]:
    ns: dict[str, Any] = tomllib.loads(REFERENCE.read_text())["netns"][name]
    return ns


@pytest.mark.skipif(shutil.which("iptables-restore") is None, reason="needs iptables (apt-get install iptables)")
def test_the_readme_iptables_example_builds() -> None:
    rules = readme_netns("host")["iptables"]
    spec = {"netns": {"S3": {"iptables": rules, "link": {"br0": {"type": "bridge"}}}}}
    with NetLab() as lab:
        topo = lab.build(spec)
        out = topo["S3"].run("iptables", "-w", "-S", "FORWARD").stdout
    assert "-P FORWARD DROP" in out and "-A FORWARD -i br0 -o br0 -j ACCEPT" in out, out


@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables (apt-get install nftables)")
def test_the_readme_nft_example_builds() -> None:
    script = readme_netns("host")["nft"]
    with NetLab() as lab:
        topo = lab.build({"netns": {"S3": {"nft": script}}})
        out = topo["S3"].run("nft", "list", "ruleset").stdout
    assert "table inet t" in out and "chain forward" in out and "hook forward" in out, out


def test_an_iptables_comment_of_dash_t_reaches_iptables_literally() -> None:
    if shutil.which("iptables-restore") is None:
        pytest.skip("needs iptables (apt-get install iptables)")
    rule = ["-A", "INPUT", "-m", "comment", "--comment", "-t", "-j", "ACCEPT"]
    quoted = ["-A", "INPUT", "-m", "comment", "--comment", 'a "quoted" -t nat # not a comment', "-j", "ACCEPT"]
    with NetLab() as lab:
        topo = lab.build({"netns": {"a": {"iptables": [rule, quoted]}}})
        out = topo["a"].run("iptables", "-w", "-S", "INPUT").stdout
    assert "-A INPUT -m comment --comment -t -j ACCEPT" in out, out
    assert '--comment "a \\"quoted\\" -t nat # not a comment"' in out, out


FORWARD_RULES = ["-P FORWARD DROP", "-I FORWARD 1 -i br0 -j ACCEPT"]


@pytest.fixture
def no_firewall(monkeypatch: pytest.MonkeyPatch) -> None:
    """This kernel as one where no iptables backend works (user-mode Linux 7.2): the feature
    probe's answer replaced, the kernel itself unchanged."""
    found = features.get()
    lacking = features.Features(found.kernel, found.have - {"iptables"}, {"iptables": "none here"}, firewall.NONE)
    monkeypatch.setattr(features, "_session", lacking)


@pytest.mark.skipif(shutil.which("iptables-restore") is None, reason="needs iptables (apt-get install iptables)")
def test_optional_rules_are_left_out_where_no_backend_works(no_firewall: None) -> None:
    spec = {
        "netns": {"S3": {"iptables": FORWARD_RULES, "iptables_optional": True, "link": {"br0": {"type": "bridge"}}}}
    }
    with NetLab() as lab:
        topo = lab.build(spec)
        out = topo["S3"].run("iptables", "-w", "-S", "FORWARD").stdout  # the machine's own backend still works
        with pytest.raises(KernelFeatureError, match=r"netns\.S3\.iptables: .*no iptables backend works here"):
            topo["S3"].iptables("-S")
    assert out.strip() == "-P FORWARD ACCEPT", out


def test_required_rules_fail_the_build_before_anything_is_made(no_firewall: None) -> None:
    before = set(os.listdir("/proc/self/fd"))
    spec = {
        "netns": {
            "a": {"iptables": FORWARD_RULES, "iptables_optional": True},
            "b": {"iptables": FORWARD_RULES, "link": {"br0": {"type": "bridge"}}},
        }
    }
    with NetLab() as lab, pytest.raises(KernelFeatureError, match=r"netns\.b\.iptables: no iptables backend"):
        lab.build(spec)
    assert set(os.listdir("/proc/self/fd")) <= before, "a namespace or socket was left open"

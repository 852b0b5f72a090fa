"""The spec format's firewall examples (``iptables`` and ``nft`` of docs/examples/reference.toml,
shown in docs/spec.md) build, and the kernel then holds what they say (issue 12, item 10: the nft
example was a syntax error for nftables 1.0.6, Debian 12's, and no test built an ``nft`` spec)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import NetLab

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

"""The validator knows the kernel's ranges and encodings; firewall arguments reach the firewall
literally; CLI names are checked like spec names. Issue 12, items 7, 8, 9 and 11.

Each refusal is a SpecError naming the entry, raised before anything touches the kernel (the
values below all used to pass validation and fail inside the build, or worse, succeed).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import SpecError, parse_spec
from pytest_macvlan.cli import main as cli
from pytest_macvlan.spec.namespaces import split_table
from pytest_macvlan.spec.sysctls import MACHINE_WIDE
from pytest_macvlan.topology.tools import iptables_restore_text

BRIDGE: dict[str, Any] = {
    "netns": {
        "a": {
            "link": {"br0": {"type": "bridge", "addr": ["192.168.9.1/24"]}},
            "route": [{"to": "10.138.36.0/23", "via": "192.168.9.254"}],
        }
    }
}


def with_(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BRIDGE)
    *parents, last = path.split("/")
    node: Any = spec
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return spec


def refused(spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(spec, "t.toml")
    return info.value


@pytest.mark.parametrize(
    ("path", "value", "entry", "words"),
    [
        ("netns/a/route/0/metric", 2**32, "netns.a.route[0].metric", "out of range 0-4294967295"),
        ("netns/a/route/0/metric", -1, "netns.a.route[0].metric", "out of range"),
        ("netns/a/link/br0/ageing_time", 2**40, "netns.a.link.br0.ageing_time", "u32"),
        ("netns/a/link/br0/mtu", 65536, "netns.a.link.br0.mtu", "65535"),
        ("netns/a/link/br0/mtu", 67, "netns.a.link.br0.mtu", "68"),
        ("netns/a/link/br0/mtu", 2**64, "netns.a.link.br0.mtu", "out of range"),
        ("netns/a/link/br0/address", "02:00:00:00:00:01\n", "netns.a.link.br0.address", "bad MAC"),
        ("netns/a/link/br0/addr", ["fe80::1%eth0/64"], "netns.a.link.br0.addr", "scope"),
        ("netns/a/route/0/via", "fe80::1%eth0", "netns.a.route[0].via", "scope"),
        ("netns/a/sysctl", {"net.ipv4.ip_forward\n": 1}, "netns.a.sysctl.'net.ipv4.ip_forward\\n'", "net."),
        ("netns/a/sysctl", {"net.ipv4.ip_forward": 2**64}, "netns.a.sysctl.net.ipv4.ip_forward", "64 bits"),
        ("netns/a/sysctl", {"net.ipv4.ip_forward": "1\n"}, "netns.a.sysctl.net.ipv4.ip_forward", "printable"),
        ("netns/a/sysctl", {1: 1}, "netns.a.sysctl.1", "a key must be a string"),
        ("netns/a/link", {("t",): {}}, "netns.a.link.('t',)", "a key must be a string"),
        ("netns/a/nft", "table inet t {}\0", "netns.a.nft", "NUL"),
    ],
)
def test_a_value_the_kernel_would_refuse_is_refused_naming_its_entry(
    path: str, value: Any, entry: str, words: str
) -> None:
    err = refused(with_(path, value))
    assert err.entry == entry and words in err.problem, str(err)


def test_names_are_matched_in_full_not_up_to_a_final_newline() -> None:
    err = refused({"netns": {"lab\n": {}}})
    assert err.entry == "netns.'lab\\n'" and "not allowed" in err.problem
    err = refused({"netns": {"a": {"link": {"v0\n": {"type": "bridge"}}}}})
    assert err.entry == "netns.a.link.'v0\\n'"
    err = refused({1: {}})
    assert err.entry == "(top level).1" and "a key must be a string" in err.problem


@pytest.mark.parametrize("key", sorted(MACHINE_WIDE))
def test_machine_wide_sysctls_are_refused(key: str) -> None:
    err = refused(with_("netns/a/sysctl", {key: 1}))
    assert err.entry == f"netns.a.sysctl.{key}" and "machine-wide" in err.problem, str(err)


def test_the_issues_example_of_a_machine_wide_sysctl_is_on_the_list() -> None:
    assert "net.netfilter.nf_hooks_lwtunnel" in MACHINE_WIDE
    assert "net.ipv4.neigh.default.gc_thresh3" in MACHINE_WIDE
    parse_spec(with_("netns/a/sysctl", {"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.rp_filter": 0}))


# -- iptables arguments are literal ---------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        ["-P", "INPUT", "DROP\n-A INPUT -j ACCEPT\n#"],
        ["-A", "INPUT", "-m", "comment", "--comment", "a\rb", "-j", "ACCEPT"],
        ["-A", "INPUT", "-j", "ACCEPT\x00"],
        "-A INPUT -j ACCEPT\n-A INPUT -j DROP",
        ["-P", "INPUT POLICY", "DROP"],
        ["-t", "nat\n", "-A", "POSTROUTING", "-j", "MASQUERADE"],
        ["-t", "evil", "-A", "INPUT", "-j", "ACCEPT"],
    ],
    ids=["newline-in-policy", "cr", "nul", "newline-in-string", "space-in-chain", "newline-in-table", "no-such-table"],
)
def test_an_argument_that_could_add_a_line_or_change_the_table_is_refused(rule: Any) -> None:
    err = refused(with_("netns/a/iptables", [rule]))
    assert err.entry.startswith("netns.a.iptables[0]"), str(err)


def test_the_table_is_taken_only_from_the_rules_first_argument() -> None:
    comment = ("-A", "INPUT", "-m", "comment", "--comment", "-t", "-j", "ACCEPT")
    text = iptables_restore_text([comment, ("-t", "nat", "-A", "POSTROUTING", "-j", "MASQUERADE")])
    assert text == (
        "*filter\n-A INPUT -m comment --comment -t -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n"
    )
    assert split_table(["--table=raw", "-A", "X"]) == ("raw", ["-A", "X"])
    assert split_table(["-tmangle", "-A", "X"]) == ("mangle", ["-A", "X"])
    assert split_table(["-A", "X", "-t", "nat"]) == (None, ["-A", "X", "-t", "nat"])
    parse_spec(with_("netns/a/iptables", [list(comment), "-A INPUT -m comment --comment '-t nat' -j ACCEPT"]))
    with pytest.raises(ValueError, match="control character"):
        iptables_restore_text([("-P", "INPUT", "DROP\n-A INPUT -j ACCEPT")])


# -- CLI names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lab\n", "lab\r", "a b", "-x", "../x", "x" * 33, "lab\t"])
def test_cli_up_refuses_a_bad_name_before_building(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pytest_macvlan.topology.lab as lab

    monkeypatch.setattr(lab.NetLab, "build", lambda *a, **k: pytest.fail("built despite a bad --name"))
    spec = tmp_path / "s.toml"
    spec.write_text("[netns.a]\n")
    assert cli.main(["up", str(spec), f"--name={name}"]) == cli.EXIT_USAGE
    assert "--name" in capsys.readouterr().err

"""Property (issue 12, item 7): a generated spec is either refused by the validator with a SpecError
naming an entry, before anything touches the kernel, or it builds and the kernel then shows
exactly what it says: the links (names, MTUs), the IPv4 addresses, the routes (with metrics up
to the u32 limit) and the sysctls. The values straddle the kernel's limits on purpose.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_macvlan import NetLab, SpecError, parse_spec
from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.spec.model import TopologySpec
from pytest_macvlan.spec.sysctls import RANGES
from pytest_macvlan.topology.handles import Topology

MTUS = st.one_of(st.none(), st.sampled_from([67, 68, 1280, 1500, 9000, 65535, 65536]))
METRICS = st.one_of(st.none(), st.sampled_from([0, 1, 1024, 2**31, 2**32 - 1, 2**32, -1]))
SYSCTLS = st.sampled_from([*sorted(RANGES), "net.netfilter.nf_hooks_lwtunnel", "net.ipv4.neigh.default.gc_thresh3"])


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    netns: dict[str, dict[str, Any]] = {f"n{i}": {"link": {}, "route": [], "sysctl": {}} for i in range(n)}
    host = iter(range(2, 250))
    ends: dict[str, list[str]] = {name: [] for name in netns}
    for k in range(draw(st.integers(0, 3))):
        a, b = f"n{draw(st.integers(0, n - 1))}", f"n{draw(st.integers(0, n - 1))}"
        link: dict[str, Any] = {"type": "veth", "peer": {"name": f"p{k}", "netns": b}}
        peer: dict[str, Any] = link["peer"]
        for table, name, where in ((link, f"v{k}", a), (peer, f"p{k}", b)):
            if (mtu := draw(MTUS)) is not None:
                table["mtu"] = mtu
            if draw(st.booleans()):
                table["addr"] = [f"192.168.9.{next(host)}/24"]
            ends[where].append(name)
        netns[a]["link"][f"v{k}"] = link
    for name, ns in netns.items():
        for r in range(draw(st.integers(0, 2)) if ends[name] else 0):
            route: dict[str, Any] = {"to": f"10.{r + 1}.0.0/16", "dev": draw(st.sampled_from(ends[name]))}
            if (metric := draw(METRICS)) is not None:
                route["metric"] = metric
            ns["route"].append(route)
        for key in draw(st.lists(SYSCTLS, max_size=2, unique=True)):
            lo, hi = RANGES.get(key, (0, 1))
            ns["sysctl"][key] = draw(st.integers(lo - 1, min(hi + 1, lo + 300)))
    return {"netns": netns}


def read_sysctl(fd: int, key: str) -> str:
    return nsmod.run_in(fd, lambda: nsmod.read_sysctl(key))


def kernel_view(topo: Topology, spec: TopologySpec) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for ns in spec.netns:
        handle = topo[ns.name]
        addrs = json.loads(handle.run("ip", "-j", "-4", "addr", "show").stdout)
        routes = json.loads(handle.run("ip", "-j", "-4", "route", "show", "table", "main").stdout)
        view[ns.name] = {
            "links": {i.name: i.mtu for i in handle.link_infos() if i.name != "lo"},
            "addrs": {
                (a["ifname"], f"{x['local']}/{x['prefixlen']}")
                for a in addrs
                for x in a["addr_info"]
                if a["ifname"] != "lo"
            },
            "routes": {(r["dst"], r["dev"], r.get("metric", 0)) for r in routes if r["dst"].startswith("10.")},
            "sysctl": {key: read_sysctl(handle.fd, key) for key, _ in ns.sysctl},
        }
    return view


def expected_view(spec: TopologySpec) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for ns in spec.netns:
        links = [link for link in spec.links if link.netns == ns.name]
        view[ns.name] = {
            "links": {link.name: link.mtu or 1500 for link in links},
            "addrs": {(link.name, str(a)) for link in links for a in link.addrs},
            "routes": {(str(r.to), r.dev, r.metric or 0) for r in ns.routes},
            "sysctl": dict(ns.sysctl),
        }
    return view


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_a_generated_spec_is_refused_naming_an_entry_or_built_exactly(doc: dict[str, Any]) -> None:
    try:
        spec = parse_spec(doc, "gen.toml")
    except SpecError as exc:
        assert exc.entry.startswith("netns."), str(exc)
        return
    with NetLab() as lab:
        topo = lab.build(spec)
        assert kernel_view(topo, spec) == expected_view(spec)

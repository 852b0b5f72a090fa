"""Property: whatever shape a spec has, the validator either accepts it or raises one SpecError
naming an entry; never another exception (TypeError, struct.error, OverflowError, ...).

The generated documents mix good and bad values for every kind of field (names with newlines,
non-string keys, integers past the kernel's widths, NaN, nested junk). Issue 12, item 7.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_macvlan import SpecError, TopologySpec, parse_spec

NAMES = st.sampled_from(["a", "b", "ns1", "lab\n", "a b", "-x", "x" * 33, "v0", "br0", "m1", "lo", "e\t", "ok.1"])
JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from([math.nan, "02:00:00:00:00:01\n", "192.168.9.2/24", "fe80::1%eth0/64", "\0", "default"]),
)
INTS = st.one_of(
    st.integers(min_value=-2, max_value=70),
    st.integers(min_value=4090, max_value=4100),
    st.integers(min_value=65530, max_value=65540),
    st.sampled_from([2**32 - 1, 2**32, 2**40, 2**64, -(2**63)]),
)
SYSCTL_KEYS = st.sampled_from(["net.ipv4.ip_forward", "net.netfilter.nf_hooks_lwtunnel", "kernel.x"])
IPT_ARGS = st.sampled_from(["-A", "-t", "nat", "x\ny", "-P"])
KEYS: st.SearchStrategy[Any] = st.one_of(NAMES, st.integers(0, 3), st.tuples(st.integers(0, 1)))


def link_table() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"type": st.sampled_from(["bridge", "veth", "macvlan", "vlan", "dummy", 3])},
        optional={
            "peer": st.one_of(NAMES, st.fixed_dictionaries({"name": NAMES}, optional={"netns": NAMES, "mtu": INTS})),
            "link": st.one_of(NAMES, st.sampled_from(["a/v0", "b/br0", "zz/v0"])),
            "mode": st.sampled_from(["private", "vepa", "bridge", "passthru", "source", "privat"]),
            "id": INTS,
            "mtu": INTS,
            "ageing_time": INTS,
            "address": st.one_of(JUNK, st.just("02:00:00:00:00:01")),
            "addr": st.one_of(JUNK, st.lists(st.sampled_from(["192.168.9.2/24", "10.138.36.1/23", "x/1"]))),
            "master": NAMES,
            "up": JUNK,
            "extra": JUNK,
        },
    )


def netns_table() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "link": st.one_of(JUNK, st.dictionaries(KEYS, link_table(), max_size=3)),
            "sysctl": st.dictionaries(
                st.one_of(
                    KEYS, st.sampled_from(["net.ipv4.ip_forward", "net.netfilter.nf_hooks_lwtunnel", "kernel.x"])
                ),
                st.one_of(JUNK, INTS),
                max_size=2,
            ),
            "iptables": st.lists(
                st.one_of(JUNK, st.lists(st.sampled_from(["-A", "-t", "nat", "x\ny", "-P"]))), max_size=2
            ),
            "route": st.lists(
                st.one_of(
                    JUNK,
                    st.fixed_dictionaries(
                        {"to": st.one_of(JUNK, st.just("10.138.36.0/23"))},
                        optional={"dev": NAMES, "via": JUNK, "metric": INTS},
                    ),
                ),
                max_size=2,
            ),
            "ipv6": JUNK,
        },
    )


DOCS = st.fixed_dictionaries(
    {"netns": st.one_of(JUNK, st.dictionaries(KEYS, netns_table(), max_size=3))},
    optional={"description": JUNK, "other": JUNK},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_a_spec_is_accepted_or_refused_with_one_spec_error_naming_an_entry(doc: dict[str, Any]) -> None:
    try:
        spec = parse_spec(doc, "gen.toml")
    except SpecError as exc:
        assert exc.problem and str(exc).startswith("gen.toml"), str(exc)
        assert exc.entry, f"no entry named: {exc}"
        return
    assert isinstance(spec, TopologySpec)

"""Generated topologies for the benchmarks (as spec dicts, parsed by the plugin's own parser)."""

from __future__ import annotations

from typing import Any


def macvlans_on_one_parent(n: int) -> dict[str, Any]:
    """One namespace: a veth pair (the parent ``p0`` and its peer) and ``n`` bridge-mode macvlans on ``p0``."""
    links: dict[str, Any] = {"p0": {"type": "veth", "peer": {"name": "p1"}}}
    for i in range(n):
        links[f"m{i}"] = {"type": "macvlan", "link": "p0", "mode": "bridge"}
    return {"description": f"{n} macvlans on one parent", "netns": {"host": {"link": links}}}


def namespaces(n: int) -> dict[str, Any]:
    """``n`` namespaces: a hub with a veth pair whose end ``p0`` is the parent of one bridge-mode
    macvlan (with an address) in each of the other ``n - 1`` namespaces, as containers on one NIC."""
    netns: dict[str, Any] = {"hub": {"link": {"p0": {"type": "veth", "peer": {"name": "p1"}}}}}
    for i in range(n - 1):
        netns[f"c{i}"] = {
            "link": {
                "eth0": {
                    "type": "macvlan",
                    "link": "hub/p0",
                    "mode": "bridge",
                    "addr": [f"10.{i // 250}.{i % 250}.{2 + i % 250}/8"],
                }
            }
        }
    return {"description": f"{n} namespaces", "netns": netns}


def latency() -> dict[str, Any]:
    """The two paths a frame is timed on: a veth pair (``a/a0`` -> ``b/b0``) and two bridge-mode
    macvlans on one parent (``c/m1`` -> ``d/m2``, through the parent ``h/p0``)."""
    return {
        "description": "send-to-capture paths",
        "netns": {
            "a": {"link": {"a0": {"type": "veth", "addr": ["10.9.0.1/24"], "peer": {"name": "b0", "netns": "b"}}}},
            "b": {"link": {}},
            "h": {"link": {"p0": {"type": "veth", "peer": {"name": "p1"}}}},
            "c": {"link": {"m1": {"type": "macvlan", "link": "h/p0", "mode": "bridge", "addr": ["10.9.1.1/24"]}}},
            "d": {"link": {"m2": {"type": "macvlan", "link": "h/p0", "mode": "bridge", "addr": ["10.9.1.2/24"]}}},
        },
    }

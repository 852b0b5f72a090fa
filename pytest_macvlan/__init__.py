"""pytest-macvlan: real-kernel network topologies (netns, bridge, veth, VLAN, macvlan) for tests.

``pytest -p pytest_macvlan`` loads the plugin (:mod:`pytest_macvlan.plugin`) through
``pytest_plugins`` below. Names are imported lazily, so loading the plugin costs little and
imports neither pyroute2 nor scapy until a topology is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

pytest_plugins = ["pytest_macvlan.plugin", "pytest_macvlan.claims", "pytest_macvlan.debugging"]

_EXPORTS = {
    "build": "build",
    "Capture": "capture",
    "Frame": "frames",
    "NetLab": "lab",
    "load_spec": "parse",
    "parse_spec": "parse",
    "PingResult": "proc",
    "TopologySpec": "spec",
    "Link": "topology",
    "Netns": "topology",
    "Topology": "topology",
    **{
        name: "errors"
        for name in ("BuildError", "ClosedError", "KernelFeatureError", "MacvlanError", "SpecError", "WaitTimeout")
    },
    **{
        name: "predicates"
        for name in (
            "Pred",
            "arp",
            "arp_reply",
            "arp_request",
            "broadcast",
            "dst_mac",
            "icmp_echo_reply",
            "icmp_echo_request",
            "icmp_unreachable",
            "incoming",
            "ipv4",
            "mac",
            "outgoing",
            "src_mac",
            "vlan",
        )
    },
}
__all__ = [
    "BuildError",
    "Capture",
    "ClosedError",
    "Frame",
    "KernelFeatureError",
    "Link",
    "MacvlanError",
    "NetLab",
    "Netns",
    "PingResult",
    "Pred",
    "SpecError",
    "Topology",
    "TopologySpec",
    "WaitTimeout",
    "arp",
    "arp_reply",
    "arp_request",
    "broadcast",
    "build",
    "dst_mac",
    "icmp_echo_reply",
    "icmp_echo_request",
    "icmp_unreachable",
    "incoming",
    "ipv4",
    "load_spec",
    "mac",
    "outgoing",
    "parse_spec",
    "src_mac",
    "vlan",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_macvlan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .build import build
    from .capture import Capture
    from .errors import BuildError, ClosedError, KernelFeatureError, MacvlanError, SpecError, WaitTimeout
    from .frames import Frame
    from .lab import NetLab
    from .parse import load_spec, parse_spec
    from .predicates import (
        Pred,
        arp,
        arp_reply,
        arp_request,
        broadcast,
        dst_mac,
        icmp_echo_reply,
        icmp_echo_request,
        icmp_unreachable,
        incoming,
        ipv4,
        mac,
        outgoing,
        src_mac,
        vlan,
    )
    from .proc import PingResult
    from .spec import TopologySpec
    from .topology import Link, Netns, Topology

"""pytest-macvlan: real-kernel network topologies (netns, bridge, veth, VLAN, macvlan) for tests.

``pytest -p pytest_macvlan`` loads the plugin (:mod:`pytest_macvlan.plugin`) through
``pytest_plugins`` below. Names are imported lazily, so loading the plugin costs little and
imports neither pyroute2 nor scapy until a topology is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

pytest_plugins = ["pytest_macvlan.plugin.core", "pytest_macvlan.plugin.claims", "pytest_macvlan.plugin.failures"]

_EXPORTS = {
    "build": "topology.lab",
    "Capture": "capture.sniffer",
    "Frame": "capture.frames",
    "NetLab": "topology.lab",
    "load_spec": "spec.parse",
    "parse_spec": "spec.parse",
    "PingResult": "kernel.processes",
    "TopologySpec": "spec.model",
    "Link": "topology.handles",
    "Netns": "topology.handles",
    "Topology": "topology.handles",
    "Process": "kernel.processes",
    "wait_until": "wait",
    "MAX_TIMEOUT": "wait",
    **{
        name: "errors"
        for name in ("BuildError", "ClosedError", "KernelFeatureError", "MacvlanError", "SpecError", "WaitTimeout")
    },
    **{
        name: "capture.predicates"
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
    "MAX_TIMEOUT",
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
    "Process",
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
    "wait_until",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_macvlan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .capture.frames import Frame
    from .capture.predicates import (
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
    from .capture.sniffer import Capture
    from .errors import BuildError, ClosedError, KernelFeatureError, MacvlanError, SpecError, WaitTimeout
    from .kernel.processes import PingResult, Process
    from .spec.model import TopologySpec
    from .spec.parse import load_spec, parse_spec
    from .topology.handles import Link, Netns, Topology
    from .topology.lab import NetLab, build
    from .wait import MAX_TIMEOUT, wait_until

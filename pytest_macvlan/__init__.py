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
    "wait_until": "wait",
    **{
        name: "kernel.queries"
        for name in ("Address", "BridgeVlan", "FdbEntry", "LinkState", "MdbEntry", "Neighbour", "Route")
    },
    **{
        name: "errors"
        for name in (
            "BuildError",
            "ChangeError",
            "ClosedError",
            "KernelFeatureError",
            "MacvlanError",
            "SpecError",
            "WaitTimeout",
        )
    },
    **{
        name: "capture.predicates"
        for name in (
            "ANY",
            "arp",
            "arp_reply",
            "arp_request",
            "as_pred",
            "broadcast",
            "dad",
            "direction",
            "dst_mac",
            "ethertype",
            "icmp_echo_reply",
            "icmp_echo_request",
            "icmp_unreachable",
            "icmpv6",
            "icmpv6_echo_reply",
            "icmpv6_echo_request",
            "igmp",
            "igmp_leave",
            "igmp_query",
            "igmp_report",
            "incoming",
            "ipv4",
            "ipv6",
            "mac",
            "mld",
            "mld_done",
            "mld_query",
            "mld_report",
            "multicast",
            "nd_advertisement",
            "nd_solicitation",
            "outgoing",
            "Pred",
            "router_advertisement",
            "router_solicitation",
            "src_mac",
            "tcp",
            "udp",
            "vlan",
        )
    },
}
__all__ = [
    "ANY",
    "Address",
    "BridgeVlan",
    "BuildError",
    "Capture",
    "ChangeError",
    "ClosedError",
    "FdbEntry",
    "Frame",
    "KernelFeatureError",
    "Link",
    "LinkState",
    "MacvlanError",
    "MdbEntry",
    "Neighbour",
    "NetLab",
    "Netns",
    "PingResult",
    "Pred",
    "Route",
    "SpecError",
    "Topology",
    "TopologySpec",
    "WaitTimeout",
    "arp",
    "arp_reply",
    "arp_request",
    "as_pred",
    "broadcast",
    "build",
    "dad",
    "direction",
    "dst_mac",
    "ethertype",
    "icmp_echo_reply",
    "icmp_echo_request",
    "icmp_unreachable",
    "icmpv6",
    "icmpv6_echo_reply",
    "icmpv6_echo_request",
    "igmp",
    "igmp_leave",
    "igmp_query",
    "igmp_report",
    "incoming",
    "ipv4",
    "ipv6",
    "load_spec",
    "mac",
    "mld",
    "mld_done",
    "mld_query",
    "mld_report",
    "multicast",
    "nd_advertisement",
    "nd_solicitation",
    "outgoing",
    "parse_spec",
    "router_advertisement",
    "router_solicitation",
    "src_mac",
    "tcp",
    "udp",
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
        ANY,
        Pred,
        arp,
        arp_reply,
        arp_request,
        as_pred,
        broadcast,
        dad,
        direction,
        dst_mac,
        ethertype,
        icmp_echo_reply,
        icmp_echo_request,
        icmp_unreachable,
        icmpv6,
        icmpv6_echo_reply,
        icmpv6_echo_request,
        igmp,
        igmp_leave,
        igmp_query,
        igmp_report,
        incoming,
        ipv4,
        ipv6,
        mac,
        mld,
        mld_done,
        mld_query,
        mld_report,
        multicast,
        nd_advertisement,
        nd_solicitation,
        outgoing,
        router_advertisement,
        router_solicitation,
        src_mac,
        tcp,
        udp,
        vlan,
    )
    from .capture.sniffer import Capture
    from .errors import BuildError, ChangeError, ClosedError, KernelFeatureError, MacvlanError, SpecError, WaitTimeout
    from .kernel.processes import PingResult
    from .kernel.queries import Address, BridgeVlan, FdbEntry, LinkState, MdbEntry, Neighbour, Route
    from .spec.model import TopologySpec
    from .spec.parse import load_spec, parse_spec
    from .topology.handles import Link, Netns, Topology
    from .topology.lab import NetLab, build
    from .wait import wait_until

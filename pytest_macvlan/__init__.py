"""pytest-macvlan: real-kernel network topologies (netns, bridge, veth, VLAN, macvlan) for tests.

``pytest -p pytest_macvlan`` loads the plugin (:mod:`pytest_macvlan.plugin`) through
``pytest_plugins`` below. Names are imported lazily, so loading the plugin costs little and
imports no scapy until a frame is built or dissected (and never pyroute2).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

pytest_plugins = [
    "pytest_macvlan.plugin.core",
    "pytest_macvlan.plugin.claims",
    "pytest_macvlan.plugin.failures",
    "pytest_macvlan.plugin.htmlreport",
    "pytest_macvlan.plugin.shard",
]

_EXPORTS = {
    "build": "topology.lab",
    "Capture": "capture.sniffer",
    "Frame": "capture.frames",
    "ethernet": "capture.send",
    "NetLab": "topology.lab",
    "load_spec": "spec.parse",
    "parse_spec": "spec.parse",
    "PingResult": "kernel.ping",
    "TopologySpec": "spec.model",
    "Link": "topology.handles",
    "Netns": "topology.handles",
    "Topology": "topology.handles",
    "Process": "kernel.processes",
    "MAX_TIMEOUT": "wait",
    "wait_until": "wait",
    **{
        name: "kernel.records"
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
__all__ = sorted(_EXPORTS)  # the names are listed once above; the typed imports below mirror them


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_macvlan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # the same names, typed, for mypy and editors (re-exported: `X as X`)
    from .capture.frames import Frame as Frame
    from .capture.predicates import ANY as ANY
    from .capture.predicates import Pred as Pred
    from .capture.predicates import arp as arp
    from .capture.predicates import arp_reply as arp_reply
    from .capture.predicates import arp_request as arp_request
    from .capture.predicates import as_pred as as_pred
    from .capture.predicates import broadcast as broadcast
    from .capture.predicates import dad as dad
    from .capture.predicates import direction as direction
    from .capture.predicates import dst_mac as dst_mac
    from .capture.predicates import ethertype as ethertype
    from .capture.predicates import icmp_echo_reply as icmp_echo_reply
    from .capture.predicates import icmp_echo_request as icmp_echo_request
    from .capture.predicates import icmp_unreachable as icmp_unreachable
    from .capture.predicates import icmpv6 as icmpv6
    from .capture.predicates import icmpv6_echo_reply as icmpv6_echo_reply
    from .capture.predicates import icmpv6_echo_request as icmpv6_echo_request
    from .capture.predicates import igmp as igmp
    from .capture.predicates import igmp_leave as igmp_leave
    from .capture.predicates import igmp_query as igmp_query
    from .capture.predicates import igmp_report as igmp_report
    from .capture.predicates import incoming as incoming
    from .capture.predicates import ipv4 as ipv4
    from .capture.predicates import ipv6 as ipv6
    from .capture.predicates import mac as mac
    from .capture.predicates import mld as mld
    from .capture.predicates import mld_done as mld_done
    from .capture.predicates import mld_query as mld_query
    from .capture.predicates import mld_report as mld_report
    from .capture.predicates import multicast as multicast
    from .capture.predicates import nd_advertisement as nd_advertisement
    from .capture.predicates import nd_solicitation as nd_solicitation
    from .capture.predicates import outgoing as outgoing
    from .capture.predicates import router_advertisement as router_advertisement
    from .capture.predicates import router_solicitation as router_solicitation
    from .capture.predicates import src_mac as src_mac
    from .capture.predicates import tcp as tcp
    from .capture.predicates import udp as udp
    from .capture.predicates import vlan as vlan
    from .capture.send import ethernet as ethernet
    from .capture.sniffer import Capture as Capture
    from .errors import BuildError as BuildError
    from .errors import ChangeError as ChangeError
    from .errors import ClosedError as ClosedError
    from .errors import KernelFeatureError as KernelFeatureError
    from .errors import MacvlanError as MacvlanError
    from .errors import SpecError as SpecError
    from .errors import WaitTimeout as WaitTimeout
    from .kernel.ping import PingResult as PingResult
    from .kernel.processes import Process as Process
    from .kernel.records import Address as Address
    from .kernel.records import BridgeVlan as BridgeVlan
    from .kernel.records import FdbEntry as FdbEntry
    from .kernel.records import LinkState as LinkState
    from .kernel.records import MdbEntry as MdbEntry
    from .kernel.records import Neighbour as Neighbour
    from .kernel.records import Route as Route
    from .spec.model import TopologySpec as TopologySpec
    from .spec.parse import load_spec as load_spec
    from .spec.parse import parse_spec as parse_spec
    from .topology.handles import Link as Link
    from .topology.handles import Netns as Netns
    from .topology.handles import Topology as Topology
    from .topology.lab import NetLab as NetLab
    from .topology.lab import build as build
    from .wait import MAX_TIMEOUT as MAX_TIMEOUT
    from .wait import wait_until as wait_until

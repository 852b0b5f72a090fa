"""TEMPORARY: a stand-in for ``Topology.apply`` until main has it (the lead's live-network work).

It applies only what scenarios/ use (addresses on existing links, routes, neighbours, iptables
rules) with ``ip``/``iptables`` inside the namespaces. Removed when main's ``topo.apply`` lands.
"""

from __future__ import annotations

import tomllib
from typing import Any

from pytest_macvlan.topology.handles import Topology


def _apply(self: Topology, fragment: str | dict[str, Any]) -> None:
    data = tomllib.loads(fragment) if isinstance(fragment, str) else fragment
    for ns_name, ns in data.get("netns", {}).items():
        netns = self[ns_name]
        for link_name, link in ns.get("link", {}).items():
            for addr in link.get("addr", []):
                netns.run("ip", "addr", "add", addr, "dev", link_name)
        for route in ns.get("route", []):
            argv = ["ip", "route", "add", route["to"]]
            argv += ["via", route["via"]] if "via" in route else []
            argv += ["dev", route["dev"]] if "dev" in route else []
            netns.run(*argv)
        for neigh in ns.get("neigh", []):
            lladdr = neigh["lladdr"]
            mac = self.link(lladdr).mac if "/" in lladdr else lladdr
            netns.run("ip", "neigh", "replace", neigh["to"], "lladdr", mac, "dev", neigh["dev"], "nud", "permanent")
        for rule in ns.get("iptables", []):
            netns.iptables(*rule.split())


if not hasattr(Topology, "apply"):
    Topology.apply = _apply  # type: ignore[attr-defined]

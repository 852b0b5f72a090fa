"""Fragments: what a test adds to a live topology, in the spec's own vocabulary.

``topo.apply(fragment)`` takes a document shaped like a spec. It may add namespaces, links
(anywhere, stacked on links that exist), addresses of existing links, and a namespace's
routes, neighbour entries, sysctls and firewall rules. It is merged into the document the
topology was built from and the result is validated as a whole, so a fragment's link may name
a parent or master the topology already has; an error names the fragment's own entry. What
the fragment adds comes back as a :class:`Delta` for the builder.

A fragment does not change what exists (a link's type, mode, MAC...): that is
:meth:`~pytest_macvlan.topology.links.Link.set`'s job, and the fragment is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_macvlan.errors import SpecError
from pytest_macvlan.spec.model import IPInterface, LinkRef, LinkSpec, NetnsSpec, TopologySpec
from pytest_macvlan.spec.parse import parse_spec

#: Namespace keys whose lists a fragment extends.
_APPENDED = ("route", "neigh", "iptables", "fdb")


@dataclass(frozen=True)
class Delta:
    """What a fragment adds: new namespaces (whole), new links, addresses of existing links, and
    for every namespace it touches a :class:`NetnsSpec` holding only the added items."""

    new_netns: frozenset[str]
    netns: tuple[NetnsSpec, ...]
    links: tuple[LinkSpec, ...]
    addrs: tuple[tuple[LinkRef, IPInterface], ...]

    @staticmethod
    def whole(spec: TopologySpec) -> Delta:
        """Everything ``spec`` declares (a first build)."""
        return Delta(frozenset(ns.name for ns in spec.netns), spec.netns, spec.links, ())


def merge(base: TopologySpec, fragment: Mapping[str, Any], source: str) -> tuple[TopologySpec, Delta]:
    """Validate ``fragment`` against ``base``; return the merged spec and what the fragment adds."""
    merged_doc = _merge_documents(base, fragment, source)
    merged = parse_spec(merged_doc, source)
    merged = replace(merged, source=base.source)
    return merged, _delta(base, merged)


def _merge_documents(base: TopologySpec, fragment: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(fragment, Mapping):
        raise SpecError(source, "(top level)", "a fragment must be a table")
    for key in fragment:
        if key != "netns":
            raise SpecError(source, str(key), "a fragment may only hold [netns.NAME...] tables")
    doc = copy.deepcopy(dict(base.raw))
    all_netns = doc.setdefault("netns", {})
    frag_netns = fragment.get("netns", {})
    if not isinstance(frag_netns, Mapping):
        raise SpecError(source, "netns", "must be a table")
    existing_refs = {link.ref for link in base.links}
    for ns_name, ns_table in frag_netns.items():
        entry = f"netns.{ns_name}"
        if not isinstance(ns_name, str) or not isinstance(ns_table, Mapping):
            raise SpecError(source, entry, "must be a table named by a string")
        if ns_name not in all_netns:
            all_netns[ns_name] = copy.deepcopy(dict(ns_table))
            continue
        target = all_netns[ns_name]
        for key, value in ns_table.items():
            where = f"{entry}.{key}"
            if key == "link":
                if not isinstance(value, Mapping):
                    raise SpecError(source, where, "must be a table")
                links = target.setdefault("link", {})
                for link_name, link_table in value.items():
                    if LinkRef(ns_name, str(link_name)) in existing_refs:
                        _extend_link(links, str(link_name), link_table, source, f"{where}.{link_name}")
                    else:
                        links[link_name] = copy.deepcopy(link_table)
            elif key in _APPENDED:
                old = target.get(key, [])
                new = value if isinstance(value, list) else [value]
                target[key] = [*(old if isinstance(old, list) else [old]), *copy.deepcopy(new)]
            elif key == "sysctl":
                if not isinstance(value, Mapping):
                    raise SpecError(source, where, "must be a table")
                target.setdefault("sysctl", {}).update(value)
            elif key == "nft" and "nft" not in target:
                target["nft"] = value
            else:
                raise SpecError(source, where, f"namespace {ns_name!r} exists; a fragment cannot change its {key!r}")
    return doc


def _extend_link(links: dict[str, Any], name: str, table: object, source: str, entry: str) -> None:
    """An existing link may only gain addresses (declared where it was: a veth peer's addresses
    live in its veth's table, so those are refused with a pointer to ``Link.add_address``)."""
    if not isinstance(table, Mapping) or set(table) - {"addr"}:
        raise SpecError(source, entry, "the link exists; change it with Link.set(), add addresses with 'addr'")
    if name not in links:
        raise SpecError(source, entry, "the link is a veth peer; add its addresses with Link.add_address()")
    addrs = table.get("addr", [])
    old = links[name].get("addr", [])
    links[name]["addr"] = [*(old if isinstance(old, list) else [old]), *(addrs if isinstance(addrs, list) else [addrs])]


def _delta(base: TopologySpec, merged: TopologySpec) -> Delta:
    base_ns = {ns.name: ns for ns in base.netns}
    base_links = {link.ref: link for link in base.links}
    new_netns = frozenset(ns.name for ns in merged.netns if ns.name not in base_ns)
    links = tuple(link for link in merged.links if link.ref not in base_links)
    addrs = tuple(
        (link.ref, a)
        for link in merged.links
        if link.ref in base_links
        for a in link.addrs
        if a not in base_links[link.ref].addrs
    )
    netns: list[NetnsSpec] = []
    for ns in merged.netns:
        old = base_ns.get(ns.name)
        if old is None:
            netns.append(ns)
            continue
        added = replace(
            ns,
            sysctl=tuple(kv for kv in ns.sysctl if kv not in old.sysctl),
            iptables=ns.iptables[len(old.iptables) :],
            nft=ns.nft if old.nft is None else None,
            routes=ns.routes[len(old.routes) :],
            neighs=ns.neighs[len(old.neighs) :],
            fdb=ns.fdb[len(old.fdb) :],
        )
        if added.sysctl or added.iptables or added.nft or added.routes or added.neighs or added.fdb:
            netns.append(added)
    return Delta(new_netns, tuple(netns), links, addrs)

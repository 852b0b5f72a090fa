"""Turn a TOML file, TOML text or a dict into a validated :class:`TopologySpec`.

Every problem is reported as a :class:`SpecError` naming the source, the entry and what is
wrong, before anything touches the kernel. The spec format is documented in docs/spec.md.

The document is read in three parts: :mod:`.fields` (typed values), :mod:`.links` (each link
kind) and :mod:`.namespaces` (a namespace's own keys); :class:`_Parser` joins them.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_macvlan.errors import SpecError
from pytest_macvlan.spec.fields import shown
from pytest_macvlan.spec.links import LinkFields
from pytest_macvlan.spec.model import (
    LinkRef,
    LinkSpec,
    TopologySpec,
)
from pytest_macvlan.spec.names import netns_name_problem
from pytest_macvlan.spec.namespaces import NETNS_KEYS, NetnsFields

SpecSource = str | os.PathLike[str] | Mapping[str, Any]

_TOP_KEYS = {"netns", "description"}


def load_spec(source: SpecSource, *, base: Path | None = None) -> TopologySpec:
    """Load and validate a spec from a path, TOML text, or a dict.

    A string that contains no newline and ends in ``.toml`` is a path (relative to ``base``
    when given); any other string is TOML text.
    """
    data, name = read_document(source, base=base)
    return parse_spec(data, name)


def read_document(source: SpecSource, *, base: Path | None = None) -> tuple[Mapping[str, Any], str]:
    """The document ``source`` holds (not validated yet) and the name messages give it."""
    if isinstance(source, Mapping):
        return source, "<dict>"
    if isinstance(source, str) and ("\n" in source or not source.endswith(".toml")):
        return _toml(source, "<string>"), "<string>"
    path = Path(source)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read spec: {exc.strerror or exc}") from None
    return _toml(text, str(path)), str(path)


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "", f"TOML syntax error: {exc}") from None


def parse_spec(data: Mapping[str, Any], source: str = "<dict>") -> TopologySpec:
    """Validate ``data`` (the TOML document's shape) into a :class:`TopologySpec`."""
    return _Parser(source).parse(data)


class _Parser(LinkFields, NetnsFields):
    """The whole document: namespaces, their links, then each namespace's own keys."""

    def parse(self, data: Mapping[str, Any]) -> TopologySpec:
        data = self.table(data, "(top level)")
        self.keys(data, _TOP_KEYS, "", "a spec")
        description = self.typed(data, "description", str, "description") or ""
        all_netns = self.table(data.get("netns", {}), "netns")
        if not all_netns:
            raise self.fail("netns", "a spec needs at least one namespace ([netns.NAME])")
        for name in all_netns:
            problem = netns_name_problem(name)
            if problem:
                raise self.fail(f"netns.{shown(name)}", problem)
        names = set(all_netns)

        links: dict[LinkRef, LinkSpec] = {}
        for ns_name, ns_table in all_netns.items():
            entry = f"netns.{ns_name}"
            ns_table = self.table(ns_table, entry)
            self.keys(ns_table, NETNS_KEYS, entry, "a namespace")
            for link_name, link_table in self.table(ns_table.get("link", {}), f"{entry}.link").items():
                for spec in self.link(ns_name, link_name, link_table, names):
                    if spec.ref in links:
                        raise self.fail(
                            spec.entry,
                            f"duplicate interface name {spec.name!r} in namespace {ns_name!r} "
                            f"(also {links[spec.ref].entry})",
                        )
                    links[spec.ref] = spec
        self.bond_members(links)
        self.check_links(links)
        netns = tuple(self.netns(n, self.table(t, f"netns.{n}"), links) for n, t in all_netns.items())
        return TopologySpec(self.source, netns, tuple(links.values()), description, raw=copy.deepcopy(dict(data)))

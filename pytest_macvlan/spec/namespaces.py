"""A spec's namespaces: sysctls, firewall rules, routes, neighbour and FDB entries."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from ipaddress import ip_network
from typing import Any

from pytest_macvlan.spec.fields import MAC_RE, FieldReader, shown, typename
from pytest_macvlan.spec.model import (
    FdbSpec,
    IPNetwork,
    LinkRef,
    LinkSpec,
    NeighSpec,
    NetnsSpec,
    RouteSpec,
)
from pytest_macvlan.spec.names import split_ref
from pytest_macvlan.spec.sysctls import machine_wide, range_problem

_SYSCTL_KEY = re.compile(r"net(\.[A-Za-z0-9_/-]+)+")

_CHAIN_WORD = re.compile(r"[A-Za-z0-9_.-]{1,28}")

#: A sysctl value written as an integer: the widest the kernel's handlers parse (unsigned long).
SYSCTL_INT_MIN, SYSCTL_INT_MAX = -(2**63), 2**64 - 1

NETNS_KEYS = {
    "link",
    "ipv6",
    "nodad",
    "sysctl",
    "iptables",
    "iptables_optional",
    "nft",
    "route",
    "neigh",
    "fdb",
    "emulates",
}

_ROUTE_KEYS = {"to", "via", "dev", "metric"}

_NEIGH_KEYS = {"to", "lladdr", "dev"}

_FDB_KEYS = {"lladdr", "dev", "self", "state", "sticky", "vlan", "dst"}

IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")


class NetnsFields(FieldReader):
    """Parses a ``[netns.NAME]`` table's own keys into a :class:`NetnsSpec`."""

    def netns(self, name: str, t: Mapping[str, Any], links: dict[LinkRef, LinkSpec]) -> NetnsSpec:
        """A namespace's own keys: sysctls, firewall, routes, neighbour and FDB entries."""
        entry = f"netns.{name}"
        ipv6 = self.typed(t, "ipv6", bool, entry)
        sysctl = []
        for key, value in self.table(t.get("sysctl", {}), f"{entry}.sysctl").items():
            if not _SYSCTL_KEY.fullmatch(key) or ".." in key:
                raise self.fail(
                    f"{entry}.sysctl.{shown(key)}", "only network sysctls ('net.…') can be set per namespace"
                )
            why = machine_wide(key)
            if why:
                raise self.fail(f"{entry}.sysctl.{key}", f"{key} is machine-wide, not per namespace: {why}")
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, (int, str)) or (isinstance(value, str) and not value.isprintable()):
                raise self.fail(
                    f"{entry}.sysctl.{key}",
                    f"value must be an integer or a printable string, not {typename(value)} {value!r}",
                )
            if isinstance(value, int) and not SYSCTL_INT_MIN <= value <= SYSCTL_INT_MAX:
                raise self.fail(f"{entry}.sysctl.{key}", f"{value} is outside any sysctl's range (64 bits)")
            problem = range_problem(key, value)
            if problem:
                raise self.fail(f"{entry}.sysctl.{key}", problem)
            sysctl.append((key, str(value)))
        iptables = tuple(self.rule(r, f"{entry}.iptables[{i}]") for i, r in enumerate(self.list(t, "iptables", entry)))
        nft = self.typed(t, "nft", str, entry)
        if nft is not None and "\0" in nft:
            raise self.fail(f"{entry}.nft", "an nft script cannot contain a NUL character")
        routes = tuple(
            self.route(name, self.table(r, f"{entry}.route[{i}]"), f"{entry}.route[{i}]", links)
            for i, r in enumerate(self.list(t, "route", entry))
        )
        neighs = tuple(
            self.neigh(name, self.table(n, f"{entry}.neigh[{i}]"), f"{entry}.neigh[{i}]", links)
            for i, n in enumerate(self.list(t, "neigh", entry))
        )
        fdb = tuple(
            self.fdb(name, self.table(f, f"{entry}.fdb[{i}]"), f"{entry}.fdb[{i}]", links)
            for i, f in enumerate(self.list(t, "fdb", entry))
        )
        nodad = bool(self.typed(t, "nodad", bool, entry))
        emulates = self.typed(t, "emulates", str, entry)
        if emulates is not None and not emulates.strip():
            raise self.fail(f"{entry}.emulates", "say what the namespace stands for, or leave the key out")
        optional = bool(self.typed(t, "iptables_optional", bool, entry))
        if optional and not iptables:
            raise self.fail(f"{entry}.iptables_optional", "there are no iptables rules to make optional")
        return NetnsSpec(
            name, entry, bool(ipv6), tuple(sysctl), iptables, nft, routes, neighs, fdb, nodad, emulates, optional
        )

    def fdb(self, ns: str, t: Mapping[str, Any], entry: str, links: dict[LinkRef, LinkSpec]) -> FdbSpec:
        """One static FDB entry of a bridge port (or a device's own table with ``self``)."""
        self.keys(t, _FDB_KEYS, entry, "an FDB entry")
        if "lladdr" not in t:
            raise self.fail(entry, "missing 'lladdr' (the MAC address of the entry)")
        lladdr = t["lladdr"]
        if not isinstance(lladdr, str) or not MAC_RE.match(lladdr):
            raise self.fail(f"{entry}.lladdr", f"bad MAC address {lladdr!r}")
        dev = self.dev(ns, t, entry, links, required=True)
        assert dev is not None
        spec = links[LinkRef(ns, dev)]
        own = bool(self.typed(t, "self", bool, entry))
        if not own and spec.master is None:
            raise self.fail(f"{entry}.dev", f"{dev!r} is not a bridge port: give 'self = true' for its own table")
        if not own and links[LinkRef(ns, spec.master or "")].kind != "bridge":
            raise self.fail(f"{entry}.dev", f"{dev!r} is not a bridge port (its master is not a bridge)")
        state = self.typed(t, "state", str, entry) or "static"
        if state not in ("static", "dynamic", "permanent"):
            raise self.fail(f"{entry}.state", f"unknown FDB state {state!r} (static, dynamic or permanent)")
        vid = self.typed(t, "vlan", int, entry)
        if vid is not None and not 1 <= vid <= 4094:
            raise self.fail(f"{entry}.vlan", f"VLAN id {vid} is out of range 1-4094")
        dst = self.address(t["dst"], f"{entry}.dst") if "dst" in t else None
        if dst is not None and spec.kind != "vxlan":
            raise self.fail(f"{entry}.dst", "'dst' (a remote VTEP) applies to a vxlan device's own table")
        return FdbSpec(
            entry,
            lladdr.lower(),
            dev,
            master=not own,
            state=state,
            sticky=bool(self.typed(t, "sticky", bool, entry)),
            vlan=vid,
            dst=dst,
        )

    def rule(self, rule: object, entry: str) -> tuple[str, ...]:
        """One iptables rule (a string split as a shell would, or a list): literal arguments, no control chars."""
        if isinstance(rule, str):
            try:
                argv = shlex.split(rule)
            except ValueError as exc:
                raise self.fail(entry, f"cannot split rule {rule!r}: {exc}") from None
        elif isinstance(rule, list) and all(isinstance(a, str) for a in rule):
            argv = list(rule)
        else:
            raise self.fail(entry, "an iptables rule is a string of arguments or a list of strings")
        if isinstance(rule, str) and not rule.isprintable():
            raise self.fail(entry, f"rule {rule!r} contains a control character (a newline, a tab, ...)")
        if not argv:
            raise self.fail(entry, "empty iptables rule")
        for i, arg in enumerate(argv):
            if not arg.isprintable():
                raise self.fail(
                    f"{entry}[{i}]", f"argument {arg!r} contains a control character (a newline, a tab, ...)"
                )
        if argv[0] in ("iptables", "ip6tables"):
            raise self.fail(entry, "give the arguments only, without the 'iptables' command")
        table, rest = split_table(argv)
        if table is not None and table not in IPTABLES_TABLES:
            raise self.fail(entry, f"unknown table {table!r} (one of {', '.join(IPTABLES_TABLES)})")
        if rest[:1] in (["-P"], ["--policy"]) or rest[:1] in (["-N"], ["--new-chain"]):
            words = rest[1:]
            if len(words) != (2 if rest[0] in ("-P", "--policy") else 1):
                raise self.fail(entry, f"{rest[0]} takes {'CHAIN POLICY' if len(rest) != 2 else 'CHAIN'}")
            for word in words:
                if not _CHAIN_WORD.fullmatch(word):
                    raise self.fail(entry, f"{word!r} is not a chain or policy name (letters, digits, _ . -)")
        return tuple(argv)

    def dev(
        self, ns: str, t: Mapping[str, Any], entry: str, links: dict[LinkRef, LinkSpec], required: bool
    ) -> str | None:
        """``t['dev']``, a link of namespace ``ns``."""
        dev = self.typed(t, "dev", str, entry)
        if dev is None:
            if required:
                raise self.fail(entry, "missing 'dev'")
            return None
        self.ifname(dev, f"{entry}.dev")
        if LinkRef(ns, dev) not in links:
            raise self.fail(f"{entry}.dev", f"no link {dev!r} in namespace {ns!r}")
        return dev

    def route(self, ns: str, t: Mapping[str, Any], entry: str, links: dict[LinkRef, LinkSpec]) -> RouteSpec:
        """One route: ``to``, ``via``, ``dev``, ``metric``."""
        self.keys(t, _ROUTE_KEYS, entry, "a route")
        to = t.get("to")
        if not isinstance(to, str):
            raise self.fail(entry, "missing 'to' (a prefix like 10.138.36.0/23, or \"default\")")
        via = self.address(t["via"], f"{entry}.via") if "via" in t else None
        if to == "default":
            to = "::/0" if via is not None and via.version == 6 else "0.0.0.0/0"
        try:
            net: IPNetwork = ip_network(to)
        except ValueError as exc:
            raise self.fail(f"{entry}.to", f"bad prefix {to!r}: {exc}") from None
        if via is not None and via.version != net.version:
            raise self.fail(f"{entry}.via", f"gateway {via} is IPv{via.version} but the prefix is IPv{net.version}")
        dev = self.dev(ns, t, entry, links, required=False)
        if via is None and dev is None:
            raise self.fail(entry, "a route needs 'via' or 'dev' (or both)")
        metric = self.integer(t, "metric", entry)
        return RouteSpec(entry, net, via, dev, metric)

    def neigh(self, ns: str, t: Mapping[str, Any], entry: str, links: dict[LinkRef, LinkSpec]) -> NeighSpec:
        """One static neighbour entry; ``lladdr`` may name a link whose MAC is used."""
        self.keys(t, _NEIGH_KEYS, entry, "a neighbour entry")
        if "to" not in t:
            raise self.fail(entry, "missing 'to' (the neighbour's IP address)")
        to = self.address(t["to"], f"{entry}.to")
        dev = self.dev(ns, t, entry, links, required=True)
        assert dev is not None
        lladdr = t.get("lladdr")
        if not isinstance(lladdr, str):
            raise self.fail(
                f"{entry}.lladdr", "missing or not a string: a MAC address or the 'netns/link' whose MAC to use"
            )
        if "/" in lladdr:
            lns, lname = split_ref(lladdr, ns)
            ref = LinkRef(lns, lname)
            if ref not in links:
                raise self.fail(f"{entry}.lladdr", f"link {lladdr!r} is not defined in the spec")
            return NeighSpec(entry, to, dev, lladdr_of=ref)
        return NeighSpec(entry, to, dev, lladdr=self.mac(lladdr, f"{entry}.lladdr"))


def split_table(argv: list[str] | tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The table of an iptables rule and the rest of its arguments. The table is taken only from
    the rule's first argument (``-t T``, ``--table T``, ``--table=T``, ``-tT``): a ``-t`` anywhere
    else is left where it is, literally (the value of ``--comment``, say; as an option there,
    iptables-restore refuses it)."""
    args = list(argv)
    first = args[0] if args else ""
    if first in ("-t", "--table") and len(args) >= 2:
        return args[1], args[2:]
    if first.startswith("--table="):
        return first.partition("=")[2], args[1:]
    if first.startswith("-t") and not first.startswith("--") and len(first) > 2:
        return first[2:], args[1:]
    return None, args

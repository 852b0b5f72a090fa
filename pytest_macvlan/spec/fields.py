"""Reading a spec document's values: typed getters that name the entry of every problem.

:class:`FieldReader` is the base of the spec's parsers (:mod:`.links`, :mod:`.namespaces`,
:mod:`.parse`): each value is checked (type, range, format) and a :class:`SpecError` names the source,
the dotted entry and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import ip_address, ip_interface
from typing import Any, TypeVar

from pytest_macvlan.errors import SpecError
from pytest_macvlan.spec.model import (
    IPAddress,
    IPInterface,
    LinkRef,
)
from pytest_macvlan.spec.names import ifname_problem

T = TypeVar("T")

# Matched in full (re.fullmatch): `$` would also match before a final newline.
MAC_RE = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")

U32_MAX = 2**32 - 1

#: The netlink width or kernel range of each integer a spec can give (the kernel refuses, or a
#: u32 attribute cannot carry, anything outside): (lowest, highest, what it is).
INT_RANGES: dict[str, tuple[int, int, str]] = {
    "mtu": (68, 65535, "MTU (IFLA_MTU; 68 is IPv4's minimum, 65535 the kernel's ETH_MAX_MTU)"),
    "ageing_time": (0, U32_MAX, "bridge ageing time in centiseconds (IFLA_BR_AGEING_TIME, u32)"),
    "id": (1, 4094, "802.1Q VLAN id (IFLA_VLAN_ID)"),
    "metric": (0, U32_MAX, "route metric (RTA_PRIORITY, u32)"),
}


class FieldReader:
    """Typed, checked access to a spec document's tables; every error names its entry."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pending_members: list[tuple[LinkRef, str, str]] = []  # (bond, member name, entry)

    def fail(self, entry: str, problem: str) -> SpecError:
        """A SpecError naming this document, ``entry`` and ``problem``."""
        return SpecError(self.source, entry, problem)

    def table(self, value: object, entry: str) -> Mapping[str, Any]:
        """``value`` if it is a table, else an error naming ``entry``."""
        if not isinstance(value, Mapping):
            raise self.fail(entry, f"must be a table, not {typename(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(f"{entry}.{key!r}", f"a key must be a string, not {typename(key)} {key!r}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, entry: str) -> int | None:
        """An integer within the kernel's range for ``key`` (:data:`INT_RANGES`)."""
        value = self.typed(table, key, int, entry)
        if value is None:
            return None
        lo, hi, what = INT_RANGES[key]
        if not lo <= value <= hi:
            raise self.fail(f"{entry}.{key}", f"{value} is out of range {lo}-{hi}: {what}")
        return value

    def keys(self, table: Mapping[str, Any], allowed: set[str], entry: str, what: str) -> None:
        """Refuse a key of ``table`` that is not in ``allowed`` (the message lists the allowed ones)."""
        for key in table:
            if key not in allowed:
                raise self.fail(
                    f"{entry}.{key}" if entry else key,
                    f"unknown key for {what} (allowed: {', '.join(sorted(allowed))})",
                )

    def typed(self, table: Mapping[str, Any], key: str, kind: type[T], entry: str) -> T | None:
        """``table[key]`` if it has the type ``kind`` (a bool is not an int), ``None`` if absent."""
        if key not in table:
            return None
        value = table[key]
        # bool is an int in Python; a spec author who writes `mtu = true` made a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{entry}.{key}", f"must be {typename_of(kind)}, not {typename(value)}")
        return value

    def str_list(self, table: Mapping[str, Any], key: str, entry: str) -> list[str]:
        """``table[key]`` as a list of strings (one string is a list of one)."""
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{entry}.{key}", "must be a string or a list of strings")
        return value

    def mac(self, value: object, entry: str) -> str:
        """A unicast MAC address, lower case."""
        if not isinstance(value, str) or not MAC_RE.fullmatch(value):
            raise self.fail(entry, f"bad MAC address {value!r} (expected six hex octets like 02:00:00:00:00:01)")
        mac = value.lower()
        if int(mac[:2], 16) & 1:
            raise self.fail(entry, f"MAC address {value!r} is multicast; an interface needs a unicast address")
        if mac == "00:00:00:00:00:00":
            raise self.fail(entry, "MAC address 00:00:00:00:00:00 is not a valid interface address")
        return mac

    def interface(self, value: str, entry: str) -> IPInterface:
        """An address with its prefix length (``192.168.9.2/24``)."""
        if "/" not in value:
            raise self.fail(entry, f"address {value!r} needs a prefix length (like 192.168.9.2/24)")
        try:
            iface = ip_interface(value)
        except ValueError as exc:
            raise self.fail(entry, f"bad CIDR {value!r}: {exc}") from None
        if getattr(iface, "scope_id", None):
            raise self.fail(entry, f"address {value!r} has a scope (%...); give the address only")
        return iface

    def address(self, value: object, entry: str) -> IPAddress:
        """An IP address without a prefix length."""
        if not isinstance(value, str):
            raise self.fail(entry, f"must be an IP address string, not {typename(value)}")
        try:
            addr = ip_address(value)
        except ValueError:
            raise self.fail(entry, f"bad IP address {value!r}") from None
        if getattr(addr, "scope_id", None):
            raise self.fail(entry, f"address {value!r} has a scope (%...); give the address only")
        return addr

    def ifname(self, value: object, entry: str) -> str:
        """An interface name the kernel accepts (not ``lo``)."""
        problem = ifname_problem(value)
        if problem:
            raise self.fail(entry, problem)
        assert isinstance(value, str)
        if value == "lo":
            raise self.fail(entry, "'lo' exists in every namespace already; it is always up")
        return value

    def choice(self, t: Mapping[str, Any], key: str, allowed: Mapping[str, int], entry: str, what: str) -> str | None:
        """``t[key]`` if it is one of ``allowed``'s names, ``None`` if absent."""
        value = self.typed(t, key, str, entry)
        if value is not None and value not in allowed:
            raise self.fail(f"{entry}.{key}", f"unknown {what} {value!r} (one of {', '.join(allowed)})")
        return value

    def list(self, t: Mapping[str, Any], key: str, entry: str) -> list[Any]:
        """``t[key]`` as a list (a single table is a list of one)."""
        value = t.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{entry}.{key}", f"must be a list, not {typename(value)}")
        return value


def shown(name: str) -> str:
    """A name as an entry path shows it: as is, or quoted if it has control characters (a newline)."""
    return name if name.isprintable() else repr(name)


def typename(value: object) -> str:
    """How a message names the type of ``value`` (``a string``, ``a table``...)."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def typename_of(kind: type) -> str:
    """How a message names the type ``kind`` that was expected."""
    return {bool: "a boolean (true/false)", int: "an integer", str: "a string"}.get(kind, kind.__name__)

"""Turn a TOML file, TOML text or a dict into a validated :class:`TopologySpec`.

Every problem is reported as a :class:`SpecError` naming the source, the entry and what is
wrong, before anything touches the kernel. The spec format is documented in docs/spec.md.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any, TypeVar

from pytest_macvlan.errors import SpecError
from pytest_macvlan.spec.model import (
    BOND_MODES,
    IPVLAN_FLAGS,
    IPVLAN_MODES,
    KINDS,
    MACVLAN_MODES,
    MASTERS,
    PORT_FLAGS,
    STACKED,
    VLAN_PROTOCOLS,
    BridgeVlanSpec,
    FdbSpec,
    IPAddress,
    IPInterface,
    IPNetwork,
    LinkRef,
    LinkSpec,
    NeighSpec,
    NetnsSpec,
    RouteSpec,
    TopologySpec,
)
from pytest_macvlan.spec.names import ifname_problem, netns_name_problem, split_ref
from pytest_macvlan.spec.sysctls import machine_wide, range_problem

SpecSource = str | os.PathLike[str] | Mapping[str, Any]
T = TypeVar("T")

# Matched in full (re.fullmatch): `$` would also match before a final newline.
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
_SYSCTL_KEY = re.compile(r"net(\.[A-Za-z0-9_/-]+)+")
_CHAIN_WORD = re.compile(r"[A-Za-z0-9_.-]{1,28}")
U32_MAX = 2**32 - 1
#: The netlink width or kernel range of each integer a spec can give (the kernel refuses, or a
#: u32 attribute cannot carry, anything outside): (lowest, highest, what it is).
INT_RANGES: dict[str, tuple[int, int, str]] = {
    "mtu": (68, 65535, "MTU (IFLA_MTU; 68 is IPv4's minimum, 65535 the kernel's ETH_MAX_MTU)"),
    "ageing_time": (0, U32_MAX, "bridge ageing time in centiseconds (IFLA_BR_AGEING_TIME, u32)"),
    "id": (1, 4094, "802.1Q VLAN id (IFLA_VLAN_ID)"),
    "metric": (0, U32_MAX, "route metric (RTA_PRIORITY, u32)"),
}
#: A sysctl value written as an integer: the widest the kernel's handlers parse (unsigned long).
SYSCTL_INT_MIN, SYSCTL_INT_MAX = -(2**63), 2**64 - 1
_TOP_KEYS = {"netns", "description"}
_NETNS_KEYS = {"link", "ipv6", "nodad", "sysctl", "iptables", "nft", "route", "neigh", "fdb", "emulates"}
_LINK_OPTION_KEYS = {"address", "addr", "mtu", "up", "promisc", "allmulticast", "master", "vlan", *PORT_FLAGS}
_COMMON_LINK_KEYS = {"type", *_LINK_OPTION_KEYS}
_MACVLAN_KEYS = {"link", "mode", "macaddr", "nodst", "nopromisc", "bcqueuelen"}
_KIND_KEYS: dict[str, set[str]] = {
    "bridge": {"ageing_time", "stp", "vlan_filtering", "vlan_default_pvid", "vlan_protocol", "mcast_snooping"},
    "veth": {"peer"},
    "vlan": {"link", "id", "protocol"},
    "macvlan": _MACVLAN_KEYS,
    "macvtap": _MACVLAN_KEYS,
    "ipvlan": {"link", "mode", "flag"},
    "vxlan": {"id", "link", "dstport", "remote", "local", "group", "learning"},
    "dummy": set(),
    "vrf": {"table"},
    "bond": {"mode", "members"},
    "tap": set(),
}
_PEER_KEYS = {"name", "netns", *_LINK_OPTION_KEYS}
_ROUTE_KEYS = {"to", "via", "dev", "metric"}
_NEIGH_KEYS = {"to", "lladdr", "dev"}
_FDB_KEYS = {"lladdr", "dev", "self", "state", "sticky", "vlan", "dst"}
_VLAN_KEYS = {"vid", "pvid", "untagged"}


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


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pending_members: list[tuple[LinkRef, str, str]] = []  # (bond, member name, entry)

    def fail(self, entry: str, problem: str) -> SpecError:
        return SpecError(self.source, entry, problem)

    # -- typed getters ---------------------------------------------------------------------

    def table(self, value: object, entry: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(entry, f"must be a table, not {_typename(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(f"{entry}.{key!r}", f"a key must be a string, not {_typename(key)} {key!r}")
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
        for key in table:
            if key not in allowed:
                raise self.fail(
                    f"{entry}.{key}" if entry else key,
                    f"unknown key for {what} (allowed: {', '.join(sorted(allowed))})",
                )

    def typed(self, table: Mapping[str, Any], key: str, kind: type[T], entry: str) -> T | None:
        if key not in table:
            return None
        value = table[key]
        # bool is an int in Python; a spec author who writes `mtu = true` made a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{entry}.{key}", f"must be {_typename_of(kind)}, not {_typename(value)}")
        return value

    def str_list(self, table: Mapping[str, Any], key: str, entry: str) -> list[str]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{entry}.{key}", "must be a string or a list of strings")
        return value

    def mac(self, value: object, entry: str) -> str:
        if not isinstance(value, str) or not _MAC.fullmatch(value):
            raise self.fail(entry, f"bad MAC address {value!r} (expected six hex octets like 02:00:00:00:00:01)")
        mac = value.lower()
        if int(mac[:2], 16) & 1:
            raise self.fail(entry, f"MAC address {value!r} is multicast; an interface needs a unicast address")
        if mac == "00:00:00:00:00:00":
            raise self.fail(entry, "MAC address 00:00:00:00:00:00 is not a valid interface address")
        return mac

    def interface(self, value: str, entry: str) -> IPInterface:
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
        if not isinstance(value, str):
            raise self.fail(entry, f"must be an IP address string, not {_typename(value)}")
        try:
            addr = ip_address(value)
        except ValueError:
            raise self.fail(entry, f"bad IP address {value!r}") from None
        if getattr(addr, "scope_id", None):
            raise self.fail(entry, f"address {value!r} has a scope (%...); give the address only")
        return addr

    def ifname(self, value: object, entry: str) -> str:
        problem = ifname_problem(value)
        if problem:
            raise self.fail(entry, problem)
        assert isinstance(value, str)
        if value == "lo":
            raise self.fail(entry, "'lo' exists in every namespace already; it is always up")
        return value

    # -- the document ----------------------------------------------------------------------

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
                raise self.fail(f"netns.{_shown(name)}", problem)
        names = set(all_netns)

        links: dict[LinkRef, LinkSpec] = {}
        for ns_name, ns_table in all_netns.items():
            entry = f"netns.{ns_name}"
            ns_table = self.table(ns_table, entry)
            self.keys(ns_table, _NETNS_KEYS, entry, "a namespace")
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

    def link(self, ns: str, name: str, table: object, names: set[str]) -> list[LinkSpec]:
        entry = f"netns.{ns}.link.{_shown(name)}"
        self.ifname(name, entry)
        t = self.table(table, entry)
        kind = t.get("type")
        if kind is None:
            raise self.fail(entry, f"missing 'type' (one of {', '.join(KINDS)})")
        if kind not in KINDS:
            raise self.fail(f"{entry}.type", f"unknown link type {kind!r} (supported: {', '.join(KINDS)})")
        self.keys(t, _COMMON_LINK_KEYS | _KIND_KEYS[kind], entry, f"a {kind} link")
        common = self.link_options(t, entry, kind_keys=_KIND_KEYS[kind])
        ref = LinkRef(ns, name)
        if kind == "bridge":
            return [self.bridge(ref, t, entry, common)]
        if kind == "veth":
            return self.veth(ref, t, entry, common, names)
        if kind in ("dummy", "tap"):
            return [LinkSpec(ref, kind, entry, **common)]
        if kind == "vrf":
            vrf_table = self.typed(t, "table", int, entry)
            if vrf_table is None:
                raise self.fail(entry, "a vrf needs 'table' (the routing table its ports use, 1-4294967295)")
            if not 1 <= vrf_table <= 0xFFFFFFFF or vrf_table in (253, 254, 255):
                raise self.fail(f"{entry}.table", f"table {vrf_table} is out of range or reserved (default/main/local)")
            return [LinkSpec(ref, "vrf", entry, table=vrf_table, **common)]
        if kind == "bond":
            mode = self.choice(t, "mode", BOND_MODES, entry, "bond mode")
            members = tuple(self.ifname(m, f"{entry}.members") for m in self.str_list(t, "members", entry))
            self.pending_members.extend((ref, m, f"{entry}.members") for m in members)
            return [LinkSpec(ref, "bond", entry, mode=mode, **common)]
        if kind == "vxlan":
            return [self.vxlan(ref, t, entry, common, names)]
        parent = self.ref(t, "link", ns, entry, names, required=True)
        if kind == "vlan":
            vid = self.integer(t, "id", entry)
            if vid is None:
                raise self.fail(entry, "a vlan needs 'id' (802.1Q VLAN id, 1-4094)")
            if not 1 <= vid <= 4094:
                raise self.fail(f"{entry}.id", f"VLAN id {vid} is out of range 1-4094")
            protocol = self.choice(t, "protocol", VLAN_PROTOCOLS, entry, "VLAN protocol")
            return [LinkSpec(ref, "vlan", entry, parent=parent, vlan_id=vid, vlan_protocol=protocol, **common)]
        if kind == "ipvlan":
            mode = self.choice(t, "mode", IPVLAN_MODES, entry, "ipvlan mode")
            flag = self.choice(t, "flag", IPVLAN_FLAGS, entry, "ipvlan flag")
            return [LinkSpec(ref, "ipvlan", entry, parent=parent, mode=mode, ipvlan_flag=flag, **common)]
        mode = self.choice(t, "mode", MACVLAN_MODES, entry, f"{kind} mode")
        macaddr = tuple(self.mac(m, f"{entry}.macaddr") for m in self.str_list(t, "macaddr", entry))
        if macaddr and mode != "source":
            raise self.fail(f"{entry}.macaddr", 'a source MAC list needs mode = "source"')
        bcq = self.typed(t, "bcqueuelen", int, entry)
        if bcq is not None and not 0 < bcq <= 0xFFFFFFFF:
            raise self.fail(f"{entry}.bcqueuelen", f"bcqueuelen {bcq} must be a positive 32-bit number")
        nodst = bool(self.typed(t, "nodst", bool, entry))
        if nodst and mode != "source":
            raise self.fail(f"{entry}.nodst", 'nodst applies to mode = "source" only (the kernel refuses it otherwise)')
        return [
            LinkSpec(
                ref,
                kind,
                entry,
                parent=parent,
                mode=mode,
                macaddr=macaddr,
                nodst=nodst,
                nopromisc=bool(self.typed(t, "nopromisc", bool, entry)),
                bcqueuelen=bcq,
                **common,
            )
        ]

    def choice(self, t: Mapping[str, Any], key: str, allowed: Mapping[str, int], entry: str, what: str) -> str | None:
        value = self.typed(t, key, str, entry)
        if value is not None and value not in allowed:
            raise self.fail(f"{entry}.{key}", f"unknown {what} {value!r} (one of {', '.join(allowed)})")
        return value

    def bridge(self, ref: LinkRef, t: Mapping[str, Any], entry: str, common: dict[str, Any]) -> LinkSpec:
        ageing = self.integer(t, "ageing_time", entry)
        pvid = self.typed(t, "vlan_default_pvid", int, entry)
        if pvid is not None and not 0 <= pvid <= 4094:
            raise self.fail(f"{entry}.vlan_default_pvid", f"VLAN id {pvid} is out of range 0-4094 (0: none)")
        return LinkSpec(
            ref,
            "bridge",
            entry,
            ageing_time=ageing,
            stp=self.typed(t, "stp", bool, entry),
            vlan_filtering=self.typed(t, "vlan_filtering", bool, entry),
            vlan_default_pvid=pvid,
            bridge_vlan_protocol=self.choice(t, "vlan_protocol", VLAN_PROTOCOLS, entry, "VLAN protocol"),
            mcast_snooping=self.typed(t, "mcast_snooping", bool, entry),
            **common,
        )

    def vxlan(
        self, ref: LinkRef, t: Mapping[str, Any], entry: str, common: dict[str, Any], names: set[str]
    ) -> LinkSpec:
        vni = self.typed(t, "id", int, entry)
        if vni is None:
            raise self.fail(entry, "a vxlan needs 'id' (the VXLAN network identifier, 0-16777215)")
        if not 0 <= vni <= 0xFFFFFF:
            raise self.fail(f"{entry}.id", f"VNI {vni} is out of range 0-16777215")
        port = self.typed(t, "dstport", int, entry)
        if port is not None and not 0 <= port <= 65535:
            raise self.fail(f"{entry}.dstport", f"port {port} is out of range 0-65535")
        parent = self.ref(t, "link", ref.netns, entry, names, required=True) if "link" in t else None
        if parent is not None and parent.netns != ref.netns:
            raise self.fail(f"{entry}.link", "a vxlan's underlying device must be in its own namespace")
        remote = self.address(t["remote"], f"{entry}.remote") if "remote" in t else None
        group = self.address(t["group"], f"{entry}.group") if "group" in t else None
        local = self.address(t["local"], f"{entry}.local") if "local" in t else None
        if remote is not None and group is not None:
            raise self.fail(entry, "give 'remote' or 'group', not both")
        if group is not None and not group.is_multicast:
            raise self.fail(f"{entry}.group", f"{group} is not a multicast address")
        if group is not None and parent is None:
            raise self.fail(entry, "a multicast 'group' needs 'link' (the device to join it on)")
        return LinkSpec(
            ref,
            "vxlan",
            entry,
            parent=parent,
            vni=vni,
            dstport=port,
            remote=remote,
            local=local,
            group=group,
            learning=self.typed(t, "learning", bool, entry),
            **common,
        )

    def link_options(self, t: Mapping[str, Any], entry: str, kind_keys: set[str] = set()) -> dict[str, Any]:  # noqa: B006
        """The options every kind has; a key that is also one of the kind's own (a vxlan's
        ``learning``) is the kind's."""
        address = self.mac(t["address"], f"{entry}.address") if "address" in t else None
        addrs = tuple(self.interface(a, f"{entry}.addr") for a in self.str_list(t, "addr", entry))
        mtu = self.integer(t, "mtu", entry)
        master = self.typed(t, "master", str, entry)
        if master is not None:
            self.ifname(master, f"{entry}.master")
        hairpin = self.typed(t, "hairpin", bool, entry)
        port: list[tuple[str, bool]] = []
        for flag in PORT_FLAGS:
            if flag in kind_keys:
                continue
            value = self.typed(t, flag, bool, entry)
            if value is not None and master is None:
                raise self.fail(f"{entry}.{flag}", f"{flag} is a bridge-port option: it needs 'master'")
            if value is not None and flag != "hairpin":
                port.append((flag, value))
        vlans = tuple(self.vlan_entry(v, f"{entry}.vlan[{i}]") for i, v in enumerate(self.list(t, "vlan", entry)))
        vids = [v.vid for v in vlans]
        if len(set(vids)) != len(vids):
            raise self.fail(f"{entry}.vlan", "a VLAN id is listed twice")
        if sum(v.pvid for v in vlans) > 1:
            raise self.fail(f"{entry}.vlan", "only one VLAN can be the port's pvid")
        up = self.typed(t, "up", bool, entry)
        return {
            "address": address,
            "addrs": addrs,
            "mtu": mtu,
            "up": True if up is None else up,
            "promisc": bool(self.typed(t, "promisc", bool, entry)),
            "allmulticast": self.typed(t, "allmulticast", bool, entry),
            "master": master,
            "hairpin": hairpin,
            "port": tuple(port),
            "vlans": vlans,
        }

    def vlan_entry(self, value: object, entry: str) -> BridgeVlanSpec:
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"vid": value}
        t = self.table(value, entry)
        self.keys(t, _VLAN_KEYS, entry, "a bridge VLAN entry")
        vid = self.typed(t, "vid", int, entry)
        if vid is None:
            raise self.fail(entry, "missing 'vid' (1-4094)")
        if not 1 <= vid <= 4094:
            raise self.fail(f"{entry}.vid", f"VLAN id {vid} is out of range 1-4094")
        return BridgeVlanSpec(
            vid, bool(self.typed(t, "pvid", bool, entry)), bool(self.typed(t, "untagged", bool, entry))
        )

    def ref(self, t: Mapping[str, Any], key: str, ns: str, entry: str, names: set[str], *, required: bool) -> LinkRef:
        value = t.get(key)
        if value is None:
            raise self.fail(entry, f"missing '{key}' (the parent link: 'name' in this namespace or 'netns/name')")
        if not isinstance(value, str):
            raise self.fail(f"{entry}.{key}", f"must be a string, not {_typename(value)}")
        ref_ns, name = split_ref(value, ns)
        if ref_ns not in names:
            raise self.fail(f"{entry}.{key}", f"unknown namespace {ref_ns!r} in {value!r}")
        self.ifname(name, f"{entry}.{key}")
        return LinkRef(ref_ns, name)

    def veth(
        self, ref: LinkRef, t: Mapping[str, Any], entry: str, common: dict[str, Any], names: set[str]
    ) -> list[LinkSpec]:
        pentry = f"{entry}.peer"
        peer = t.get("peer")
        if peer is None:
            raise self.fail(entry, "a veth needs 'peer' (a name, 'netns/name', or a table with name and netns)")
        if isinstance(peer, str):
            pns, pname = split_ref(peer, ref.netns)
            ptable: Mapping[str, Any] = {}
        else:
            ptable = self.table(peer, pentry)
            self.keys(ptable, _PEER_KEYS, pentry, "a veth peer")
            name = ptable.get("name")
            if not isinstance(name, str):
                raise self.fail(pentry, "missing 'name' of the peer (a string)")
            pname = name
            given = self.typed(ptable, "netns", str, pentry)
            pns = ref.netns if given is None else given
        if pns not in names:
            raise self.fail(pentry, f"unknown namespace {pns!r} for the veth peer")
        self.ifname(pname, f"{pentry}.name")
        pref = LinkRef(pns, pname)
        if pref == ref:
            raise self.fail(pentry, "a veth cannot be its own peer")
        return [
            LinkSpec(ref, "veth", entry, peer=pref, **common),
            LinkSpec(pref, "veth", pentry, peer=ref, is_peer=True, **self.link_options(ptable, pentry)),
        ]

    # -- cross-references ------------------------------------------------------------------

    def bond_members(self, links: dict[LinkRef, LinkSpec]) -> None:
        """``members = [...]`` on a bond is each member's ``master = BOND``."""
        for bond, name, entry in self.pending_members:
            ref = LinkRef(bond.netns, name)
            member = links.get(ref)
            if member is None:
                raise self.fail(entry, f"member {name!r} is not a link in namespace {bond.netns!r}")
            if member.master not in (None, bond.name):
                raise self.fail(entry, f"member {name!r} already has master {member.master!r} ({member.entry})")
            links[ref] = replace(member, master=bond.name)

    def check_links(self, links: dict[LinkRef, LinkSpec]) -> None:
        children: dict[LinkRef, list[LinkSpec]] = {}
        for spec in links.values():
            if spec.parent is not None:
                if spec.parent not in links:
                    raise self.fail(f"{spec.entry}.link", f"parent link {spec.parent} is not defined in the spec")
                children.setdefault(spec.parent, []).append(spec)
            if spec.master is not None:
                master = links.get(LinkRef(spec.netns, spec.master))
                if master is None:
                    raise self.fail(
                        f"{spec.entry}.master", f"master {spec.master!r} is not a link in namespace {spec.netns!r}"
                    )
                if master.kind not in MASTERS:
                    raise self.fail(
                        f"{spec.entry}.master",
                        f"master {spec.master!r} is a {master.kind}, not a bond, bridge or vrf",
                    )
                if spec.kind == "bridge" and master.kind == "bridge":
                    raise self.fail(f"{spec.entry}.master", "a bridge cannot be a port of another bridge")
                if master.kind != "bridge":
                    for flag in ("hairpin", *(f for f, _ in spec.port), "vlan" if spec.vlans else ""):
                        if flag and (flag != "hairpin" or spec.hairpin is not None):
                            raise self.fail(
                                f"{spec.entry}.{flag}",
                                f"{flag} is a bridge-port option; {spec.master!r} is a {master.kind}",
                            )
            elif spec.vlans and spec.kind != "bridge":
                raise self.fail(f"{spec.entry}.vlan", "VLAN entries belong to a bridge port (set 'master') or a bridge")
        for spec in links.values():
            if spec.kind in STACKED and spec.parent is not None and links[spec.parent].kind == "vrf":
                raise self.fail(f"{spec.entry}.link", f"a {spec.kind} cannot sit on a vrf device")
        for parent, kids in children.items():
            passthru = [k for k in kids if k.kind == "macvlan" and k.mode == "passthru"]
            macvlans = [k for k in kids if k.kind == "macvlan"]
            if passthru and len(macvlans) > 1:
                other = next(k for k in macvlans if k is not passthru[0])
                raise self.fail(
                    other.entry,
                    f"parent {parent} already has passthru macvlan {passthru[0].ref}; "
                    "a passthru parent accepts exactly one macvlan",
                )
        for spec in links.values():
            self.no_cycle(spec, links)

    def no_cycle(self, start: LinkSpec, links: dict[LinkRef, LinkSpec]) -> None:
        seen = [start.ref]
        spec: LinkSpec | None = start
        while spec is not None:
            nxt = spec.parent or (LinkRef(spec.netns, spec.master) if spec.master else None)
            if nxt is None:
                return
            if nxt in seen:
                chain = " -> ".join(str(r) for r in [*seen, nxt])
                raise self.fail(start.entry, f"cycle of parents/masters: {chain}")
            seen.append(nxt)
            spec = links.get(nxt)

    def netns(self, name: str, t: Mapping[str, Any], links: dict[LinkRef, LinkSpec]) -> NetnsSpec:
        entry = f"netns.{name}"
        ipv6 = self.typed(t, "ipv6", bool, entry)
        sysctl = []
        for key, value in self.table(t.get("sysctl", {}), f"{entry}.sysctl").items():
            if not _SYSCTL_KEY.fullmatch(key) or ".." in key:
                raise self.fail(
                    f"{entry}.sysctl.{_shown(key)}", "only network sysctls ('net.…') can be set per namespace"
                )
            why = machine_wide(key)
            if why:
                raise self.fail(f"{entry}.sysctl.{key}", f"{key} is machine-wide, not per namespace: {why}")
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, (int, str)) or (isinstance(value, str) and not value.isprintable()):
                raise self.fail(
                    f"{entry}.sysctl.{key}",
                    f"value must be an integer or a printable string, not {_typename(value)} {value!r}",
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
        return NetnsSpec(
            name, entry, bool(ipv6), tuple(sysctl), iptables, nft, routes, neighs, fdb, nodad, emulates=emulates
        )

    def fdb(self, ns: str, t: Mapping[str, Any], entry: str, links: dict[LinkRef, LinkSpec]) -> FdbSpec:
        self.keys(t, _FDB_KEYS, entry, "an FDB entry")
        if "lladdr" not in t:
            raise self.fail(entry, "missing 'lladdr' (the MAC address of the entry)")
        lladdr = t["lladdr"]
        if not isinstance(lladdr, str) or not _MAC.match(lladdr):
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

    def list(self, t: Mapping[str, Any], key: str, entry: str) -> list[Any]:
        value = t.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{entry}.{key}", f"must be a list, not {_typename(value)}")
        return value

    def rule(self, rule: object, entry: str) -> tuple[str, ...]:
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


IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")


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


def _shown(name: str) -> str:
    """A name as an entry path shows it: as is, or quoted if it has control characters (a newline)."""
    return name if name.isprintable() else repr(name)


def _typename(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _typename_of(kind: type) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", str: "a string"}.get(kind, kind.__name__)

"""A spec's links: each kind's keys, veth pairs, parents, masters, bonds; the checks across links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pytest_macvlan.spec.fields import FieldReader, shown, typename
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
    LinkRef,
    LinkSpec,
)
from pytest_macvlan.spec.names import split_ref

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

_VLAN_KEYS = {"vid", "pvid", "untagged"}


class LinkFields(FieldReader):
    """Parses ``[netns.NS.link.NAME]`` tables into :class:`LinkSpec` records."""

    def link(self, ns: str, name: str, table: object, names: set[str]) -> list[LinkSpec]:
        """One ``[netns.NS.link.NAME]`` table: its link (and a veth's peer) as LinkSpec records."""
        entry = f"netns.{ns}.link.{shown(name)}"
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

    def bridge(self, ref: LinkRef, t: Mapping[str, Any], entry: str, common: dict[str, Any]) -> LinkSpec:
        """A bridge's own options."""
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
        """A vxlan's options: VNI, port, remote or group, local, learning."""
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
        """One bridge VLAN entry of a port: ``vid``, ``pvid``, ``untagged``."""
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
        """``t[key]``, a link reference (``name`` or ``netns/name``), checked against the namespaces."""
        value = t.get(key)
        if value is None:
            raise self.fail(entry, f"missing '{key}' (the parent link: 'name' in this namespace or 'netns/name')")
        if not isinstance(value, str):
            raise self.fail(f"{entry}.{key}", f"must be a string, not {typename(value)}")
        ref_ns, name = split_ref(value, ns)
        if ref_ns not in names:
            raise self.fail(f"{entry}.{key}", f"unknown namespace {ref_ns!r} in {value!r}")
        self.ifname(name, f"{entry}.{key}")
        return LinkRef(ref_ns, name)

    def veth(
        self, ref: LinkRef, t: Mapping[str, Any], entry: str, common: dict[str, Any], names: set[str]
    ) -> list[LinkSpec]:
        """A veth and its peer, the peer in this namespace or another."""
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
        """What needs every link: parents, masters, modes that allow one child, no cycles."""
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
        """Refuse a chain of parents that comes back to ``start``."""
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

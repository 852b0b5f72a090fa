"""The kernel features a marker, a probe or a message can name, and what each one is."""

from __future__ import annotations

#: Names a marker or a message uses, and what they are.
DESCRIPTIONS = {
    "bridge": "bridges (CONFIG_BRIDGE)",
    "veth": "veth pairs (CONFIG_VETH)",
    "macvlan": "macvlan (CONFIG_MACVLAN)",
    "8021q": "802.1Q VLAN sub-interfaces (CONFIG_VLAN_8021Q, module 8021q)",
    "8021ad": "802.1ad (QinQ) VLAN sub-interfaces (CONFIG_VLAN_8021Q)",
    "ipvlan": "ipvlan (CONFIG_IPVLAN)",
    "vlan_filtering": "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)",
    "vxlan": "vxlan (CONFIG_VXLAN)",
    "bond": "bonding (CONFIG_BONDING)",
    "vrf": "VRF (CONFIG_NET_VRF)",
    "dummy": "dummy interfaces (CONFIG_DUMMY)",
    "macvtap": "macvtap (CONFIG_MACVTAP)",
    "tap": "tap devices (CONFIG_TUN, /dev/net/tun)",
    "netem": "the netem qdisc (CONFIG_NET_SCH_NETEM)",
    "nftables": "nftables (CONFIG_NF_TABLES, and the nft tool)",
    "iptables": "iptables (the iptables tool and its kernel backend)",
    **{f"macvlan:{m}": f"macvlan mode {m}" for m in ("private", "vepa", "bridge", "passthru", "source")},
}

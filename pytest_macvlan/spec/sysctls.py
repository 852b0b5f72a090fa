"""``net.*`` sysctls that are not the namespace's own: the validator refuses them.

A spec may change only its own namespaces. Most ``net.*`` sysctls are per network namespace, but
not all: some tables are registered for the initial namespace only (``register_net_sysctl(&init_net,
...)``: they do not exist in a new namespace), some are registered in every namespace but point at
state the whole machine shares, and some are made read-only outside the initial namespace
(``!net_eq(net, &init_net)``). Each entry here says which, from the kernel's source (v6.1-v6.18):

- ``net/netfilter/nf_hooks_lwtunnel.c``: ``nf_hooks_lwtunnel`` is registered per namespace but its
  handler turns on a global static key (``nf_hooks_lwtunnel_enabled``) and refuses to turn it off;
- ``net/core/neighbour.c`` ``neigh_sysctl_register``: the ``default`` entries ``gc_interval``,
  ``gc_thresh1..3`` point into the neighbour table (``arp_tbl``, ``nd_tbl``), one for the machine;
  the ``default`` directory is registered with the table's own parameters, which belong to the
  initial namespace (the sweep finds no ``neigh.default`` in a new namespace);
- ``net/netfilter/nf_conntrack_standalone.c``: ``nf_conntrack_max``, ``nf_conntrack_expect_max`` and
  ``nf_conntrack_buckets`` are the machine's limits, read-only (0444) outside the initial namespace;
- ``net/core/sysctl_net_core.c`` ``net_core_table``, ``net/ipv4/sysctl_net_ipv4.c`` ``ipv4_table``,
  ``net/ipv4/route.c`` ``ipv4_route_table``, ``net/ipv6/sysctl_net_ipv6.c`` ``ipv6_rotable``,
  ``net/sctp/sysctl.c`` ``sctp_table``, ``net/netfilter/nf_log.c`` (``nf_log_all_netns``),
  ``net/netfilter/nf_conntrack_standalone.c`` (``net.nf_conntrack_max``): registered for
  ``init_net`` only.

``tests/kernel/sysctl_sweep.py`` checks the list the other way round, in a throwaway kernel only
(a user-mode Linux guest): it writes every writable ``net.*`` key in a child namespace and
reports each one whose value in the initial namespace moved. On Debian's UML 6.1.176 with the
netfilter modules loaded (``docs/sysctl-sweep-uml-6.1.json``): 502 keys written, one moved the
initial namespace, ``nf_hooks_lwtunnel``; the conntrack limits and the congestion-control lists
are read-only there.
"""

from __future__ import annotations

_GLOBAL_STATE = "shared by every namespace: writing it in one changes it for the whole machine"
_INIT_ONLY = "it exists in the initial namespace only (the machine's own setting)"
_READ_ONLY = "the machine-wide limit, read-only outside the initial namespace"

#: Exact keys (with ``.`` separators) and why each is refused.
MACHINE_WIDE: dict[str, str] = {
    "net.netfilter.nf_hooks_lwtunnel": "it turns on a global switch (netfilter hooks for lightweight "
    "tunnels) for the whole machine, and the kernel refuses to turn it off again",
    **{
        f"net.{family}.neigh.default.{key}": f"the neighbour table's garbage collection is {_GLOBAL_STATE}; "
        + _INIT_ONLY
        for family in ("ipv4", "ipv6")
        for key in ("gc_interval", "gc_thresh1", "gc_thresh2", "gc_thresh3")
    },
    **{
        f"net.netfilter.{key}": _READ_ONLY
        for key in ("nf_conntrack_max", "nf_conntrack_expect_max", "nf_conntrack_buckets")
    },
    "net.nf_conntrack_max": _INIT_ONLY,
    "net.netfilter.nf_log_all_netns": _INIT_ONLY,
    **{
        f"net.core.{key}": _INIT_ONLY
        for key in (
            "rmem_max",
            "wmem_max",
            "rmem_default",
            "wmem_default",
            "dev_weight",
            "dev_weight_rx_bias",
            "dev_weight_tx_bias",
            "netdev_max_backlog",
            "netdev_budget",
            "netdev_budget_usecs",
            "netdev_tstamp_prequeue",
            "netdev_unregister_timeout_secs",
            "netdev_rss_key",
            "message_cost",
            "message_burst",
            "tstamp_allow_data",
            "bpf_jit_enable",
            "bpf_jit_harden",
            "bpf_jit_kallsyms",
            "bpf_jit_limit",
            "rps_sock_flow_entries",
            "flow_limit_cpu_bitmap",
            "flow_limit_table_len",
            "busy_poll",
            "busy_read",
            "default_qdisc",
            "gro_normal_batch",
            "high_order_alloc_disable",
            "max_skb_frags",
            "devconf_inherit_init_net",
            "skb_defer_max",
            "warnings",
        )
    },
    **{
        f"net.ipv4.{key}": _INIT_ONLY
        for key in (
            "tcp_mem",
            "udp_mem",
            "tcp_max_orphans",
            "inet_peer_threshold",
            "inet_peer_minttl",
            "inet_peer_maxttl",
            "tcp_available_ulp",
            "tcp_low_latency",
            "fib_sync_mem",
            "ipfrag_secret_interval",
        )
    },
    **{
        f"net.ipv4.route.{key}": _INIT_ONLY
        for key in (
            "gc_thresh",
            "max_size",
            "gc_min_interval",
            "gc_min_interval_ms",
            "gc_timeout",
            "gc_interval",
            "redirect_load",
            "redirect_number",
            "redirect_silence",
            "error_cost",
            "error_burst",
            "gc_elasticity",
        )
    },
    **{f"net.ipv6.{key}": _INIT_ONLY for key in ("mld_max_msf", "mld_qrv")},
    **{
        f"net.ipv4.{key}": "the machine's list, read-only outside the initial namespace"
        for key in ("tcp_available_congestion_control", "tcp_allowed_congestion_control")
    },
    **{f"net.sctp.{key}": _INIT_ONLY for key in ("sctp_mem", "sctp_rmem", "sctp_wmem")},
}


#: The kernel's range for a few common per-namespace integer sysctls (their handlers are
#: ``proc_dointvec_minmax`` or refuse other values); a value outside is refused by the validator.
#: Other keys' values are checked by the kernel when the build writes them (a BuildError naming
#: the entry, and nothing left behind).
RANGES: dict[str, tuple[int, int]] = {
    "net.ipv4.ip_forward": (0, 1),
    "net.ipv4.conf.all.forwarding": (0, 1),
    "net.ipv4.conf.default.forwarding": (0, 1),
    "net.ipv4.conf.all.rp_filter": (0, 2),
    "net.ipv4.conf.default.rp_filter": (0, 2),
    "net.ipv4.conf.all.arp_ignore": (0, 8),
    "net.ipv4.conf.all.arp_announce": (0, 2),
    "net.ipv4.ip_default_ttl": (1, 255),
    "net.ipv4.icmp_echo_ignore_all": (0, 1),
    "net.ipv4.icmp_echo_ignore_broadcasts": (0, 1),
    "net.ipv4.igmp_link_local_mcast_reports": (0, 1),
    "net.ipv6.conf.all.disable_ipv6": (0, 1),
    "net.ipv6.conf.default.disable_ipv6": (0, 1),
    "net.core.somaxconn": (0, 2**31 - 1),
}


def range_problem(key: str, value: int | str) -> str | None:
    """Why ``value`` is outside the kernel's range for ``key`` (known ranges only), or None."""
    bounds = RANGES.get(key)
    if bounds is None:
        return None
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        return f"{key} takes an integer {bounds[0]}-{bounds[1]}, not {value!r}"
    if not bounds[0] <= int(text) <= bounds[1]:
        return f"{value} is out of range {bounds[0]}-{bounds[1]} for {key}"
    return None


def machine_wide(key: str) -> str | None:
    """Why the ``net.*`` sysctl ``key`` (``.`` separators, ``/`` in interface names) is not a
    namespace's own, or None if it is (as far as the kernel's source says)."""
    return MACHINE_WIDE.get(key)

"""A live handle on one interface: :class:`Link`. Every property asks the kernel.

A link lives in a namespace of a topology: :class:`Host` says what the handle needs of it
(:class:`~pytest_macvlan.topology.namespace.Netns` is the one). Nothing here imports pytest or scapy.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable, Mapping
from ipaddress import ip_interface

from pytest_macvlan.capture.send import Sendable, all_raw, frames_bytes
from pytest_macvlan.capture.sniffer import DEFAULT_RCVBUF, Capture, open_packet_socket, open_send_socket
from pytest_macvlan.errors import ChangeError, ClosedError
from pytest_macvlan.kernel import queries
from pytest_macvlan.kernel.changes import address, bridge_vlan, change_link, delete_link, kind_data
from pytest_macvlan.kernel.messages import bridge_port, set_link
from pytest_macvlan.kernel.records import Address, LinkState
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP
from pytest_macvlan.spec.model import BOND_MODES, IPVLAN_MODES, MACVLAN_MODES, PORT_FLAGS, LinkSpec
from pytest_macvlan.topology.host import Host
from pytest_macvlan.wait import check_timeout, wait_until

_UNSET: object = object()


class Link:
    """One interface of a topology namespace: a live view, identified by its interface index.

    Every property asks the kernel (one ``RTM_GETLINK``, or ``RTM_GETADDR`` for addresses) on
    each access: after a program under test changes the MAC, the mode or the addresses, the
    handle says so. ``spec`` is the spec entry that declared it; ``declared`` is False for a link
    made some other way (by a program under test).
    """

    def __init__(self, netns: Host, name: str, ifindex: int, spec: LinkSpec | None = None) -> None:
        self._host = netns  # where the link was last seen; the ``netns`` property checks it
        self.name = name
        self.ifindex = ifindex
        self._spec = spec
        self._tx: socket.socket | None = None

    @property
    def declared(self) -> bool:
        """Was this link declared in the spec (or a fragment)? False for one a program made."""
        return self._spec is not None

    @property
    def spec(self) -> LinkSpec:
        """The spec entry that declared this link (``LookupError`` for one made some other way)."""
        if self._spec is None:
            raise LookupError(f"link {self.ref} was not declared in the spec (a program made it?)")
        return self._spec

    @property
    def ref(self) -> str:
        return f"{self._host.name}/{self.name}"

    # -- live state ----------------------------------------------------------------------------

    def state(self) -> LinkState:
        """This link as the kernel reports it now (decoded: mode ``"private"``, operstate ``"UP"``).

        A link that a program moved to another namespace of the topology (``ip link set NAME
        netns NS``) is followed there, by its name: the handle's ``netns`` changes with it."""
        self._host.check_open()
        state = queries.get_link(self._host.rtnl, self.ifindex)
        if state is None:
            state = self._follow()
        return state

    def _follow(self) -> LinkState:
        """Find the link, gone from where it was, in another namespace of the topology."""
        found = [(ns, s) for ns in self._host.others() if (s := queries.get_link(ns.rtnl, name=self.name))]
        if len(found) != 1:
            where = "in no namespace of the topology" if not found else "in several namespaces: cannot tell which"
            raise LookupError(
                f"link {self.ref} no longer exists (ifindex {self.ifindex}); a link {self.name} is {where}"
            )
        (target, state), old = found[0], self._host.name
        self._close_tx()
        self._host, self.ifindex = target, state.index
        target.moved(self, old)
        return state

    @property
    def netns(self) -> Host:
        """The namespace the link is in now (the kernel is asked: a program may have moved it)."""
        self.state()
        return self._host

    info = state

    @property
    def kind(self) -> str:
        """``veth``, ``macvlan``, ``bridge``... (``""`` for ``lo``)."""
        return self.state().kind

    @property
    def mac(self) -> str:
        return self.state().mac

    @property
    def mtu(self) -> int:
        return self.state().mtu

    @property
    def mode(self) -> str | None:
        """The kind's mode by name: macvlan ``private|vepa|bridge|passthru|source``, ipvlan
        ``l2|l3|l3s``, bond ``active-backup``...; None for kinds without one."""
        return self.state().mode

    @property
    def flags(self) -> int:
        """The interface flags (``IFF_UP``, ``IFF_PROMISC``, ``IFF_LOWER_UP``...)."""
        return self.state().flags

    @property
    def is_up(self) -> bool:
        return self.state().is_up

    @property
    def carrier(self) -> bool:
        return self.state().lower_up

    @property
    def operstate(self) -> str:
        return self.state().operstate

    @property
    def promisc(self) -> bool:
        return self.state().promisc

    @property
    def allmulticast(self) -> bool:
        return self.state().allmulticast

    @property
    def master(self) -> str | None:
        """The name of the bridge, bond or vrf this link is enslaved to (None if none)."""
        return self._host.name_of(self.state().master)

    @property
    def port(self) -> Mapping[str, int | str]:
        """Bridge-port settings as the kernel reports them (``hairpin``, ``isolated``, ``learning``,
        ``flood``, ``mcast_flood``, ``neigh_suppress``, ``state``); empty if not a bridge port."""
        return self.state().port

    @property
    def addresses(self) -> list[Address]:
        """The link's addresses now (IPv4 and IPv6, with DAD flags: ``tentative``, ``dadfailed``)."""
        self._host.check_open()
        return queries.addresses(self._host.rtnl, self.ifindex)

    @property
    def ipv4(self) -> str | None:
        """The link's first IPv4 address now, without the prefix (None if it has none)."""
        self._host.check_open()
        for a in queries.addresses(self._host.rtnl, self.ifindex, 4):
            return str(a.address)
        return None

    @property
    def ipv6(self) -> str | None:
        """The link's first global IPv6 address now (a link-local one if it has no other), or None."""
        self._host.check_open()
        found = queries.addresses(self._host.rtnl, self.ifindex, 6)
        for a in found:
            if a.scope == "global":
                return str(a.address)
        return str(found[0].address) if found else None

    def wait_carrier(self, on: bool = True, timeout: float = 3.0) -> LinkState:
        """Wait (bounded) until the link's carrier is ``on`` (or off); return the link's state."""
        check_timeout(timeout, f"{self.ref}: wait_carrier", positive=True)
        return wait_until(
            self.state,
            lambda i: bool(i.flags & IFF_LOWER_UP) == on,
            timeout=timeout,
            what=f"{self.ref}: carrier {'on' if on else 'off'}",
            show=lambda i: f"flags=0x{i.flags:x} operstate={i.operstate}",
        )

    def wait_addresses(self, timeout: float = 5.0) -> list[Address]:
        """Wait (bounded) until no address of the link is tentative (IPv6 DAD has finished);
        raise :class:`ChangeError` naming an address whose DAD failed."""
        found = wait_until(
            lambda: self.addresses,
            lambda addrs: not any(a.tentative for a in addrs),
            timeout=timeout,
            what=f"{self.ref}: duplicate address detection",
            show=lambda addrs: ", ".join(str(a) for a in addrs),
        )
        for a in found:
            if a.dadfailed:
                raise ChangeError(f"{self.ref}: addr {a.interface}", errno.EADDRINUSE, f"DAD failed: {a}")
        return found

    # -- changes at run time ---------------------------------------------------------------------

    def set(
        self,
        *,
        address: str | None = None,
        mtu: int | None = None,
        mode: str | None = None,
        master: str | Link | object | None = _UNSET,
        up: bool | None = None,
        promisc: bool | None = None,
        allmulticast: bool | None = None,
        hairpin: bool | None = None,
        **port: bool,
    ) -> None:
        """``ip link set``: MAC (``address``), ``mtu``, ``mode`` (macvlan/macvtap, ipvlan, bond),
        ``master`` (a link name here or a :class:`Link`; ``None`` detaches: ``nomaster``), ``up``,
        ``promisc``, ``allmulticast``; and bridge-port flags ``hairpin``, ``isolated``,
        ``learning``, ``flood``, ``mcast_flood``, ``neigh_suppress``. All go in one batch; a
        refusal raises :class:`~pytest_macvlan.errors.ChangeError` with the kernel's errno and text.
        """
        unknown = set(port) - set(PORT_FLAGS)
        if unknown:
            raise TypeError(f"unknown option(s) for Link.set: {', '.join(sorted(unknown))}")
        kind = None
        if mode is not None:
            kind = self.kind
            modes: Mapping[str, int] = {"ipvlan": IPVLAN_MODES, "bond": BOND_MODES}.get(kind, MACVLAN_MODES)
            if kind not in ("macvlan", "macvtap", "ipvlan", "bond"):
                raise ValueError(f"{self.ref} is a {kind or 'link'}; it has no mode")
            if mode not in modes:
                raise ValueError(f"unknown {kind} mode {mode!r} (one of {', '.join(modes)})")
        master_index: int | None = None
        if master is not _UNSET:
            if master is None or master == "":
                master_index = 0
            elif isinstance(master, Link):
                master_index = master.ifindex
            else:
                master_index = self._host.link(str(master)).ifindex
        shown: dict[str, object] = {"address": address, "mtu": mtu, "mode": mode, "up": up, "promisc": promisc}
        shown |= {"allmulticast": allmulticast, "master": None if master is _UNSET else master or "none"}
        parts = [f"{k} {v}" for k, v in shown.items() if v is not None]
        what = f"{self.ref}: set {' '.join(parts)}"
        requests = []
        if parts:
            requests.append(
                change_link(
                    self.ifindex, what, address=address, mtu=mtu, mode=mode, kind=kind, master=master_index, up=up,
                    promisc=promisc, allmulticast=allmulticast,
                )
            )  # fmt: skip
        flags = {k: v for k, v in {"hairpin": hairpin, **port}.items() if v is not None}
        if flags:
            names = " ".join(f"{k} {'on' if v else 'off'}" for k, v in flags.items())
            requests.append(bridge_port(self.ifindex, f"{self.ref}: bridge link set {names}", **flags))
        if requests:
            self._host.change(requests)

    def set_type(self, **options: object) -> None:
        """``ip link set NAME type KIND OPTION VALUE...``: the options of
        :data:`~pytest_macvlan.kernel.changes.KIND_OPTIONS` (``mode``: :meth:`set`)."""
        kind = self.kind
        data = kind_data(kind, dict(options))
        shown = " ".join(f"{k} {v}" for k, v in options.items())
        self._host.change([change_link(self.ifindex, f"{self.ref}: set type {kind} {shown}", kind=kind, data=data)])

    def set_up(self, up: bool = True) -> None:
        """``ip link set NAME up`` (or down)."""
        self._host.change([set_link(self.ifindex, f"set {self.ref} {'up' if up else 'down'}", up=up)])

    def set_down(self) -> None:
        """``ip link set NAME down``."""
        self.set_up(False)

    def set_hairpin(self, on: bool) -> None:
        """``bridge link set dev NAME hairpin on|off`` (the link must be a bridge port)."""
        self._host.change([bridge_port(self.ifindex, f"{self.ref}: hairpin {on}", hairpin=on)])

    def add_address(self, addr: str, *, nodad: bool = False) -> None:
        """``ip addr add ADDR/PREFIX dev NAME [nodad]``."""
        iface = ip_interface(addr)
        if "/" not in addr:
            raise ValueError(f"address {addr!r} needs a prefix length (like 192.168.9.2/24)")
        self._host.change([address(self.ifindex, iface, f"{self.ref}: addr add {addr}", nodad=nodad)])

    def del_address(self, addr: str) -> None:
        """``ip addr del ADDR/PREFIX dev NAME``."""
        iface = ip_interface(addr)
        self._host.change([address(self.ifindex, iface, f"{self.ref}: addr del {addr}", add=False)])

    def add_vlan(self, vid: int, *, pvid: bool = False, untagged: bool = False) -> None:
        """``bridge vlan add dev NAME vid VID [pvid] [untagged]`` (``self`` when this is the bridge)."""
        own = self.kind == "bridge"
        what = f"{self.ref}: bridge vlan add vid {vid}{' pvid' if pvid else ''}{' untagged' if untagged else ''}"
        self._host.change([bridge_vlan(self.ifindex, vid, what, pvid=pvid, untagged=untagged, own=own)])

    def del_vlan(self, vid: int) -> None:
        """``bridge vlan del dev NAME vid VID``."""
        own = self.kind == "bridge"
        self._host.change(
            [bridge_vlan(self.ifindex, vid, f"{self.ref}: bridge vlan del vid {vid}", own=own, add=False)]
        )

    def move(self, to: Host | str) -> Link:
        """``ip link set NAME netns NS``: into another namespace of the topology. This handle
        follows the link (its index there may differ); returns it. As with ``ip``, the kernel
        brings a moved link down and it keeps no addresses: ``set(up=True)`` it there."""
        target = self._host.sibling(to) if isinstance(to, str) else to
        if target is self._host:
            return self
        target.check_open()
        self._host.change([change_link(self.ifindex, f"{self.ref}: set netns {target.name}", netns_fd=target.fd)])
        self._close_tx()
        state = queries.get_link(target.rtnl, name=self.name)
        if state is None:
            raise LookupError(f"{self.ref} was moved to {target.name} but is not there")
        old = self._host.name
        self._host, self.ifindex = target, state.index
        target.moved(self, old)
        return self

    def delete(self) -> None:
        """``ip link del NAME`` (a veth's peer goes with it). The handle is unusable afterwards."""
        self._host.change([delete_link(self.ifindex, f"{self.ref}: delete")])
        self._close_tx()
        self._host.moved(self, "")

    # -- frames ----------------------------------------------------------------------------

    def sniff(self, rcvbuf: int = DEFAULT_RCVBUF) -> Capture:
        """A capture of every frame this link sends or receives, ready when returned."""
        self._host.check_open()
        try:
            sock = open_packet_socket(self._host.fd, self.name, rcvbuf)
        except OSError as exc:
            raise OSError(exc.errno, f"{self.ref}: cannot sniff: {exc.strerror}{_gone(exc)}") from None
        cap = Capture(self.ref, sock)
        self._host.keep_capture(cap)
        self._host.on_teardown(f"close capture on {self.ref}", cap.close)
        return cap

    def send(self, frames: Sendable | Iterable[Sendable]) -> int:
        """Send scapy packets or raw frames out of this link; returns how many were sent."""
        self._host.check_open()
        if all_raw(frames):  # nothing to fill in: no need to ask the kernel
            datas = frames_bytes(frames, "", None, self.ref)
        else:  # sources come from the link as it is now (a program may have changed its MAC)
            datas = frames_bytes(frames, self.mac, self.ipv4, self.ref)
        if self._tx is None:
            try:
                self._tx = open_send_socket(self._host.fd, self.name)
            except OSError as exc:
                raise OSError(exc.errno, f"{self.ref}: cannot send: {exc.strerror}{_gone(exc)}") from None
            self._host.on_teardown(f"close send socket on {self.ref}", self._close_tx)
        send = self._tx.send
        try:
            for data in datas:
                send(data)
        except OSError as exc:
            raise OSError(exc.errno, f"{self.ref}: send failed: {exc.strerror}{_gone(exc)}") from None
        return len(datas)

    def _close_tx(self) -> None:
        if self._tx is not None:
            self._tx.close()
            self._tx = None

    def __repr__(self) -> str:
        try:
            st = self.state()
        except (LookupError, ClosedError):
            return f"<Link {self.ref} ifindex={self.ifindex} (gone)>"
        return f"<Link {self.ref} {st.kind}{' ' + st.mode if st.mode else ''} ifindex={self.ifindex} {st.mac}>"


def _gone(exc: OSError) -> str:
    return " (the link no longer exists)" if exc.errno in (errno.ENODEV, errno.ENXIO) else ""

"""A multicast group held for a test: :class:`Membership` (``Netns.join``)."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address

from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.topology.host import Host
from pytest_macvlan.topology.links import Link


class Membership:
    """A multicast group joined from a socket inside a namespace (:meth:`Netns.join`)."""

    def __init__(self, ns: Host, group: IPv4Address | IPv6Address, link: Link) -> None:
        self.netns = ns
        self.group = group
        self.link = link
        if not group.is_multicast:
            raise ValueError(f"{group} is not a multicast address")
        family = socket.AF_INET if group.version == 4 else socket.AF_INET6
        self._sock: socket.socket | None = netns.socket_in(ns.fd, family, socket.SOCK_DGRAM)
        try:
            if group.version == 4:  # struct ip_mreqn: group, local address (any), ifindex
                mreq = group.packed + b"\0\0\0\0" + struct.pack("=i", link.ifindex)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:  # struct ipv6_mreq: group, ifindex
                mreq = group.packed + struct.pack("=i", link.ifindex)
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        except OSError as exc:
            self._sock.close()
            raise OSError(exc.errno, f"{ns.name}: cannot join {group} on {link.name}: {exc.strerror}") from None
        ns.on_teardown(f"leave {group} on {link.ref}", self.leave)

    def leave(self) -> None:
        """Leave the group (closing the socket: the kernel sends the IGMP leave / MLD done)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def joined(self) -> bool:
        return self._sock is not None

    def __repr__(self) -> str:
        return f"<Membership {self.group} on {self.link.ref}{'' if self.joined else ' (left)'}>"

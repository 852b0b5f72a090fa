"""Tap devices: made through ``/dev/net/tun`` (not netlink), persistent, inside a namespace."""

from __future__ import annotations

import fcntl
import os
import struct

from pytest_macvlan.kernel import nsworker

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def make_tap(ns_fd: int, name: str) -> None:
    """``ip tuntap add NAME mode tap`` inside the namespace ``ns_fd``: a persistent tap (raises OSError)."""

    def make() -> None:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        finally:
            os.close(fd)

    nsworker.run_in(ns_fd, make)

"""Small things several test modules share."""

from __future__ import annotations

import os
from typing import Any

#: Two namespaces joined by one veth pair, 192.168.9.2 <-> 192.168.9.3.
PAIR: dict[str, Any] = {
    "netns": {
        "a": {
            "link": {
                "v0": {
                    "type": "veth",
                    "addr": ["192.168.9.2/24"],
                    "peer": {"name": "v0", "netns": "b", "addr": ["192.168.9.3/24"]},
                }
            }
        },
        "b": {},
    }
}


def net_fds() -> set[int]:
    """The inodes of the network namespaces this process holds descriptors of."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("net:["):
                found.add(os.stat(f"/proc/self/fd/{fd}").st_ino)
        except OSError:
            continue
    return found


#: Two private macvlans on a veth whose peer is a bridge port with hairpin on (TOML text).
PRIVATE_TOML = """
description = "two private macvlans on a veth whose peer is a bridge port with hairpin on"

[netns.host.link.br0]
type = "bridge"
addr = ["192.168.9.1/24"]

[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0", hairpin = true }

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"
mode = "private"
addr = ["192.168.9.2/24"]

[netns.ns2.link.macvl2]
type = "macvlan"
link = "host/veth1"
mode = "private"
addr = ["192.168.9.3/24"]
"""

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

"""Every test builds the same spec, with the same names: a/v0 <-> b/v0, the same addresses.

``MANY_COUNT`` tests; each records which namespaces it had (socket cookies) in ``RECORD_DIR``.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import Netns
from pytest_macvlan.kernel import nsworker

SPEC: dict[str, Any] = {
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
ETHERTYPE = "88b5"


def cookie(ns: Netns) -> int:
    """The namespace's cookie (``SO_NETNS_COOKIE``), unique for the machine's uptime."""
    with nsworker.run_in(ns.fd, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as s:
        value: int = struct.unpack("Q", s.getsockopt(socket.SOL_SOCKET, 71, 8))[0]
        return value


@pytest.mark.parametrize("n", range(int(os.environ.get("MANY_COUNT", "4"))))
def test_topology(netlab: Any, n: int) -> None:
    topo = netlab.build(SPEC)
    va, vb = topo.link("a/v0"), topo.link("b/v0")
    cap = vb.sniff()
    mine = f"{os.environ['RUN_TAG']}-{n}".encode().ljust(46, b".")
    frame = bytes.fromhex("ffffffffffff" + va.mac.replace(":", "") + ETHERTYPE) + mine
    va.send([frame] * 3)
    assert topo["a"].ping("192.168.9.3").ok
    cap.wait_for(lambda f: bytes(f)[12:14] == bytes.fromhex(ETHERTYPE), count=3)
    ours = [f for f in cap.frames if f.data[12:14] == bytes.fromhex(ETHERTYPE)]
    assert [f.data[14:] for f in ours] == [mine] * 3, cap.summary()  # no frame of another test
    assert {f.src for f in cap.frames} <= {va.mac, vb.mac}, cap.summary()
    links = topo["a"].run("ip", "-o", "link").stdout
    assert sorted(line.split(": ")[1].split("@")[0] for line in links.splitlines()) == ["lo", "v0"], links
    record = {
        "n": n,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "cookies": [cookie(ns) for ns in topo],
        "macs": [va.mac, vb.mac],
    }
    Path(os.environ["RECORD_DIR"], f"{os.environ['RUN_TAG']}-{n}.json").write_text(json.dumps(record))

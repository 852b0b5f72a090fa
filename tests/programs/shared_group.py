"""A module-scoped topology shared by the tests of one ``xdist_group``, named by the file's last
``_`` part (``test_shared_g1.py`` is group ``g1``); each test records what it saw in ``RECORD_DIR``."""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan import Topology
from pytest_macvlan.kernel import nsworker
from pytest_macvlan.plugin import factories

GROUP = Path(__file__).stem.rsplit("_", 1)[-1]
SPEC = {"netns": {"a": {"link": {"v0": {"type": "veth", "peer": {"name": "v0", "netns": "b"}}}}, "b": {}}}
shared = factories.topology(SPEC, scope="module")
pytestmark = pytest.mark.xdist_group(GROUP)


def record(topo: Topology, name: str) -> None:
    with nsworker.run_in(topo["a"].fd, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as s:
        cookie = struct.unpack("Q", s.getsockopt(socket.SOL_SOCKET, 71, 8))[0]
    data: dict[str, Any] = {
        "group": GROUP,
        "test": name,
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "cookie": cookie,
    }
    Path(os.environ["RECORD_DIR"], f"g-{GROUP}-{name}.json").write_text(json.dumps(data))


def test_1_changes_it(shared: Topology) -> None:
    record(shared, "1")
    shared["a"].sysctl("net.ipv4.ip_forward", 1)


def test_2_sees_the_change(shared: Topology) -> None:
    record(shared, "2")
    assert shared["a"].sysctl("net.ipv4.ip_forward") == "1", "the same topology as test_1"


def test_3(shared: Topology) -> None:
    record(shared, "3")
    assert shared.link("a/v0").carrier

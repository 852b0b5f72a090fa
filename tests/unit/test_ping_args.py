"""The arguments ``Netns.ping`` and ``Netns.echo`` share (kernel/ping.py), and the pieces of the
native echo that need no kernel (kernel/echo.py): checksum, payload, ping's words for errors."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_macvlan.kernel import echo
from pytest_macvlan.kernel.ping import command, probe

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


@given(
    dst=addresses,
    count=st.integers(1, 100000),
    timeout=st.floats(0.001, 3600),
    interval=st.floats(0.001, 3600),
    size=st.none() | st.integers(0, 65507),
    deadline=st.none() | st.integers(1, 3600),
)
def test_valid_arguments_become_one_argv_item_each(
    dst: str, count: int, timeout: float, interval: float, size: int | None, deadline: int | None
) -> None:
    p = probe(dst, count, timeout, interval, size=size, deadline=deadline)
    argv = command(p)
    assert argv[:3] == ["ping", "-n", "-c"] and argv[3] == str(count) and argv[-1] == dst
    assert ("-s" in argv) == (size is not None) and ("-w" in argv) == (deadline is not None)
    if deadline is not None:
        assert argv[argv.index("-w") + 1] == str(deadline)
    assert p.limit > 5 and p.payload == (56 if size is None else size)


@pytest.mark.parametrize(
    "bad",
    [
        {"dst": "example.org"},
        {"dst": "192.168.9.3; reboot"},
        {"dst": "10.0.0.1", "count": 0},
        {"dst": "10.0.0.1", "count": True},
        {"dst": "10.0.0.1", "timeout": 0},
        {"dst": "10.0.0.1", "interval": float("nan")},
        {"dst": "10.0.0.1", "deadline": 0.5},
        {"dst": "10.0.0.1", "size": 65508},
        {"dst": "10.0.0.1", "size": True},
        {"dst": "10.0.0.1", "interface": "x" * 16},
        {"dst": "10.0.0.1", "interface": "a b"},
        {"dst": "2001:db8::1", "broadcast": True},
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        probe(**bad)


@given(st.binary(max_size=200))
def test_an_icmp_checksum_makes_the_packet_sum_to_zero(data: bytes) -> None:
    body = b"\x08\x00\x00\x00" + data
    packet = body[:2] + struct.pack("!H", echo._checksum(body)) + body[4:]
    assert echo._checksum(packet) == 0


@given(st.integers(0, 2000))
def test_the_payload_is_pings(size: int) -> None:
    body = echo._payload(size)
    assert len(body) == size
    assert all(body[i] == i & 0xFF for i in range(16 if size >= 16 else 0, size))


def test_errors_are_said_in_pings_words() -> None:
    assert echo._error_text(4, 3, 1, 0) == "Destination Host Unreachable"
    assert echo._error_text(4, 3, 4, 1400) == "Frag needed and DF set (mtu = 1400)"
    assert echo._error_text(4, 11, 0, 0) == "Time to live exceeded"
    assert echo._error_text(6, 1, 3, 0) == "Destination unreachable: Address unreachable"
    assert echo._error_text(6, 3, 0, 0) == "Time exceeded: Hop limit"

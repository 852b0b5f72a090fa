"""``Netns.echo`` (ICMP echo from a raw socket) against ``Netns.ping`` (iputils' program), on the
same situations in the same topology: the same verdicts, the same counts, the same TTL, the
same kind of failure, and the same probes on the wire.

``a`` (192.168.9.2, 2001:db8::2) and ``b`` (.3, ::3) share the bridge ``br0`` in ``h``; ``r``
routes between it (.1) and ``c`` (203.0.113.66, a documentation range) on 203.0.113.0/24.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_macvlan import PingResult, Topology, icmp_echo_request, incoming

ROUTED: dict[str, Any] = {
    "netns": {
        "h": {
            "link": {
                "br0": {"type": "bridge"},
                "v1": {
                    "type": "veth",
                    "master": "br0",
                    "peer": {"name": "e1", "netns": "a", "addr": ["192.168.9.2/24", "2001:db8::2/64"]},
                },
                "v2": {
                    "type": "veth",
                    "master": "br0",
                    "peer": {"name": "e2", "netns": "b", "addr": ["192.168.9.3/24", "2001:db8::3/64"]},
                },
                "v3": {
                    "type": "veth",
                    "master": "br0",
                    "peer": {"name": "e3", "netns": "r", "addr": ["192.168.9.1/24"]},
                },
            }
        },
        "a": {
            "ipv6": True,
            "nodad": True,
            "sysctl": {"net.ipv4.neigh.e1.retrans_time_ms": 100, "net.ipv6.neigh.e1.retrans_time_ms": 100},
            "route": [{"to": "default", "via": "192.168.9.1"}],
        },
        "b": {"ipv6": True, "nodad": True, "sysctl": {"net.ipv4.icmp_echo_ignore_broadcasts": 0}},
        "r": {
            "sysctl": {"net.ipv4.ip_forward": 1, "net.ipv4.neigh.w0.retrans_time_ms": 100},
            "link": {
                "w0": {
                    "type": "veth",
                    "addr": ["203.0.113.1/24"],
                    "peer": {"name": "w1", "netns": "c", "addr": ["203.0.113.66/24"]},
                }
            },
        },
        "c": {"route": [{"to": "default", "via": "203.0.113.1"}]},
    }
}

#: (namespace, destination, keyword arguments): each a situation a test meets.
SITUATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("a", "192.168.9.3", {}),  # a neighbour answers
    ("a", "203.0.113.66", {}),  # through a router: one hop less TTL
    ("a", "192.168.9.99", {}),  # ARP unanswered: the sender's own stack says host unreachable
    ("a", "203.0.113.99", {}),  # the router's ARP unanswered: the router says so
    ("b", "203.0.113.66", {}),  # no route at all: ping gives up before sending
    ("a", "2001:db8::3", {}),  # IPv6 neighbour answers
    ("a", "2001:db8::99", {}),  # neighbour discovery unanswered
    ("a", "192.168.9.3", {"count": 3, "interval": 0.05}),
    ("a", "192.168.9.3", {"count": 2, "interval": 0.05, "interface": "e1", "size": 1000}),
    ("a", "192.168.9.99", {"timeout": 0.2, "deadline": 1}),
    ("a", "192.168.9.255", {"broadcast": True, "interface": "e1", "timeout": 0.3}),
    ("a", "192.168.9.3", {"interface": "nosuchlink"}),
    ("a", "127.0.0.1", {}),
]


def facts(r: PingResult) -> tuple[bool, int, int, int | None, bool, int]:
    return (r.ok, r.transmitted, r.received, r.ttl, r.unreachable, r.returncode)


@pytest.mark.topology(ROUTED)
@pytest.mark.parametrize(("ns", "dst", "kw"), SITUATIONS, ids=[f"{s[0]}->{s[1]}{sorted(s[2])}" for s in SITUATIONS])
def test_echo_says_what_ping_says(topology: Topology, ns: str, dst: str, kw: dict[str, Any]) -> None:
    netns = topology[ns]
    program = netns.ping(dst, **kw)
    native = netns.echo(dst, **kw)
    assert facts(native) == facts(program), f"ping said:\n{program.output}\necho said:\n{native.output}"


@pytest.mark.topology(ROUTED)
def test_echo_sends_pings_probes(topology: Topology) -> None:
    """On the wire, echo's requests are ping's: same size, same IP header fields, same payload
    after the timestamp."""
    a = topology["a"]
    cap = topology.link("b/e2").sniff()
    assert a.ping("192.168.9.3", size=100).ok
    assert a.echo("192.168.9.3", size=100).ok
    frames = cap.wait_for(icmp_echo_request(dst="192.168.9.3") & incoming, count=2)
    program, native = (f.data for f in frames[:2])
    assert len(program) == len(native), (len(program), len(native))
    ip_fields = slice(14, 14 + 4), slice(14 + 6, 14 + 9)  # version..length; flags, fragment, TTL, protocol
    for part in ip_fields:
        assert program[part] == native[part], (part, program[part].hex(), native[part].hex())
    payload = 14 + 20 + 8 + 16  # after Ethernet, IP, ICMP and the timeval
    assert program[payload:] == native[payload:]


@pytest.mark.topology(ROUTED)
def test_echo_waits_the_timeout_for_a_silent_host(topology: Topology) -> None:
    """A host that does not answer (and no ICMP error): echo, like ping, waits ``timeout``
    after the probe before it gives up, and not much longer."""
    topology["b"].sysctl("net.ipv4.icmp_echo_ignore_all", 1)
    started = time.monotonic()
    r = topology["a"].echo("192.168.9.3", timeout=0.3)
    took = time.monotonic() - started
    assert not r.ok and not r.unreachable and r.transmitted == 1, r.output
    assert took >= 0.3, took


@pytest.mark.topology(ROUTED)
def test_echo_output_reads_like_ping(topology: Topology) -> None:
    r = topology["a"].echo("203.0.113.99")
    assert r.unreachable and "From 192.168.9.1 icmp_seq=1 Destination Host Unreachable" in r.output, r.output
    r = topology["a"].echo("192.168.9.3", count=2, interval=0.05)
    assert "2 packets transmitted, 2 received, 0% packet loss" in r.output, r.output
    assert "64 bytes from 192.168.9.3: icmp_seq=2 ttl=64 time=" in r.output, r.output

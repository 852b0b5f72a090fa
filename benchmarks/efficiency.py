"""Is macvlan "more efficient" than a bridge (the article, L7)? Measured side by side, in one run.

Two paths between two namespaces, built together in one topology (:data:`SPEC`):

- *macvlan*: ns1/macvl1 and ns2/macvl2, bridge-mode macvlans on one parent (host/nic, a veth
  whose peer is up in namespace ``wire`` so that it has a carrier). The driver switches the
  frames between the two itself.
- *bridge*: ns3/eth0 and ns4/eth0, each a veth whose peer is a port of the bridge host/br0, the
  way containers were connected "before MACVLAN" (L9).

Over each path, the same traffic from the first namespace to the second, on UDP sockets created
inside the namespaces by this process (no program is started): **throughput**, bursts of
datagrams sent and then received, until :data:`DATAGRAMS` went through or the round's deadline
passed; **latency**, one datagram there and one back, :data:`ROUND_TRIPS` times, the median. The
two paths alternate, :data:`ROUNDS` times; the result is each path's median and the ratios
macvlan / bridge. Every loop is bounded by a count and a deadline; a lost datagram costs one
receive timeout and is counted, never waited for forever.

Run alone (as root): ``.venv/bin/python benchmarks/efficiency.py [--quick]``; the claim test
``scenarios/test_general.py::test_macvlan_is_more_efficient_than_a_bridge`` runs the same
:func:`measure` and reports the ratios as its evidence.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from pytest_macvlan.kernel.nsworker import socket_in
from pytest_macvlan.topology.handles import Topology

SPEC = """
description = "Two paths between two namespaces: bridge-mode macvlans on one parent; veth pairs and a bridge."

[netns.wire]

[netns.host]
sysctl = { "net.ipv4.igmp_link_local_mcast_reports" = 0 }

[netns.host.link.nic]
type = "veth"
peer = { name = "nic", netns = "wire" }

[netns.host.link.br0]
type = "bridge"

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/nic"
mode = "bridge"
addr = ["192.168.9.11/24"]

[netns.ns2.link.macvl2]
type = "macvlan"
link = "host/nic"
mode = "bridge"
addr = ["192.168.9.12/24"]

[netns.ns3.link.eth0]
type = "veth"
addr = ["192.168.9.21/24"]
peer = { name = "veth3_br", netns = "host", master = "br0" }

[netns.ns4.link.eth0]
type = "veth"
addr = ["192.168.9.22/24"]
peer = { name = "veth4_br", netns = "host", master = "br0" }
"""
#: path name -> (sending namespace, receiving namespace, receiver's address)
PATHS = {"macvlan": ("ns1", "ns2", "192.168.9.12"), "bridge": ("ns3", "ns4", "192.168.9.22")}
PORT = 9000
PAYLOAD = 1400  # bytes of UDP payload: a full-size frame
BURST = 32  # datagrams per burst (well inside the receive buffer)
DATAGRAMS = 10_000  # per throughput round
ROUND_TRIPS = 1_000  # per latency round
ROUNDS = 9
ROUND_DEADLINE = 5.0  # seconds: a round stops here, whatever it reached
RECV_TIMEOUT = 0.5  # seconds: a datagram not there by then is counted lost
RCVBUF = 1 << 20


class Builds(Protocol):
    def build(self, spec: Any) -> Topology: ...


@dataclass
class PathResult:
    path: str
    mbit_s: float  # median over rounds of UDP payload throughput
    datagrams_s: float
    rtt_us: float  # median over rounds of the median round trip
    lost: int  # datagrams that did not arrive within RECV_TIMEOUT, over all rounds


@dataclass
class Efficiency:
    macvlan: PathResult
    bridge: PathResult
    rounds: int
    #: macvlan / bridge, the median of the rounds' ratios (each round's two paths ran back to
    #: back, so a ratio within a round cancels most of the shared machine's drift): above 1,
    #: macvlan moves more.
    throughput_ratio: float
    #: macvlan / bridge round trip, the median of the rounds' ratios: below 1, macvlan answers sooner.
    latency_ratio: float

    def lines(self) -> list[str]:
        return [
            f"{p.path}: {p.mbit_s:.0f} Mbit/s ({p.datagrams_s:.0f} datagrams/s), round trip {p.rtt_us:.1f} us"
            + (f", {p.lost} lost" if p.lost else "")
            for p in (self.macvlan, self.bridge)
        ] + [
            f"macvlan/bridge: throughput x{self.throughput_ratio:.2f}, latency x{self.latency_ratio:.2f} "
            f"(medians of the ratios of {self.rounds} alternated rounds)"
        ]

    def to_json_flat(self) -> dict[str, float | int | str]:
        """The numbers, one level deep (a claim's evidence ``measurement``)."""
        flat: dict[str, float | int | str] = {"rounds": self.rounds}
        for p in (self.macvlan, self.bridge):
            flat |= {f"{p.path}_mbit_s": round(p.mbit_s, 1), f"{p.path}_rtt_us": round(p.rtt_us, 2)}
        flat |= {"throughput_ratio": round(self.throughput_ratio, 3), "latency_ratio": round(self.latency_ratio, 3)}
        return flat

    def to_json(self) -> dict[str, Any]:
        return {
            "macvlan": asdict(self.macvlan),
            "bridge": asdict(self.bridge),
            "rounds": self.rounds,
            "throughput_ratio": round(self.throughput_ratio, 3),
            "latency_ratio": round(self.latency_ratio, 3),
        }


class Pair:
    """A UDP socket in each namespace of one path, bound and connected to each other."""

    def __init__(self, topo: Topology, path: str) -> None:
        src, dst, dst_ip = PATHS[path]
        src_ip = _addr_of(topo, src)
        self.tx = socket_in(topo[src].fd, socket.AF_INET, socket.SOCK_DGRAM)
        self.rx = socket_in(topo[dst].fd, socket.AF_INET, socket.SOCK_DGRAM)
        for sock in (self.tx, self.rx):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.settimeout(RECV_TIMEOUT)
        self.tx.bind((src_ip, PORT))
        self.rx.bind((dst_ip, PORT))
        self.tx.connect((dst_ip, PORT))
        self.rx.connect((src_ip, PORT))
        self.lost = 0

    def warm(self) -> None:
        """Neighbour entries resolved, caches warm: a few round trips, not measured."""
        for _ in range(20):
            self.round_trip(b"w")

    def round_trip(self, data: bytes) -> float:
        start = time.perf_counter()
        self.tx.send(data)
        try:
            self.rx.recv(65536)
            self.rx.send(data)
            self.tx.recv(65536)
        except TimeoutError:
            self.lost += 1
            return float("nan")
        return time.perf_counter() - start

    def latency(self, n: int) -> float:
        """The median round trip of ``n`` (within the round's deadline), in microseconds."""
        deadline = time.monotonic() + ROUND_DEADLINE
        times: list[float] = []
        data = b"x" * 64
        while len(times) < n and time.monotonic() < deadline:
            t = self.round_trip(data)
            if t == t:  # not NaN
                times.append(t)
        return statistics.median(times) * 1e6

    def throughput(self, n: int) -> tuple[float, float]:
        """``(Mbit/s, datagrams/s)`` of UDP payload for ``n`` datagrams (within the round's deadline)."""
        data = b"y" * PAYLOAD
        deadline = time.monotonic() + ROUND_DEADLINE
        got = 0
        start = time.perf_counter()
        while got < n and time.monotonic() < deadline:
            for _ in range(BURST):
                self.tx.send(data)
            for _ in range(BURST):
                try:
                    self.rx.recv(65536)
                except TimeoutError:
                    self.lost += 1
                    break
                got += 1
        elapsed = time.perf_counter() - start
        return got * PAYLOAD * 8 / elapsed / 1e6, got / elapsed

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


def _addr_of(topo: Topology, ns: str) -> str:
    link = topo.link(f"{ns}/macvl{ns[2:]}") if ns in ("ns1", "ns2") else topo.link(f"{ns}/eth0")
    ip = link.ipv4
    assert ip is not None, f"{link.ref} has no IPv4 address"
    return ip


def measure(
    lab: Builds, rounds: int = ROUNDS, datagrams: int = DATAGRAMS, round_trips: int = ROUND_TRIPS
) -> Efficiency:
    """Build :data:`SPEC` with ``lab`` and measure both paths, alternated, ``rounds`` times."""
    topo = lab.build(SPEC)
    pairs = {path: Pair(topo, path) for path in PATHS}
    try:
        for pair in pairs.values():
            pair.warm()
        samples: dict[str, dict[str, list[float]]] = {p: {"mbit": [], "dgram": [], "rtt": []} for p in PATHS}
        for n in range(rounds):
            order = list(PATHS) if n % 2 == 0 else list(reversed(PATHS))
            for path in order:
                mbit, dgram = pairs[path].throughput(datagrams)
                samples[path]["mbit"].append(mbit)
                samples[path]["dgram"].append(dgram)
                samples[path]["rtt"].append(pairs[path].latency(round_trips))
        result = {
            path: PathResult(
                path,
                statistics.median(s["mbit"]),
                statistics.median(s["dgram"]),
                statistics.median(s["rtt"]),
                pairs[path].lost,
            )
            for path, s in samples.items()
        }
        m, b = samples["macvlan"], samples["bridge"]
        return Efficiency(
            result["macvlan"],
            result["bridge"],
            rounds,
            statistics.median(x / y for x, y in zip(m["mbit"], b["mbit"], strict=True)),
            statistics.median(x / y for x, y in zip(m["rtt"], b["rtt"], strict=True)),
        )
    finally:
        for pair in pairs.values():
            pair.close()


def main() -> None:
    from pytest_macvlan.topology.lab import NetLab

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 rounds of a fifth of the traffic")
    args = parser.parse_args()
    with NetLab() as lab:
        if args.quick:
            result = measure(lab, rounds=3, datagrams=DATAGRAMS // 5, round_trips=ROUND_TRIPS // 5)
        else:
            result = measure(lab)
    print("\n".join(result.lines()))
    print(json.dumps(result.to_json(), indent=1))


if __name__ == "__main__":
    main()

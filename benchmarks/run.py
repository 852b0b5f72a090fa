"""pytest-macvlan benchmarks: ``.venv/bin/python benchmarks/run.py [--quick] [--json out.json] [--only A,B]``.

Sections (docs/performance.md says what each measures and the targets):

- ``build``: build and teardown of every ``scenarios/*.toml`` through the plugin, against the
  same topology built by generated ``ip -batch`` scripts (``benchmarks/ipbatch.py``), alternated
  in the same run; ``private.toml`` also without its firewall rules.
- ``latency``: send-to-capture through ``Link.send`` and ``Capture``, raw bytes and a scapy
  packet, on a veth pair and between two macvlans.
- ``burst``: 10,000 frames sent as fast as ``Link.send`` goes; captured versus sent, and the
  kernel's own counters (``Capture.stats()``); then the same into a deliberately small buffer,
  to show that loss is reported, not silent.
- ``startup``: ``pytest --collect-only`` over tests that use no capture, with and without
  ``-p pytest_macvlan`` (subprocesses, alternated).
- ``scale``: 100..1,000 macvlans on one parent; 25..200 namespaces; build and teardown, with a
  least-squares fit of time against size (the growth per element) and the log-log slope.
- ``suite``: wall time of ``pytest -p pytest_macvlan scenarios``, serial and with ``-n 2``.
- ``efficiency``: the article's "more efficient" (L7): UDP throughput and round trips between two
  namespaces over bridge-mode macvlans against veth pairs and a bridge, alternated
  (``benchmarks/efficiency.py``); the ratios macvlan / bridge.
- ``live``: a live ``Link`` property read (``Link.mac``: one ``RTM_GETLINK`` decoded by
  :mod:`pytest_macvlan.kernel.queries`), ``Link.ipv4`` (one ``RTM_GETADDR`` dump), pyroute2's
  decoding of the same ``RTM_NEWLINK`` answer for comparison; and ``topo.apply`` of a fragment
  adding one macvlan with an address to a live topology.
- ``kernels``: user-mode Linux lanes (``benchmarks/kernels.py``): boot to a running command,
  the scenarios per UML kernel, the whole matrix of four UML kernels and the host.

Every number is a median over repeated runs with its p10-p90 spread. Nothing is created in the
namespace this runs in: the plugin builds in namespaces of its own, the ``ip`` scripts run in a
child with a private ``/run`` (see ``ipbatch.py``). Run as root (the tests' requirements).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import efficiency, kernels, specs  # noqa: E402
from benchmarks.ipbatch import Baseline, plan  # noqa: E402
from pytest_macvlan.errors import KernelFeatureError, WaitTimeout  # noqa: E402
from pytest_macvlan.kernel import nsworker as nsmod  # noqa: E402
from pytest_macvlan.kernel.messages import link_up  # noqa: E402
from pytest_macvlan.kernel.rtnl import RtnlSocket  # noqa: E402
from pytest_macvlan.spec.model import TopologySpec  # noqa: E402
from pytest_macvlan.spec.parse import load_spec, parse_spec  # noqa: E402
from pytest_macvlan.topology.lab import build  # noqa: E402
from pytest_macvlan.wait import wait_until  # noqa: E402

# -- statistics --------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    if not s:
        return math.nan
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values) if values else math.nan,
        "p10": quantile(values, 0.10),
        "p90": quantile(values, 0.90),
        "min": min(values) if values else math.nan,
        "n": len(values),
        "values": [round(v, 4) for v in values],
    }


def fit(sizes: list[int], times: list[float]) -> dict[str, float]:
    """``time = a + b * size`` (least squares) with R²; ``doubling``: the time per element at the
    largest size over that at the size before (sizes double: 1 = linear, 2 = quadratic; a fixed
    cost makes it less than 1); the cost per element added between the two smallest and the two
    largest sizes; and the log-log slope (1 = linear, misleading when ``a`` is not small)."""
    n = len(sizes)
    mx, my = sum(sizes) / n, sum(times) / n
    sxx = sum((x - mx) ** 2 for x in sizes)
    sxy = sum((x - mx) * (y - my) for x, y in zip(sizes, times, strict=True))
    b = sxy / sxx
    a = my - b * mx
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(sizes, times, strict=True))
    ss_tot = sum((y - my) ** 2 for y in times)
    lx = [math.log(x) for x in sizes]
    ly = [math.log(max(y, 1e-9)) for y in times]
    mlx, mly = sum(lx) / n, sum(ly) / n
    k = sum((x - mlx) * (y - mly) for x, y in zip(lx, ly, strict=True)) / sum((x - mlx) ** 2 for x in lx)
    first = (times[1] - times[0]) / (sizes[1] - sizes[0])
    last = (times[-1] - times[-2]) / (sizes[-1] - sizes[-2])
    return {
        "intercept_ms": a,
        "per_element_ms": b,
        "r2": 1 - ss_res / ss_tot if ss_tot else 1.0,
        "marginal_first_ms": first,
        "marginal_last_ms": last,
        "marginal_ratio": last / first if first > 0 else math.inf,
        "doubling": (times[-1] / sizes[-1]) / (times[-2] / sizes[-2]),
        "loglog_slope": k,
    }


# -- the machine settling down between runs ----------------------------------------------------


class Settler:
    """Waits (bounded) until the kernel's RTNL is free again.

    Closing a topology returns at once, but the kernel destroys its namespaces afterwards, in
    the background, holding RTNL: the next build would pay for the last one's teardown. Before
    each timed build this polls the latency of a no-op ``RTM_NEWLINK`` (``lo up``) in a private
    namespace until three in a row take under ``limit_ms`` (at most ``timeout`` seconds).
    """

    def __init__(self, enabled: bool = True, limit_ms: float = 0.5, timeout: float = 3.0) -> None:
        self.enabled = enabled
        self.limit_ms = limit_ms
        self.timeout = timeout
        [(self.fd, sock)] = nsmod.create(1, lambda i, fd: _netlink_socket())
        self.rtnl = RtnlSocket(self.fd, sock)
        self.unsettled = 0

    def probe(self) -> float:
        worst = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            self.rtnl.apply_or_raise([link_up(1, "settle: lo up")])
            worst = max(worst, (time.perf_counter() - t0) * 1e3)
        return worst

    def __call__(self) -> None:
        if not self.enabled:
            return
        try:
            wait_until(self.probe, lambda ms: ms < self.limit_ms, timeout=self.timeout, what="RTNL settled")
        except WaitTimeout:
            self.unsettled += 1

    def close(self) -> None:
        self.rtnl.close()
        os.close(self.fd)


def _netlink_socket() -> Any:
    import socket

    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)


# -- 1. build and teardown against ip -batch ---------------------------------------------------


def without_firewall(spec: TopologySpec) -> TopologySpec:
    nss = tuple(dataclasses.replace(ns, iptables=(), nft=None) for ns in spec.netns)
    return TopologySpec(f"{spec.source} (no firewall)", nss, spec.links, spec.description)


def time_plugin(spec: TopologySpec) -> tuple[float, float]:
    t0 = time.perf_counter()
    topo = build(spec)
    t1 = time.perf_counter()
    failures = topo.close()
    t2 = time.perf_counter()
    if failures:
        raise RuntimeError(f"teardown failed: {failures}")
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def bench_build(args: argparse.Namespace, settle: Settler, base: Baseline) -> dict[str, Any]:
    reps = args.reps or (10 if args.quick else 30)
    cases: list[tuple[str, TopologySpec | None, str]] = []
    for path in sorted((REPO / "scenarios").glob(args.scenarios)):
        loaded = load_spec(path)
        if "vlan" in loaded.kinds():
            cases.append((path.name, None, "skipped: needs 802.1Q VLANs, which this kernel lacks"))
            continue
        cases.append((path.name, loaded, ""))
        if any(ns.iptables or ns.nft for ns in loaded.netns):
            cases.append((f"{path.name} without firewall", without_firewall(loaded), ""))
    out: dict[str, Any] = {}
    for name, spec, note in cases:
        if spec is None:
            out[name] = {"skipped": note}
            print(f"  {name}: {note}", flush=True)
            continue
        try:
            p = plan(spec)
            base.prepare(name, p)
            time_plugin(spec)  # warm-up (and: does this kernel have what the spec needs?)
            base.build(name)
            base.teardown(name)
        except KernelFeatureError as exc:
            out[name] = {"skipped": f"kernel lacks {exc.feature}"}
            print(f"  {name}: skipped, kernel lacks {exc.feature}", flush=True)
            continue
        except RuntimeError as exc:  # the ip script failed: say so, measure the rest
            out[name] = {"skipped": f"error: {exc}"}
            print(f"  {name}: error: {exc}", flush=True)
            continue
        pb: list[float] = []
        pt: list[float] = []
        ib: list[float] = []
        it: list[float] = []
        for i in range(reps):
            for who in ("plugin", "ip") if i % 2 == 0 else ("ip", "plugin"):
                settle()
                if who == "plugin":
                    b, t = time_plugin(spec)
                    pb.append(b)
                    pt.append(t)
                else:
                    ib.append(base.build(name))
                    it.append(base.teardown(name))
        row: dict[str, Any] = {
            "plugin_build_ms": summary(pb),
            "plugin_teardown_ms": summary(pt),
            "ip_build_ms": summary(ib),
            "ip_teardown_ms": summary(it),
            "ip_processes": p.processes(),
            "ratio": statistics.median(pb) / statistics.median(ib),
        }
        out[name] = row
        print(
            f"  {name}: plugin {row['plugin_build_ms']['median']:.1f} ms, ip -batch "
            f"{row['ip_build_ms']['median']:.1f} ms (ratio {row['ratio']:.2f}); teardown "
            f"{row['plugin_teardown_ms']['median']:.2f} ms vs {row['ip_teardown_ms']['median']:.1f} ms",
            flush=True,
        )
    return out


# -- 2. send-to-capture latency ----------------------------------------------------------------


def bench_latency(args: argparse.Namespace) -> dict[str, Any]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    frames = args.frames or (200 if args.quick else 1000)
    out: dict[str, Any] = {}
    topo = build(parse_spec(specs.latency()))
    try:
        # Every (path, frame) case in turn, frame after frame: a passing burst of load on the
        # machine then weighs on every case alike instead of on whichever ran at that moment.
        cases: list[tuple[str, Any, Any, Any]] = []
        for path, src_ref, dst_ref in (("veth", "a/a0", "b/b0"), ("macvlan", "c/m1", "d/m2")):
            src, dst = topo.link(src_ref), topo.link(dst_ref)
            cap = dst.sniff()
            raw = bytes.fromhex(dst.mac.replace(":", "")) + bytes.fromhex(src.mac.replace(":", ""))
            raw += b"\x88\xb5" + bytes(46)
            # As a test writes them: sources left to Link.send (filled from the sending link).
            arp = Ether() / ARP(pdst=dst.ipv4 or "10.9.0.2")  # the article's frame: a broadcast who-has
            udp = Ether(dst=dst.mac) / IP(dst=dst.ipv4 or "10.9.0.2") / UDP(sport=4000, dport=4001) / Raw(b"x" * 18)
            for kind, frame in (("raw", raw), ("scapy ARP", arp), ("scapy UDP", udp)):
                cases.append((f"{path} {kind}", src, cap, frame))
        to_kernel: dict[str, list[float]] = {key: [] for key, *_ in cases}
        to_return: dict[str, list[float]] = {key: [] for key, *_ in cases}
        for i in range(frames + 20):
            for key, src, cap, frame in cases:
                cap.clear()
                w0 = time.time()
                p0 = time.perf_counter()
                src.send(frame)
                got = cap.wait_for(None, 1, timeout=2.0)[0]
                p1 = time.perf_counter()
                if i >= 20:  # warm-up
                    to_kernel[key].append((got.ts - w0) * 1e6)
                    to_return[key].append((p1 - p0) * 1e6)
        for key, *_ in cases:
            out[key] = {
                "to_kernel_timestamp_us": summary(to_kernel[key]),
                "to_capture_return_us": summary(to_return[key]),
            }
            print(
                f"  {key}: to the kernel's timestamp {statistics.median(to_kernel[key]):.1f} us, "
                f"until Capture returns it {statistics.median(to_return[key]):.1f} us",
                flush=True,
            )
    finally:
        topo.close()
    return out


# -- 3. capture fidelity -----------------------------------------------------------------------


def bench_burst(args: argparse.Namespace) -> dict[str, Any]:
    count = 10_000
    out: dict[str, Any] = {}
    topo = build(parse_spec(specs.latency()))
    try:
        for path, src_ref, dst_ref in (("veth", "a/a0", "b/b0"), ("macvlan", "c/m1", "d/m2")):
            src, dst = topo.link(src_ref), topo.link(dst_ref)
            head = bytes.fromhex(dst.mac.replace(":", "")) + bytes.fromhex(src.mac.replace(":", "")) + b"\x88\xb5"
            frames = [head + i.to_bytes(4, "big") + bytes(42) for i in range(count)]
            for label, rcvbuf in (("default buffer", None), ("64 KiB buffer", 64 * 1024)):
                cap = dst.sniff() if rcvbuf is None else dst.sniff(rcvbuf=rcvbuf)
                t0 = time.perf_counter()
                sent = src.send(frames)
                t1 = time.perf_counter()
                if rcvbuf is None:
                    cap.wait_for(None, count, timeout=10.0)
                else:  # the capture cannot hold them: wait until every frame is captured or counted dropped

                    def accounted(c: Any = cap) -> int:
                        return len(c.frames) + int(c.stats()[1])

                    wait_until(accounted, lambda n: n >= count, timeout=10.0, what="every frame captured or dropped")
                got = cap.frames
                seqs = {int.from_bytes(f.data[14:18], "big") for f in got if f.data[12:14] == b"\x88\xb5"}
                packets, drops = cap.stats()
                cap.close()
                key = f"{path}, {label}"
                out[key] = {
                    "sent": sent,
                    "captured": len(seqs),
                    "kernel_packets": packets,
                    "kernel_drops": drops,
                    "accounted": len(seqs) + drops == sent,
                    "send_s": t1 - t0,
                    "send_rate_fps": sent / (t1 - t0),
                }
                print(
                    f"  {key}: sent {sent}, captured {len(seqs)}, kernel drops {drops} "
                    f"(captured + dropped == sent: {len(seqs) + drops == sent}), sent at {sent / (t1 - t0):,.0f}/s",
                    flush=True,
                )
    finally:
        topo.close()
    return out


# -- 4. start-up -------------------------------------------------------------------------------


STARTUP_TEST = """
import pytest


@pytest.mark.parametrize("n", range(20))
def test_arithmetic(n):
    assert n + n == 2 * n


class TestStrings:
    def test_upper(self):
        assert "macvlan".upper() == "MACVLAN"
"""


def bench_startup(args: argparse.Namespace) -> dict[str, Any]:
    reps = args.reps or (8 if args.quick else 20)
    with tempfile.TemporaryDirectory(prefix="pmvbench-startup-") as tmp:
        d = Path(tmp)
        (d / "pytest.ini").write_text("[pytest]\n")
        for i in range(5):
            (d / f"test_plain_{i}.py").write_text(STARTUP_TEST)
        base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(d)]
        variants = {"without plugin": base, "with -p pytest_macvlan": [*base, "-p", "pytest_macvlan"]}
        times: dict[str, list[float]] = {k: [] for k in variants}
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for i in range(reps + 2):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                t0 = time.perf_counter()
                done = subprocess.run(variants[name], cwd=d, capture_output=True, text=True, env=env, check=False)
                ms = (time.perf_counter() - t0) * 1e3
                if done.returncode != 0:
                    raise RuntimeError(f"pytest --collect-only failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
                if i >= 2:
                    times[name].append(ms)
        # Which of the package's modules the plugin imports at start-up, and what each costs.
        done = subprocess.run(
            [sys.executable, "-X", "importtime", *variants["with -p pytest_macvlan"][1:]],
            cwd=d,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    imports: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2].startswith("pytest_macvlan") and parts[0].isdigit():
            imports[parts[2]] = int(parts[0]) / 1000  # self time, ms
    out: dict[str, Any] = {k: summary(v) for k, v in times.items()}
    out["imported_modules_self_ms"] = dict(sorted(imports.items(), key=lambda kv: -kv[1]))
    out["overhead_ms"] = statistics.median(times["with -p pytest_macvlan"]) - statistics.median(times["without plugin"])
    print(
        f"  without plugin {out['without plugin']['median']:.0f} ms, with {out['with -p pytest_macvlan']['median']:.0f}"
        f" ms: overhead {out['overhead_ms']:.1f} ms",
        flush=True,
    )
    top = ", ".join(f"{k} {v:.1f}" for k, v in list(out["imported_modules_self_ms"].items())[:6])
    print(f"  package modules imported at start-up (self ms): {top}", flush=True)
    return out


# -- 5. scale ----------------------------------------------------------------------------------


def bench_scale(args: argparse.Namespace, settle: Settler, base: Baseline) -> dict[str, Any]:
    reps = args.reps or (1 if args.quick else 5)
    out: dict[str, Any] = {}
    series: list[tuple[str, Callable[[int], dict[str, Any]], list[int], bool]] = [
        ("macvlans on one parent", specs.macvlans_on_one_parent, [100, 250, 500, 1000], True),
        ("namespaces", specs.namespaces, [25, 50, 100, 200], not args.quick),
    ]
    for title, make, sizes, with_ip in series:
        rows: dict[str, Any] = {}
        for n in sizes:
            spec = parse_spec(make(n), f"<{n} {title}>")
            key = f"{title} {n}"
            if with_ip:
                base.prepare(key.replace(" ", "_"), plan(spec))
            pb: list[float] = []
            pt: list[float] = []
            ib: list[float] = []
            for _ in range(reps):
                settle()
                b, t = time_plugin(spec)
                pb.append(b)
                pt.append(t)
                if with_ip:
                    settle()
                    ib.append(base.build(key.replace(" ", "_")))
                    base.teardown(key.replace(" ", "_"))
            rows[str(n)] = {
                "plugin_build_ms": summary(pb),
                "plugin_teardown_ms": summary(pt),
                **({"ip_build_ms": summary(ib)} if ib else {}),
            }
            ip_text = f", ip -batch {statistics.median(ib):.0f} ms" if ib else ""
            print(
                f"  {key}: build {statistics.median(pb):.0f} ms, teardown {statistics.median(pt):.1f} ms{ip_text}",
                flush=True,
            )
        builds = [rows[str(n)]["plugin_build_ms"]["median"] for n in sizes]
        teardowns = [rows[str(n)]["plugin_teardown_ms"]["median"] for n in sizes]
        out[title] = {"sizes": rows, "build_fit": fit(sizes, builds), "teardown_fit": fit(sizes, teardowns)}
        if with_ip:
            ip_builds = [rows[str(n)]["ip_build_ms"]["median"] for n in sizes]
            out[title]["ip_build_fit"] = fit(sizes, ip_builds)
        f = out[title]["build_fit"]
        print(
            f"  {title}: {f['per_element_ms']:.3f} ms per element (+{f['intercept_ms']:.1f} ms), R² {f['r2']:.3f}; "
            f"time per element x{f['doubling']:.2f} from {sizes[-2]} to {sizes[-1]}",
            flush=True,
        )
    return out


# -- 6. the scenarios suite --------------------------------------------------------------------


def bench_suite(args: argparse.Namespace) -> dict[str, Any]:
    reps = 1 if args.quick else 2
    out: dict[str, Any] = {}
    base = [sys.executable, "-m", "pytest", "-p", "pytest_macvlan", "scenarios", "-q", "-p", "no:cacheprovider"]
    for name, argv in (("serial", base), ("-n 2", [*base, "-n", "2"])):
        times: list[float] = []
        last = ""
        for _ in range(reps):
            t0 = time.perf_counter()
            done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - t0)
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            last = lines[-1].strip("= ") if lines else f"exit {done.returncode}"
        out[name] = {**summary(times), "result": last}
        print(f"  {name}: {statistics.median(times):.1f} s ({last})", flush=True)
    return out


# -- 7. live handles and run-time changes ------------------------------------------------------

APPLY_FRAGMENT = {
    "netns": {"b": {"link": {"mx": {"type": "macvlan", "link": "v0", "mode": "bridge", "addr": ["192.168.9.20/24"]}}}}
}
PAIR_SPEC = {
    "netns": {
        "a": {"link": {"v0": {"type": "veth", "addr": ["192.168.9.2/24"], "peer": {"name": "v0", "netns": "b"}}}},
        "b": {},
    }
}


def bench_live(args: argparse.Namespace, settle: Settler) -> dict[str, Any]:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    from pytest_macvlan.kernel import queries
    from pytest_macvlan.kernel.linkstate import parse_link
    from pytest_macvlan.kernel.rtnl import RTM_GETLINK, RTM_NEWLINK

    reps = args.reps or (10 if args.quick else 40)
    reads = 200 if args.quick else 1000
    out: dict[str, Any] = {}
    apply_ms: list[float] = []
    mac_us: list[float] = []
    ipv4_us: list[float] = []
    decode_us: list[float] = []
    pyroute2_us: list[float] = []
    spec = parse_spec(PAIR_SPEC)
    for _ in range(reps):
        topo = build(spec)
        try:
            settle()
            t0 = time.perf_counter()
            topo.apply(APPLY_FRAGMENT)
            apply_ms.append((time.perf_counter() - t0) * 1e3)
            link = topo.link("b/mx")
            assert link.ipv4 == "192.168.9.20"
            for _ in range(reads // reps + 1):
                t0 = time.perf_counter()
                link.mac  # noqa: B018 - the property read is what is measured
                mac_us.append((time.perf_counter() - t0) * 1e6)
                t0 = time.perf_counter()
                link.ipv4  # noqa: B018
                ipv4_us.append((time.perf_counter() - t0) * 1e6)
            body = queries._GETLINK_BY_INDEX.pack(0, 0, link.ifindex, 0, 0) + queries._EXT_MASK
            [(_t, payload)] = queries.query(link.netns.rtnl, RTM_GETLINK, body, dump=False, what="bench")
            data = struct.pack("=IHHII", 16 + len(payload), RTM_NEWLINK, 0, 1, 0) + payload
            for _ in range(50):
                t0 = time.perf_counter()
                parse_link(payload)
                decode_us.append((time.perf_counter() - t0) * 1e6)
                t0 = time.perf_counter()
                msg = ifinfmsg(data)
                msg.decode()
                msg.get_attr("IFLA_ADDRESS")
                pyroute2_us.append((time.perf_counter() - t0) * 1e6)
        finally:
            topo.close()
    out["link_property_read_us"] = summary(mac_us)
    out["link_ipv4_read_us"] = summary(ipv4_us)
    out["decode_rtm_newlink_us"] = summary(decode_us)
    out["pyroute2_decode_rtm_newlink_us"] = summary(pyroute2_us)
    out["apply_macvlan_with_address_ms"] = summary(apply_ms)
    print(
        f"  Link.mac {statistics.median(mac_us):.1f} us, Link.ipv4 {statistics.median(ipv4_us):.1f} us; "
        f"decode {statistics.median(decode_us):.1f} us (pyroute2 {statistics.median(pyroute2_us):.1f} us); "
        f"topo.apply {statistics.median(apply_ms):.2f} ms",
        flush=True,
    )
    return out


# -- the table ---------------------------------------------------------------------------------


def fmt(s: dict[str, Any], unit: str, digits: int = 1) -> str:
    return f"{s['median']:.{digits}f} {unit} ({s['p10']:.{digits}f}-{s['p90']:.{digits}f})"


def bench_efficiency(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_macvlan.topology.lab import NetLab

    with NetLab() as lab:
        result = efficiency.measure(lab, rounds=3) if args.quick else efficiency.measure(lab)
    for line in result.lines():
        print(f"   {line}", flush=True)
    return result.to_json()


def table(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of (what, measured: median (p10-p90), target, verdict)."""
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    for name, r in results.get("build", {}).items():
        if "skipped" in r:
            rows.append((f"build {name}", r["skipped"], "-", "-"))
            continue
        ratio = r["ratio"]
        rows.append(
            (
                f"build {name}: plugin vs ip -batch ({r['ip_processes']})",
                f"{fmt(r['plugin_build_ms'], 'ms')} vs {fmt(r['ip_build_ms'], 'ms')}: ratio {ratio:.2f}",
                "ratio <= 0.50",
                verdict(ratio <= 0.5),
            )
        )
        td = r["plugin_teardown_ms"]
        rows.append(
            (
                f"teardown {name} (Topology.close) vs ip netns del",
                f"{fmt(td, 'ms', 2)} vs {fmt(r['ip_teardown_ms'], 'ms')}",
                "<= 2 ms",
                verdict(td["median"] <= 2.0),
            )
        )
    for name, r in results.get("latency", {}).items():
        limit = 100.0 if name.endswith("raw") else 250.0
        ret = r["to_capture_return_us"]
        rows.append(
            (
                f"send to capture, {name}",
                f"{fmt(ret, 'us')} (kernel timestamp {r['to_kernel_timestamp_us']['median']:.1f} us)",
                f"<= {limit:.0f} us",
                verdict(ret["median"] <= limit),
            )
        )
    for name, r in results.get("burst", {}).items():
        ok = (r["captured"] == r["sent"] and r["kernel_drops"] == 0) if "default" in name else r["accounted"]
        target = "zero loss" if "default" in name else "every loss counted"
        rows.append(
            (
                f"burst of 10,000, {name}",
                f"captured {r['captured']}/{r['sent']}, kernel drops {r['kernel_drops']}",
                target,
                verdict(ok),
            )
        )
    st = results.get("startup")
    if st:
        rows.append(
            (
                "start-up overhead (--collect-only)",
                f"{st['overhead_ms']:.1f} ms ({st['without plugin']['median']:.0f} -> "
                f"{st['with -p pytest_macvlan']['median']:.0f} ms)",
                "<= 50 ms",
                verdict(st["overhead_ms"] <= 50),
            )
        )
    for title, r in results.get("scale", {}).items():
        big = max(r["sizes"], key=int)
        b = r["sizes"][big]["plugin_build_ms"]
        t = r["sizes"][big]["plugin_teardown_ms"]
        f = r["build_fit"]
        limit = 1500.0 if "macvlan" in title else 1000.0
        ip = r["sizes"][big].get("ip_build_ms")
        ip_text = f" (ip -batch {ip['median']:.0f} ms)" if ip else ""
        rows.append(
            (
                f"{big} {title}: build",
                f"{fmt(b, 'ms', 0)}{ip_text}",
                f"<= {limit:.0f} ms",
                verdict(b["median"] <= limit),
            )
        )
        if "macvlan" in title:
            rows.append((f"{big} {title}: teardown", fmt(t, "ms", 2), "<= 200 ms", verdict(t["median"] <= 200)))
        else:
            rows.append((f"{big} {title}: teardown", fmt(t, "ms", 2), "-", "-"))
        ip_growth = r.get("ip_build_fit")
        ip_text = f"; ip -batch x{ip_growth['doubling']:.2f}" if ip_growth else ""
        linear = f["doubling"] <= 1.2
        # When it is the kernel that slows down per element, the ip -batch baseline shows it as much.
        kernel = ip_growth is not None and f["doubling"] <= max(1.2, ip_growth["doubling"])
        sizes = sorted(int(n) for n in r["sizes"])
        rows.append(
            (
                f"{title}: growth",
                f"{f['per_element_ms']:.2f} ms/element (R² {f['r2']:.3f}); time per element x{f['doubling']:.2f}"
                f" from {sizes[-2]} to {sizes[-1]}{ip_text}",
                "linear (x <= 1.2)",
                "met" if linear else "kernel's growth (as ip -batch)" if kernel else "MISSED",
            )
        )
    for name, r in results.get("suite", {}).items():
        rows.append((f"scenarios suite, {name}", f"{r['median']:.1f} s ({r['result']})", "-", "-"))
    e = results.get("efficiency")
    if e:
        m, b = e["macvlan"], e["bridge"]
        rows.append(
            (
                "efficiency: UDP throughput, macvlan / veth+bridge",
                f"x{e['throughput_ratio']:.2f} ({m['mbit_s']:.0f} vs {b['mbit_s']:.0f} Mbit/s)",
                "> 1 (L7)",
                verdict(e["throughput_ratio"] > 1),
            )
        )
        rows.append(
            (
                "efficiency: round trip, macvlan / veth+bridge",
                f"x{e['latency_ratio']:.2f} ({m['rtt_us']:.1f} vs {b['rtt_us']:.1f} us)",
                "< 1 (L7)",
                verdict(e["latency_ratio"] < 1),
            )
        )
    live = results.get("live")
    if live:
        read = live["link_property_read_us"]
        rows.append(("live Link property read (Link.mac)", fmt(read, "us"), "<= 50 us", verdict(read["median"] <= 50)))
        rows.append(("live Link.ipv4 (RTM_GETADDR dump)", fmt(live["link_ipv4_read_us"], "us"), "-", "-"))
        rows.append(
            (
                "RTM_NEWLINK decode: queries vs pyroute2",
                f"{fmt(live['decode_rtm_newlink_us'], 'us')} vs {fmt(live['pyroute2_decode_rtm_newlink_us'], 'us')}",
                "-",
                "-",
            )
        )
        ap = live["apply_macvlan_with_address_ms"]
        rows.append(
            ("topo.apply: one macvlan with an address", fmt(ap, "ms", 2), "<= 2 ms", verdict(ap["median"] <= 2))
        )
    rows += kernels.rows(results.get("kernels", {}))
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [
        max(len(r[i]) for r in [("what", "measured: median (p10-p90)", "target", "verdict"), *rows]) for i in range(4)
    ]
    for r in [("what", "measured: median (p10-p90)", "target", "verdict"), tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# -- main --------------------------------------------------------------------------------------


def dump_json(results: dict[str, Any]) -> str:
    """Indented JSON with every list of numbers on one line."""
    text = json.dumps(results, indent=1)
    return re.sub(r"\[\s*([-0-9.eE,\s]*?)\s*\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"


SECTIONS = ("build", "latency", "burst", "startup", "scale", "suite", "efficiency", "live", "kernels")


def calibration_ms() -> float:
    """The median time of a fixed pure-Python workload: how fast this machine is right now
    (shared machines vary by 2x from one minute to the next; compare runs with this)."""
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i % 7
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def meta() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else ""),
        "loadavg_start": os.getloadavg(),
        "calibration_ms_start": calibration_ms(),
    }


@contextmanager
def section(name: str) -> Iterator[None]:
    print(f"== {name}", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes (about a minute)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here (default: benchmarks/results.json)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    ap.add_argument("--reps", type=int, default=0, help="override the number of repetitions")
    ap.add_argument("--frames", type=int, default=0, help="override the number of frames timed in 'latency'")
    ap.add_argument("--scenarios", default="*.toml", help="which scenarios/ files 'build' measures (a glob)")
    ap.add_argument("--render", type=Path, default=None, help="only print the table of an earlier results file")
    ap.add_argument("--markdown", action="store_true", help="with --render: as a Markdown table")
    ap.add_argument("--no-settle", action="store_true", help="do not wait for RTNL to be free before each build")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s): {', '.join(unknown)}")
    if args.render is not None:
        rows = table(json.loads(args.render.read_text()))
        if args.markdown:
            print("| what | measured: median (p10-p90) | target | verdict |\n| --- | --- | --- | --- |")
            for r in rows:
                print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        else:
            print_table(rows)
        return 0
    if os.geteuid() != 0:
        ap.error("run as root (the plugin's tests need CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW)")
    results: dict[str, Any] = {"meta": meta()}
    settle = Settler(enabled=not args.no_settle)
    try:
        with Baseline() as base:
            for name in only:
                with section(name):
                    if name == "build":
                        results[name] = bench_build(args, settle, base)
                    elif name == "latency":
                        results[name] = bench_latency(args)
                    elif name == "burst":
                        results[name] = bench_burst(args)
                    elif name == "startup":
                        results[name] = bench_startup(args)
                    elif name == "scale":
                        results[name] = bench_scale(args, settle, base)
                    elif name == "suite":
                        results[name] = bench_suite(args)
                    elif name == "efficiency":
                        results[name] = bench_efficiency(args)
                    elif name == "live":
                        results[name] = bench_live(args, settle)
                    elif name == "kernels":  # benchmarks/kernels.py: UML boot, suite per kernel, matrix
                        results[name] = kernels.bench_kernels(args.reps or (1 if args.quick else 3), not args.quick)
    finally:
        settle.close()
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["calibration_ms_end"] = calibration_ms()
    results["meta"]["unsettled_builds"] = settle.unsettled
    rows = table(results)
    results["table"] = [dict(zip(("what", "measured", "target", "verdict"), r, strict=True)) for r in rows]
    print()
    print_table(rows)
    out = args.json or (REPO / "benchmarks" / "results.json")
    out.write_text(dump_json(results))
    m = results["meta"]
    print(
        f"\nresults: {out}  (load average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end;"
        f" calibration {m['calibration_ms_start']:.1f} ms at start, {m['calibration_ms_end']:.1f} ms at end)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

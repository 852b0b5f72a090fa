"""The baseline: the same topology built by ``ip -batch`` scripts generated from the parsed spec.

The strategy is the best one ``ip`` allows for a script: one ``ip -batch`` that adds every
namespace (and turns IPv6 off in each, as the plugin does, with ``netns exec NS sysctl``),
then one ``ip -n NS -batch`` per namespace, in dependency order, that creates the links this
namespace is the creator of directly in their own namespace (``netns X`` on ``link add``:
no moves), sets the sysctls that name a link, enslaves bridge ports, sets hairpin, brings
links up (bridges after their ports), adds addresses, routes and neighbour entries, and
applies the firewall the way a script would (``netns exec NS iptables-restore FILE``,
``netns exec NS nft -f FILE``). A neighbour entry that names another link's MAC costs one
``ip -j link show`` to read it, as it would in a script. Teardown is one ``ip -batch`` of
``netns del``. ``ip`` does not wait for carrier; the plugin does (its builds are *ready*).

Safety: the scripts only ever run in :func:`serve`, a child process started by
:class:`Baseline` under ``unshare --mount --propagation private`` with a private tmpfs on
``/run``: the namespaces' names (``/run/netns``) are visible to nothing else, and when the
child ends, even killed, its mount namespace and with it every namespace it made are gone.
Nothing is created in the namespace the benchmark runs in.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_macvlan.spec.model import LinkRef, LinkSpec, TopologySpec
from pytest_macvlan.topology.tools import iptables_restore_text

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Batch:
    """``ip [-n NETNS] -batch FILE``; ``macs`` are links whose MAC the file needs (``{mac:ns/name}``)."""

    netns: str | None
    lines: list[str]
    macs: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Everything a script needs: build batches in order, extra files, the teardown batch."""

    build: list[Batch]
    teardown: Batch
    files: dict[str, str]  # name -> content (firewall inputs), written before timing starts

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Plan:
        return Plan(
            build=[Batch(**b) for b in data["build"]],
            teardown=Batch(**data["teardown"]),
            files=dict(data["files"]),
        )

    def processes(self) -> str:
        """How many programs the build starts: ``ip`` processes, and children of ``netns exec``."""
        ips = len(self.build) + sum(len(b.macs) for b in self.build)
        execs = sum(line.startswith("netns exec ") for b in self.build for line in b.lines)
        return f"{ips} ip + {execs} exec"


def _q(value: object) -> str:
    return shlex.quote(str(value))


def _sysctl_key(key: str) -> str:
    return key  # sysctl(8) reads the same "net.ipv4.conf.veth1/11.rp_filter" form as the spec


def _names_link(key: str, ns: str, links: set[LinkRef]) -> bool:
    parts = [p.replace("/", ".") for p in key.split(".")]
    return any(LinkRef(ns, p) in links for p in parts)


def _creator(spec: TopologySpec, link: LinkSpec) -> str:
    if link.is_peer:
        assert link.peer is not None
        return spec.link(link.peer).netns
    if link.parent is not None:
        return link.parent.netns
    return link.netns


def _create_line(spec: TopologySpec, link: LinkSpec) -> str:
    creator = _creator(spec, link)
    words = ["link", "add", _q(link.name)]
    if link.parent is not None:
        words += ["link", _q(link.parent.name)]
    if link.netns != creator:
        words += ["netns", _q(link.netns)]
    if link.address:
        words += ["address", link.address]
    if link.mtu:
        words += ["mtu", str(link.mtu)]
    words += ["type", link.kind]
    if link.kind == "bridge":
        if link.ageing_time is not None:
            words += ["ageing_time", str(link.ageing_time)]
        if link.stp is not None:
            words += ["stp_state", str(int(link.stp))]
    elif link.kind == "veth":
        assert link.peer is not None
        peer = spec.link(link.peer)
        words += ["peer", "name", _q(peer.name)]
        if peer.netns != link.netns:
            words += ["netns", _q(peer.netns)]
        if peer.address:
            words += ["address", peer.address]
        if peer.mtu:
            words += ["mtu", str(peer.mtu)]
    elif link.kind == "macvlan":
        if link.mode is not None:
            words += ["mode", link.mode]
        if link.macaddr:
            words += ["macaddr", "set", *link.macaddr]
    elif link.kind == "vlan":
        words += ["id", str(link.vlan_id)]
    return " ".join(words)


def plan(spec: TopologySpec) -> Plan:
    """The ``ip`` script for ``spec`` (namespaces keep the spec's names: they live in a private ``/run``)."""
    links = {link.ref for link in spec.links}
    files: dict[str, str] = {}

    # 1. Namespaces, IPv6 off, and the sysctls that name no link.
    first: list[str] = []
    for ns in spec.netns:
        first.append(f"netns add {_q(ns.name)}")
        early = [] if ns.ipv6 else ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
        early += [f"{_sysctl_key(k)}={v}" for k, v in ns.sysctl if not _names_link(k, ns.name, links)]
        if early:
            first.append(f"netns exec {_q(ns.name)} sysctl -qw " + " ".join(_q(s) for s in early))

    # 2. One batch per namespace.
    created_by: dict[str, list[LinkSpec]] = {ns.name: [] for ns in spec.netns}
    order = _creation_order(spec)
    for link in order:
        created_by[_creator(spec, link)].append(link)
    batches: dict[str, Batch] = {}
    deps: dict[str, set[str]] = {ns.name: set() for ns in spec.netns}
    for ns in spec.netns:
        lines = ["link set lo up"]
        lines += [_create_line(spec, link) for link in created_by[ns.name] if not link.is_peer]
        late = [f"{_sysctl_key(k)}={v}" for k, v in ns.sysctl if _names_link(k, ns.name, links)]
        if late:
            lines.append(f"netns exec {_q(ns.name)} sysctl -qw " + " ".join(_q(s) for s in late))
        mine = [link for link in spec.links if link.netns == ns.name]
        for link in mine:
            creator = _creator(spec, link)
            if creator != ns.name:
                deps[ns.name].add(creator)
            if link.parent is not None:
                parent_creator = _creator(spec, spec.link(link.parent))
                if parent_creator != creator:
                    deps[creator].add(parent_creator)
            if link.master is not None:
                lines.append(f"link set dev {_q(link.name)} master {_q(link.master)}")
                if link.hairpin is not None:
                    onoff = "on" if link.hairpin else "off"
                    lines.append(f"link set dev {_q(link.name)} type bridge_slave hairpin {onoff}")
            if link.promisc:
                lines.append(f"link set dev {_q(link.name)} promisc on")
        lines += [f"link set dev {_q(link.name)} up" for link in mine if link.up and link.kind != "bridge"]
        lines += [f"link set dev {_q(link.name)} up" for link in mine if link.up and link.kind == "bridge"]
        for link in mine:
            lines += [f"addr add {addr} dev {_q(link.name)}" for addr in link.addrs]
        for route in ns.routes:
            words = ["route", "add", "default" if route.to.prefixlen == 0 else str(route.to)]
            if route.via is not None:
                words += ["via", str(route.via)]
            if route.dev:
                words += ["dev", _q(route.dev)]
            if route.metric is not None:
                words += ["metric", str(route.metric)]
            lines.append(" ".join(words))
        macs: list[str] = []
        for n in ns.neighs:
            if n.lladdr_of is not None:
                lladdr = f"{{mac:{n.lladdr_of}}}"
                macs.append(str(n.lladdr_of))
                creator = _creator(spec, spec.link(n.lladdr_of))
                if creator != ns.name:
                    deps[ns.name].add(creator)
            else:
                assert n.lladdr is not None
                lladdr = n.lladdr
            lines.append(f"neigh replace {n.to} lladdr {lladdr} dev {_q(n.dev)} nud permanent")
        if ns.iptables:
            name = f"{ns.name}.iptables"
            files[name] = iptables_restore_text(ns.iptables)
            lines.append(f"netns exec {_q(ns.name)} iptables-restore -w --noflush {{file:{name}}}")
        if ns.nft:
            name = f"{ns.name}.nft"
            files[name] = ns.nft
            lines.append(f"netns exec {_q(ns.name)} nft -f {{file:{name}}}")
        batches[ns.name] = Batch(ns.name, lines, sorted(set(macs)))
    for name in deps:
        deps[name].discard(name)
    ordered = _toposort([ns.name for ns in spec.netns], deps)
    build = [Batch(None, first), *(batches[name] for name in ordered)]
    teardown = Batch(None, [f"netns del {_q(ns.name)}" for ns in spec.netns])
    return Plan(build, teardown, files)


def _creation_order(spec: TopologySpec) -> list[LinkSpec]:
    out: list[LinkSpec] = []
    done: set[LinkRef] = set()
    pending = [link for link in spec.links if not link.is_peer]
    while pending:
        later = []
        for link in pending:
            if link.parent is not None and link.parent not in done:
                later.append(link)
                continue
            out.append(link)
            done.add(link.ref)
            if link.peer is not None:
                done.add(link.peer)
                out.append(spec.link(link.peer))
        if len(later) == len(pending):
            raise ValueError("cycle of parents")
        pending = later
    return out


def _toposort(names: list[str], deps: dict[str, set[str]]) -> list[str]:
    out: list[str] = []
    left = list(names)
    while left:
        ready = [n for n in left if deps[n] <= set(out)]
        if not ready:
            raise ValueError(f"namespaces depend on each other in a cycle ({', '.join(left)}): not one batch each")
        out.append(ready[0])
        left.remove(ready[0])
    return out


# -- the child that runs the scripts -----------------------------------------------------------


class Baseline:
    """Runs plans in a child process with a private ``/run`` (see the module's docstring)."""

    def __init__(self) -> None:
        argv = [
            "setpriv",
            "--pdeathsig",
            "KILL",
            "--",
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
        ]
        env = dict(os.environ, PYTHONPATH=str(REPO), PMVBENCH_PARENT_MNT=os.readlink("/proc/self/ns/mnt"))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self._ask({"op": "hello"})

    def _ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"ip -batch baseline child ended (exit {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"ip -batch baseline: {answer['error']}")
        return answer

    def prepare(self, key: str, p: Plan) -> None:
        self._ask({"op": "prepare", "key": key, "plan": p.to_json()})

    def build(self, key: str) -> float:
        """Run the build script; its wall time in ms."""
        return float(self._ask({"op": "build", "key": key})["ms"])

    def teardown(self, key: str) -> float:
        return float(self._ask({"op": "teardown", "key": key})["ms"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.plans: dict[str, Plan] = {}
        self.built: set[str] = set()

    def prepare(self, key: str, p: Plan) -> None:
        self.plans[key] = p
        d = self.root / key
        d.mkdir(parents=True, exist_ok=True)
        for name, content in p.files.items():
            (d / name).write_text(content)
        for i, batch in enumerate(p.build):
            if not batch.macs:
                (d / f"b{i}").write_text(self._fill(key, batch, {}))
        (d / "teardown").write_text("\n".join(p.teardown.lines) + "\n")

    def _fill(self, key: str, batch: Batch, macs: dict[str, str]) -> str:
        text = "\n".join(batch.lines) + "\n"
        for name in self.plans[key].files:
            text = text.replace(f"{{file:{name}}}", str(self.root / key / name))
        for ref, mac in macs.items():
            text = text.replace(f"{{mac:{ref}}}", mac)
        return text

    def build(self, key: str) -> float:
        p = self.plans[key]
        d = self.root / key
        t0 = time.perf_counter()
        try:
            for i, batch in enumerate(p.build):
                path = d / f"b{i}"
                if batch.macs:
                    macs = {ref: self._mac(ref) for ref in batch.macs}
                    path = d / f"b{i}.filled"
                    path.write_text(self._fill(key, batch, macs))
                _run(_ip(batch.netns, path))
        finally:
            self.built.add(key)
        return (time.perf_counter() - t0) * 1e3

    def _mac(self, ref: str) -> str:
        ns, _, name = ref.partition("/")
        out = _run(["ip", "-n", ns, "-j", "link", "show", "dev", name])
        return str(json.loads(out)[0]["address"])

    def teardown(self, key: str) -> float:
        t0 = time.perf_counter()
        _run(_ip(None, self.root / key / "teardown"))
        ms = (time.perf_counter() - t0) * 1e3
        self.built.discard(key)
        return ms

    def cleanup(self) -> None:
        # Whatever is left (a failed build): delete every namespace of this private /run.
        netns_dir = Path("/run/netns")
        if netns_dir.is_dir():
            for entry in netns_dir.iterdir():
                subprocess.run(["ip", "netns", "del", entry.name], check=False, capture_output=True)


def _ip(netns: str | None, path: Path) -> list[str]:
    return ["ip", *(["-n", netns] if netns else []), "-batch", str(path)]


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def serve() -> None:
    """The child: make ``/run`` a private tmpfs (we are in a private mount namespace), then answer."""
    if os.readlink("/proc/self/ns/mnt") == os.environ.get("PMVBENCH_PARENT_MNT", ""):
        raise SystemExit("refusing to run: not in a private mount namespace")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "pmvbench", "/run"], check=True)
    root = Path("/run/pmvbench")
    root.mkdir()
    server = _Server(root)
    try:
        for line in sys.stdin:
            msg = json.loads(line)
            try:
                op = msg["op"]
                if op == "hello":
                    answer: dict[str, Any] = {"ok": True}
                elif op == "prepare":
                    server.prepare(msg["key"], Plan.from_json(msg["plan"]))
                    answer = {"ok": True}
                elif op == "build":
                    answer = {"ms": server.build(msg["key"])}
                elif op == "teardown":
                    answer = {"ms": server.teardown(msg["key"])}
                else:
                    answer = {"error": f"unknown op {op!r}"}
            except Exception as exc:
                server.cleanup()
                answer = {"error": str(exc)}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        server.cleanup()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        from pytest_macvlan.spec.parse import load_spec

        for arg in sys.argv[1:]:
            p = plan(load_spec(arg))
            for batch in p.build:
                print(f"# ip {'-n ' + batch.netns + ' ' if batch.netns else ''}-batch -")
                print("\n".join(batch.lines))
            print("# ip -batch -  (teardown)")
            print("\n".join(p.teardown.lines))

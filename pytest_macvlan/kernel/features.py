"""What can this kernel do? Probed once, in a throwaway namespace, never the runner's.

Each link kind is tried for real over netlink (a kernel that can load modules loads them on
the way, as it would for a test); netem, nftables and iptables are tried with their tools.
The result is cached for the session, and in two files when they are writable: per boot in
``/run/pytest-macvlan`` (keyed by the kernel's boot id), and in the file ``$PYTEST_MACVLAN_FEATURES_FILE``
names (the kernel runner keeps one per kernel build in its cache and hands it to each guest, whose
``/run`` is new at every boot). A record is used only for the same kernel build (``uname -r`` and
``uname -v``) and the same firewall and traffic-control tools installed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_macvlan.kernel import firewall
from pytest_macvlan.kernel.featurenames import DESCRIPTIONS

if TYPE_CHECKING:
    from pytest_macvlan.kernel.processes import Supervisor

CACHE_DIR = Path("/run/pytest-macvlan")
HOW_TO_RUN = "run it on a kernel that has it: pytest-macvlan kernel run uml-6.12 -- PYTEST-ARGS"


@dataclass(frozen=True)
class Features:
    """What the probe found: the features this kernel has, and why each missing one is missing."""

    kernel: str
    have: frozenset[str]
    missing: dict[str, str] = field(default_factory=dict)  # feature -> why (the kernel's error)
    #: The iptables backend that works here: nft, legacy or none (kernel/firewall.py).
    firewall: str = "none"

    def has(self, feature: str) -> bool:
        """Does this kernel have ``feature`` (a name of :data:`~.featurenames.DESCRIPTIONS`)?"""
        return feature in self.have

    def lacking(self, needs: frozenset[str] | set[str]) -> list[str]:
        """The ``needs`` this kernel lacks (unknown names count as lacking)."""
        return sorted(n for n in needs if n not in self.have)

    def describe_lack(self, lacking: list[str]) -> str:
        """``kernel X lacks 8021q (...: the kernel's error)``, for a skip or an error message."""
        parts = [f"{n} ({DESCRIPTIONS.get(n, n)}: {self.missing.get(n, 'not probed')})" for n in lacking]
        return f"kernel {self.kernel} lacks " + ", ".join(parts)

    def header(self) -> str:
        """One line for the report header: each feature, ``-name`` where it is missing."""
        order = [n for n in DESCRIPTIONS if n in self.have or n in self.missing]
        return " ".join(n if n in self.have else f"-{n}" for n in order) + f"; firewall: {self.firewall}"


# -- probing ----------------------------------------------------------------------------------

_LINKS: list[tuple[str, dict[str, Any], str | None]] = [
    # (feature, LinkSpec fields, parent: None or "p0"/"p1"/"p2"). Encoded by the builder's own
    # encoder (kernel/messages.py), so the probe asks exactly what a build will ask.
    ("bridge", {"kind": "bridge"}, None),
    ("vlan_filtering", {"kind": "bridge", "vlan_filtering": True}, None),
    ("macvlan:private", {"kind": "macvlan", "mode": "private"}, "p0"),
    ("macvlan:vepa", {"kind": "macvlan", "mode": "vepa"}, "p0"),
    ("macvlan:bridge", {"kind": "macvlan", "mode": "bridge"}, "p0"),
    ("macvlan:source", {"kind": "macvlan", "mode": "source"}, "p0"),
    ("macvlan:passthru", {"kind": "macvlan", "mode": "passthru"}, "p2"),
    ("8021q", {"kind": "vlan", "vlan_id": 11}, "p0"),
    ("8021ad", {"kind": "vlan", "vlan_id": 12, "vlan_protocol": "802.1ad"}, "p0"),
    ("ipvlan", {"kind": "ipvlan", "mode": "l2"}, "p1"),
    ("macvtap", {"kind": "macvtap", "mode": "bridge"}, "p0"),
    ("vxlan", {"kind": "vxlan", "vni": 42}, None),
    ("bond", {"kind": "bond"}, None),
    ("vrf", {"kind": "vrf", "table": 10}, None),
    ("dummy", {"kind": "dummy"}, None),
]


def probe() -> Features:
    """Probe the running kernel in a new, throwaway network namespace."""
    from pytest_macvlan.kernel import nsworker as nsmod
    from pytest_macvlan.kernel.messages import create_link, link_up
    from pytest_macvlan.kernel.processes import Supervisor
    from pytest_macvlan.kernel.rtnl import Request, RtnlSocket
    from pytest_macvlan.spec.model import LinkRef, LinkSpec

    def spec(name: str, fields: dict[str, Any], parent: str | None = None) -> LinkSpec:
        up = LinkRef("probe", parent) if parent else None
        return LinkSpec(LinkRef("probe", name), entry=f"probe {fields['kind']} {name}", parent=up, **fields)

    parents = {"p0": 2, "p1": 3, "p2": 4}
    [(fd, sock)] = nsmod.create(1, lambda i, fd: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
    rtnl = RtnlSocket(fd, sock)
    supervisor = Supervisor("feature probe")  # one PID namespace for every tool the probe runs
    have: set[str] = set()
    missing: dict[str, str] = {}
    try:

        def attempt(feature: str, name: str, index: int, fields: dict[str, Any], parent: str | None = None) -> None:
            pair = {"p0": "p1", "p2": "p3"}.get(name)  # the veths: peer index + 1
            made = create_link(
                spec(name, fields, parent), index, parent_index=parents.get(parent or "", 0),
                peer=spec(pair, fields) if pair else None, peer_index=index + 1, up=False,
            )  # fmt: skip
            failure = rtnl.apply([Request(made.msg, made.entry, feature=fields["kind"])])
            if failure is None:
                have.add(feature)
            else:
                missing[feature] = failure.describe()

        attempt("veth", "p0", 2, {"kind": "veth"})
        attempt("veth", "p2", 4, {"kind": "veth"})
        rtnl.apply([link_up(i, "up") for i in (1, 2, 3, 4, 5)])
        for i, (feature, fields, parent) in enumerate(_LINKS, start=10):
            attempt(feature, f"x{i}", i, fields, parent)
        if any(f.startswith("macvlan:") for f in have):
            have.add("macvlan")
        else:
            missing["macvlan"] = missing.get("macvlan:vepa", "not supported")
        ok, why = _tap(fd)
        if ok:
            have.add("tap")
        else:
            missing["tap"] = why
        for feature, argv in (
            ("netem", ["tc", "qdisc", "add", "dev", "p0", "root", "netem", "delay", "1ms"]),
            ("nftables", ["nft", "add", "table", "inet", "pytest_macvlan_probe"]),
        ):
            ok, why = _tool(supervisor, fd, argv)
            if ok:
                have.add(feature)
            else:
                missing[feature] = why
        backend, why = firewall.probe(lambda argv: _tool(supervisor, fd, argv))
        if backend == firewall.NONE:
            missing["iptables"] = why
        else:
            have.add("iptables")
    finally:
        supervisor.close()
        rtnl.close()
        os.close(fd)
    return Features(platform.release(), frozenset(have), missing, backend)


def _tap(fd: int) -> tuple[bool, str]:
    """Can a tap be made (``/dev/net/tun``, ``TUNSETIFF``) in the namespace ``fd``?"""
    import fcntl
    import struct

    from pytest_macvlan.kernel import nsworker as nsmod

    def make() -> None:
        tun = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(tun, 0x400454CA, struct.pack("16sH", b"tapprobe", 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP
        finally:
            os.close(tun)  # not persistent: the device goes with the descriptor

    try:
        nsmod.run_in(fd, make)
    except OSError as exc:
        return False, f"/dev/net/tun: {exc.strerror or exc}"
    return True, ""


#: How long a probed tool may take (module loading included) before it counts as failed.
TOOL_TIMEOUT = 10.0
#: Tools that timed out in this process's probe: its result is used but not written to a file.
_unsure: set[str] = set()


def _tool(supervisor: Supervisor, fd: int, argv: list[str]) -> tuple[bool, str]:
    """Run ``argv`` in the namespace ``fd`` under ``supervisor``: did it succeed, and its last
    line of output (or exit status) if not."""
    if shutil.which(argv[0]) is None:
        return False, f"{argv[0]} is not installed"
    from pytest_macvlan.kernel.processes import run

    try:
        done = run(supervisor, fd, argv, check=False, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        _unsure.add(argv[0])  # perhaps only the machine's load: this result is not kept in a file
        return False, f"{argv[0]} did not finish in {TOOL_TIMEOUT:g} s"
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    said = (done.stderr or done.stdout).strip()
    return done.returncode == 0, said.splitlines()[-1] if said else f"exit {done.returncode}"


# -- caching ----------------------------------------------------------------------------------

_session: Features | None = None


#: The environment variable naming a features file kept across boots (see the module).
FILE_ENV = "PYTEST_MACVLAN_FEATURES_FILE"
_TOOLS = ("tc", "nft", "iptables", "iptables-nft", "iptables-legacy")
_VERSION = 4  # 3: keyed by the kernel build and tools; 4: the iptables reason names the kernel options


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _key() -> dict[str, Any]:
    """What a probe's result depends on besides the kernel's code: its build and our tools."""
    return {
        "version": _VERSION,
        "kernel": platform.release(),
        "build": platform.version(),
        "tools": sorted(t for t in _TOOLS if shutil.which(t)),
    }


def _paths() -> list[Path]:
    paths = [CACHE_DIR / f"features-v{_VERSION}-{platform.release()}-{_boot_id()}.json"]
    named = os.environ.get(FILE_ENV)
    if named:
        paths.insert(0, Path(named))
    return paths


def _load(path: Path, key: dict[str, Any]) -> Features | None:
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:
            return None
        return Features(data["kernel"], frozenset(data["have"]), dict(data["missing"]), str(data["firewall"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store(path: Path, found: Features, key: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(mode=0o755, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(found) | {"have": sorted(found.have), "key": key}))
        tmp.replace(path)
    except OSError:
        pass  # no cache (e.g. rootless, or a read-only file): the session still has its result


def known() -> Features | None:
    """The features probed already (this session), without probing: None if they were not."""
    return _session


def get(*, refresh: bool = False) -> Features:
    """The probed features: from this session, from a cache file, or probed now."""
    global _session
    if _session is not None and not refresh:
        return _session
    key = _key()
    paths = _paths()
    if not refresh:
        for path in paths:
            found = _load(path, key)
            if found is not None:
                _session = found
                return found
    _unsure.clear()
    _session = probe()
    if not _unsure:
        for path in paths:
            _store(path, _session, key)
    return _session


def feature_of_kind(kind: str) -> str:
    """The feature a link kind needs: ``vlan`` needs ``8021q``; the others are their own name."""
    return "8021q" if kind == "vlan" else kind


def needs_of_kinds(kinds: frozenset[str]) -> frozenset[str]:
    """Spec link kinds (``TopologySpec.kinds()``) as feature names."""
    return frozenset(feature_of_kind(k) for k in kinds)

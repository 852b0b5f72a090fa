"""One lane: pytest run on one kernel, its results in one output directory on the host.

Every lane writes the same files into its output directory::

    status          pytest's exit status (written by the guest, for a VM lane)
    lane.json       name, release, firewall, exit, duration_s (and boot_s for a VM)
    junit.xml       pytest's JUnit XML
    claims.md       the claims table (``--claims-md``); claims.json too, when the plugin has
                    ``--claims-json``
    pcaps/          failing tests' captures (``--pcap-dir``)
    console.log     everything the guest printed; kernel.log its kernel log (kept when the run
                    failed, removed after a clean one unless asked to keep them)
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from pytest_macvlan.runner.catalogue import Kernel

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_MEMORY = "768M"
#: Loaded up front in a guest: nothing asks for it, and the host kernel has it built in (bridged
#: IPv4 traverses iptables, as on Docker hosts). The others load on demand.
PRELOAD = ("br_netfilter", "tun")  # tun: /dev/net/tun appears in the guest's /dev only once it is loaded
#: What a guest's tests may need; preloaded all with ``preload_all`` (checked against the kernel's
#: module index: a missing one is reported, not fatal).
MODULES = (
    "8021q",
    "macvlan",
    "macvtap",
    "bridge",
    "veth",
    "br_netfilter",
    "ipvlan",
    "dummy",
    "tun",
    "vrf",
    "bonding",
    "vxlan",
    "sch_netem",
    "ip_tables",
    "iptable_filter",
    "iptable_nat",
    "iptable_mangle",
    "ip6_tables",
    "ip6table_filter",
    "nf_tables",
)
#: Environment variables passed on into a guest (the rest of the host's environment is not).
PASS_ENV = re.compile(
    r"^(CI|PYTEST_ADDOPTS|PYTEST_MACVLAN_.*|COLUMNS|NO_COLOR|FORCE_COLOR|PY_COLORS|PYTHONHASHSEED|LANG|LC_ALL|TERM)$"
)
EXIT_NO_STATUS = 3  # the guest ended without writing pytest's exit status (crash, timeout)


@dataclass
class LaneOptions:
    """How to run a lane: output directory, limits, logs, where to echo and report."""

    out: Path
    memory: str = DEFAULT_MEMORY
    timeout_s: float = DEFAULT_TIMEOUT_S
    keep_logs: bool = False
    echo: IO[str] | None = None
    cache: Path | None = None
    say: Callable[[str], None] = field(default=lambda msg: None)


@dataclass
class LaneResult:
    """What a lane did: the kernel's release, firewall backend, pytest's exit, wall time."""

    name: str
    release: str
    firewall: str
    exit: int
    duration_s: float
    out: str
    boot_s: float | None = None
    problem: str = ""

    def write(self) -> None:
        """Write it to ``OUT/lane.json`` (what ``matrix --merge`` reads back)."""
        Path(self.out, "lane.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


def claims_json_supported() -> bool:
    """Whether this pytest_macvlan's plugin has ``--claims-json`` (the claims results model):
    its claims module registers the option."""
    spec = importlib.util.find_spec("pytest_macvlan.plugin.claims")
    if spec is None or spec.origin is None:
        return False
    try:
        return '"--claims-json"' in Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return False


def pytest_argv(out: Path, args: Sequence[str]) -> list[str]:
    """``python -m pytest -p pytest_macvlan ARGS`` plus the lane's reports into ``out``."""
    argv = [sys.executable, "-m", "pytest"]
    if not any(a in ("pytest_macvlan", "-ppytest_macvlan") for a in args):
        argv += ["-p", "pytest_macvlan"]
    argv += ["-p", "no:cacheprovider"]
    if not uses_hypothesis(args):
        argv += ["-p", "no:hypothesispytest"]
    argv += [*args, f"--junitxml={out}/junit.xml", f"--claims-md={out}/claims.md"]
    argv += [f"--pcap-dir={out}/pcaps"]
    if claims_json_supported():
        argv += [f"--claims-json={out}/claims.json"]
    return argv


def uses_hypothesis(args: Sequence[str], cwd: Path | None = None) -> bool:
    """Might the tests ``args`` name use Hypothesis? Its pytest plugin imports all of it (2 s in
    a user-mode Linux guest, where each file read is dear), so a lane leaves the plugin out when
    no Python file under the paths given mentions it. Unknown (no path given): yes."""
    base = cwd or Path.cwd()
    paths = [base / a.split("::")[0] for a in args if not a.startswith("-") and (base / a.split("::")[0]).exists()]
    if not paths:
        return True
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for f in files:
            try:
                if "hypothesis" in f.read_text(encoding="utf-8", errors="replace"):
                    return True
            except OSError:
                return True
    return False


def prepare_out(out: Path) -> Path:
    """Create the output directory and remove a previous run's files from it."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in (
        "status",
        "lane.json",
        "guest.json",
        "junit.xml",
        "claims.md",
        "claims.json",
        "console.log",
        "kernel.log",
    ):
        (out / name).unlink(missing_ok=True)
    return out


def firewall_of(out: Path) -> str:
    """The iptables backend the run used: from claims.json, else the report header in the console."""
    try:
        return str(json.loads((out / "claims.json").read_text())["kernel"]["firewall"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for name in ("console.log", "pytest.log"):
        try:
            m = re.search(r"firewall: (\w+)", (out / name).read_text(errors="replace"))
        except OSError:
            continue
        if m:
            return m.group(1)
    return "unknown"


def run_host(k: Kernel, args: Sequence[str], opts: LaneOptions) -> LaneResult:
    """The host lane: pytest as a child process on the running kernel (each topology in fresh
    namespaces, as always), with the same reports as a VM lane."""
    out = prepare_out(opts.out)
    log = out / "console.log"
    from pytest_macvlan.runner.procs import Guest

    t0 = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_MACVLAN_KERNEL_NAME": k.name}
    if opts.echo is None:
        env["PY_COLORS"] = "0"
    proc = Guest(pytest_argv(out, args), log, echo=opts.echo, env=env)
    rc = proc.wait(opts.timeout_s)
    problem = f"killed after the {opts.timeout_s:.0f} s timeout" if proc.timed_out else ""
    (out / "status").write_text(f"{rc}\n")
    result = LaneResult(k.name, platform.release(), "", rc, round(time.monotonic() - t0, 2), str(out), None, problem)
    result.firewall = firewall_of(out)
    finish(result, opts)
    return result


def finish(result: LaneResult, opts: LaneOptions) -> None:
    """Drop the console and kernel logs of a passing run (unless kept), write lane.json."""
    out = Path(result.out)
    if result.exit == 0 and not opts.keep_logs:
        for name in ("console.log", "kernel.log"):
            (out / name).unlink(missing_ok=True)
    result.write()

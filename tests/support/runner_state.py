"""A snapshot of the namespace pytest runs in: what the plugin must never change."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

_VOLATILE = {
    "valid_life_time",
    "preferred_life_time",
    "state",
    "used",
    "confirmed",
    "updated",
    "probes",
    "stats",
    "stats64",
    "linkinfo",
}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _ip(*args: str) -> Any:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout
    return _strip(json.loads(out or "[]"))


def _tool(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        return f"{argv[0]}: not installed"
    done = subprocess.run(argv, capture_output=True, text=True)
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith("#"))


def _sysctls() -> dict[str, str]:
    out = {}
    for base in ("/proc/sys/net/ipv4/conf/all", "/proc/sys/net/ipv4/conf/default", "/proc/sys/net/ipv6/conf/all"):
        for p in sorted(Path(base).iterdir()):
            with contextlib.suppress(OSError):
                out[str(p)] = p.read_text().strip()
    for key in ("ipv4/ip_forward", "ipv4/neigh/default/retrans_time_ms", "core/somaxconn"):
        out[key] = Path("/proc/sys/net", key).read_text().strip()
    return out


def snapshot() -> dict[str, Any]:
    return {
        "links": _ip("link", "show"),
        "addresses": _ip("addr", "show"),
        "routes": _ip("route", "show", "table", "all"),
        "neighbours": sorted(json.dumps(n, sort_keys=True) for n in _ip("neigh", "show")),
        "netns": sorted(Path("/run/netns").iterdir()) if Path("/run/netns").is_dir() else [],
        "iptables": _tool("iptables-save"),
        "nft": _tool("nft", "list", "ruleset"),
        "sysctl": _sysctls(),
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{key} changed:\n  before: {before[key]}\n  after:  {after[key]}"
        for key in before
        if before[key] != after.get(key)
    ]

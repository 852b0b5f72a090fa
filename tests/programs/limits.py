"""Run by tests/kernel/test_limits.py in a process of its own: ``limits.py MODE``.

- ``fds``: the namespace worker cannot start (no descriptor left): the build raises at once,
  naming RLIMIT_NOFILE; with the limit lifted, the next build works.
- ``netns``: (inside ``unshare -Ur``, a user namespace of its own) ``user.max_net_namespaces``
  of that user namespace set to 0, then 1, then 100: the worker, then the build, raise at once
  naming the limit; then it works.
- ``exhaust``: builds of a 30-namespace spec with the descriptor limit a little higher each
  time: every build fails or succeeds, and afterwards this process holds exactly the
  descriptors it held before (no socket, no namespace left behind).

Prints one JSON object: what happened.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytest_macvlan.topology.builder
import pytest_macvlan.topology.handles
from pytest_macvlan import NetLab
from pytest_macvlan.errors import BuildError
from pytest_macvlan.spec.parse import parse_spec

ONE = parse_spec({"netns": {"a": {}}})
MANY = parse_spec(
    {
        "netns": {
            f"n{i}": {"link": {"v": {"type": "veth", "peer": {"name": "w", "netns": f"n{(i + 1) % 30}"}}}}
            for i in range(30)
        }
    }
)
_ = (pytest_macvlan.topology.builder, pytest_macvlan.topology.handles)


def fds() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return sorted(out)


def attempt(spec: Any) -> dict[str, Any]:
    start = time.monotonic()
    try:
        with NetLab() as lab:
            lab.build(spec)
    except (OSError, RuntimeError, BuildError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - start}
    return {"ok": True, "seconds": time.monotonic() - start}


def set_nofile(soft: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def main(mode: str) -> dict[str, Any]:
    if mode == "fds":
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        set_nofile(0)  # no new descriptor at all (the open ones stay usable)
        starved = attempt(ONE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        return {"starved": starved, "lifted": attempt(ONE)}
    if mode == "netns":
        limit = Path("/proc/sys/user/max_net_namespaces")
        out = {}
        for value in (0, 1, 100):
            limit.write_text(str(value))
            out[str(value)] = attempt(ONE)
        return out
    if mode == "exhaust":
        attempt(ONE)  # warm up: the worker runs, every module is imported
        before = fds()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        results = []
        for extra in range(0, 120, 4):
            set_nofile(len(before) + extra)
            try:
                result = attempt(MANY)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
            left = [f for f in fds() if f not in before or fds().count(f) > before.count(f)]
            results.append({"extra": extra, **result, "left": sorted(set(left))})
        return {"results": results, "same": fds() == before}
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))

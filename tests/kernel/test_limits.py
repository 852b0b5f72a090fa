"""The worker and every kernel resource under failure (issue 12, items 5 and 6).

Each case runs ``tests/programs/limits.py`` in a process of its own, so that its limits touch
nothing else: the descriptor limit is lowered with ``setrlimit`` in that process, and the
namespace limit is lowered in a user namespace of its own (``unshare -Ur``: ``user.max_*`` are
per user namespace), never in the machine's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LIMITS = Path(__file__).parents[1] / "programs" / "limits.py"
ROOT = Path(__file__).parents[2]


def run_limits(mode: str, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    done = subprocess.run(
        [*prefix, sys.executable, str(LIMITS), mode], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_worker_that_cannot_start_raises_at_once_naming_the_fd_limit() -> None:
    r = run_limits("fds")
    starved = r["starved"]
    assert not starved["ok"] and starved["seconds"] < 5
    assert "cannot start the namespace worker thread" in starved["error"], starved
    assert "RLIMIT_NOFILE" in starved["error"], starved
    assert r["lifted"]["ok"], "once the limit is lifted, the next build works"


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) (util-linux)")
def test_the_namespace_limit_is_named_and_lifting_it_is_enough() -> None:
    r = run_limits("netns", ("unshare", "-Ur"))
    assert not r["0"]["ok"] and "user.max_net_namespaces (0) is reached" in r["0"]["error"], r
    assert "cannot start the namespace worker thread" in r["0"]["error"], r
    assert not r["1"]["ok"] and "user.max_net_namespaces (1) is reached" in r["1"]["error"], r
    assert r["100"]["ok"], r
    assert all(v["seconds"] < 5 for v in r.values()), r


def test_fd_exhaustion_during_a_build_leaves_no_socket_or_namespace() -> None:
    r = run_limits("exhaust")
    results = r["results"]
    assert any(not x["ok"] for x in results) and any(x["ok"] for x in results), "the limits cover both"
    failed = [x for x in results if not x["ok"]]
    assert [x["error"] for x in failed if "RLIMIT_NOFILE" not in x["error"]] == []
    assert [x for x in results if x["left"]] == [], "descriptors left behind"
    assert r["same"]

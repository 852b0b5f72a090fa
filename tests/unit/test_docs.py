"""The documentation site (docs/, mkdocs.yml): it builds with ``mkdocs build --strict`` (a broken
link, a missing anchor or snippet, a page not in the nav fails), and its examples are files that
are valid and used. tests/kernel/test_doc_examples.py runs the examples."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_macvlan import load_spec

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".py", ".toml"))


def included() -> set[str]:
    """The files the pages include (``--8<-- "examples/x.py"``) or link to (``](examples/x.toml)``)."""
    found: set[str] = set()
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        found |= set(SNIPPET.findall(text))
        found |= set(re.findall(r"\]\((examples/[^)]+)\)", text))
    return found


def test_mkdocs_build_is_strict_and_clean(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]' installs it)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    for page in ("index", "spec", "api", "plugin", "guarantees", "performance", "kernels", "internals"):
        assert (tmp_path / ("index.html" if page == "index" else f"{page}/index.html")).is_file(), page


def test_the_strict_build_is_configured() -> None:
    """What makes the build above able to fail: strict mode, link and anchor checks, snippets
    that must exist."""
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^strict: true$", config, re.M)
    for check in ("omitted_files", "not_found", "unrecognized_links", "anchors"):
        assert re.search(rf"^  {check}: warn$", config, re.M), check
    assert "check_paths: true" in config


def test_every_example_is_on_a_page() -> None:
    files = {f"examples/{p.name}" for p in example_files()}
    shown = included()
    assert sorted(files - shown) == [], "examples that no page includes or links to"
    assert sorted(s for s in shown if s.startswith("examples/") and s not in files) == [], "pages include missing files"


@pytest.mark.parametrize("path", [p for p in example_files() if p.suffix == ".toml"], ids=lambda p: p.name)
def test_every_example_spec_is_valid_and_built_by_an_example(path: Path) -> None:
    assert load_spec(path).links, f"{path.name}: a valid spec with links"
    users = [p.name for p in example_files() if p.suffix == ".py" and path.name in p.read_text()]
    # vocabulary.toml needs kinds this project's kernels lack (ipvlan, vrf, bond...): parsed only.
    users += [p.name for p in (ROOT / "tests" / "unit").glob("test_spec_vocabulary.py") if path.name in p.read_text()]
    assert users, f"{path.name}: no example builds it, so nothing checks that the kernel accepts it"

"""README.md: short, the two commands verbatim, its example a real file that the tests run
(docs/examples/test_private.py, run by tests/kernel/test_doc_examples.py), its links alive."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
MAX_LINES = 200
COMMANDS = (
    "ci/setup && .venv/bin/python -m pytest -p pytest_macvlan scenarios/",
    "ci/setup && .venv/bin/python -m pytest -p pytest_macvlan tests/",
)


def test_readme_example_is_the_tested_file() -> None:
    example = (ROOT / "docs" / "examples" / "test_private.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert example in blocks, "README's example and docs/examples/test_private.py differ"


def test_readme_has_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    for command in COMMANDS:
        assert command in lines, f"README lacks the command line {command!r}"


def test_readme_is_short() -> None:
    """At most MAX_LINES of prose: the generated claims x kernels matrix (between the
    ``kernel-matrix`` markers, written by ``pytest-macvlan matrix --readme``) does not count."""
    text = README.read_text()
    generated = re.search(r"<!-- kernel-matrix:begin -->.*?<!-- kernel-matrix:end -->", text, re.S)
    prose = text.replace(generated.group(0), "") if generated else text
    lines = len(prose.splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines besides the matrix; the reference goes in docs/"


def test_readme_links_lead_somewhere() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [t for t in targets if "://" not in t]
    assert "docs/guarantees.md" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == [], f"README links to files that do not exist: {missing}"

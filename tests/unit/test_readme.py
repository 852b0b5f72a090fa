"""README's example is a real test file (tests/examples/test_private.py), kept identical to the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_readme_example_is_the_tested_file() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "tests" / "examples" / "test_private.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert example in blocks


def test_readme_spec_block_is_valid_toml() -> None:
    import tomllib

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## The spec format.*?```toml\n(.*?)```", readme, re.S)
    assert block is not None
    tomllib.loads(block.group(1))
    from pytest_macvlan import load_spec

    assert load_spec(block.group(1)).links, "the README's spec is a valid spec, not only valid TOML"

"""Tests that build real namespaces and links: they need root, or rootless mode (a user namespace
the plugin makes for itself). Each is marked ``netlab`` and skipped, naming what is missing,
where neither is possible. The one place that says so."""

from __future__ import annotations

import pytest

from pytest_macvlan.kernel import privileges, rootless


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = privileges.missing_caps()
    skip = pytest.mark.skip(reason=rootless.describe_missing(missing)) if missing else None
    here = config.rootpath / "tests" / "kernel"
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.netlab)
            if skip is not None:
                item.add_marker(skip)

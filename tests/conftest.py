from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (or ``crosscheck``) run only when a ``-m`` expression is given (``-m slow``,
    ``-m "slow or not slow"``); a plain run deselects them."""
    if config.option.markexpr:
        return
    slow = [item for item in items if item.get_closest_marker("slow") or item.get_closest_marker("crosscheck")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Table rows on one line each, so that ``fnmatch_lines`` sees whole rows."""
    monkeypatch.setenv("COLUMNS", "250")

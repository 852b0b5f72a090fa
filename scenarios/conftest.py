"""What the article's scenarios add to the plugin: the ``vlan`` marker (802.1Q tests, selected
with ``-m vlan`` on a kernel that has 8021q, such as a kernel lane)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vlan: the test needs 802.1Q VLAN sub-interfaces (select with -m vlan where the kernel has 8021q)"
    )

"""Hooks other plugins (and this package's own report plugins) implement to follow topologies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pluggy import HookspecMarker

if TYPE_CHECKING:
    from pytest_macvlan.topology.handles import Topology
    from pytest_macvlan.topology.lab import NetLab

hookspec = HookspecMarker("pytest")


@hookspec
def pytest_macvlan_topology_built(node: pytest.Item | pytest.Collector, topology: Topology) -> None:
    """A topology was built for ``node`` (a test item, or a module/class/session for a wider-scoped
    topology from :func:`pytest_macvlan.plugin.factories.topology`)."""


@hookspec
def pytest_macvlan_teardown(node: pytest.Item | pytest.Collector, lab: NetLab) -> None:
    """``node``'s lab is about to be torn down; its topologies and captures are still alive.

    For a test item, the reports of its phases so far are in
    ``node.stash[pytest_macvlan.plugin.core.REPORTS_KEY]`` (``{"setup": report, "call": report}``).
    """

"""The plugin's hooks (docs/plugin.md); test_hooks.py checks they were called."""

import pytest


def pytest_macvlan_topology_built(node, topology):
    """A topology was built for ``node``: a test, or a module/class/session for a wider fixture."""
    if isinstance(node, pytest.Item):
        node.user_properties.append(("topology", topology.spec.source))


def pytest_macvlan_teardown(node, lab):
    """``node``'s lab is about to be torn down: its topologies and captures are still alive."""
    if isinstance(node, pytest.Item):
        frames = sum(len(cap.frames) for topo in lab.topologies for cap in topo.captures)
        node.user_properties.append(("frames captured", frames))

"""Kernel feature probing."""

from __future__ import annotations

from pytest_macvlan.kernel import features


def test_probe_finds_what_this_project_needs_and_is_cached() -> None:
    probed = features.probe()
    assert {"bridge", "veth", "macvlan", "macvlan:private", "macvlan:vepa", "macvlan:passthru"} <= probed.have
    assert set(probed.have).isdisjoint(probed.missing)
    assert features.get() is features.get(), "one result per session"
    assert features.get().have == probed.have

"""Fixture factories, for topologies that several tests share.

In a conftest or test module::

    from pytest_macvlan.plugin import factories

    vepa = factories.topology("vepa.toml", scope="module")

    def test_one(vepa): ...

The topology is built once per scope and torn down at its end. Tests that share it see each
other's changes: use it for read-only claims, or with ``xdist_group`` under ``-n``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from pytest_macvlan.plugin.core import lab_for
from pytest_macvlan.topology.handles import Topology

Scope = Literal["session", "package", "module", "class", "function"]


def topology(spec: Any, scope: Scope = "module") -> Callable[..., Iterator[Topology]]:
    """A fixture that builds ``spec`` (path relative to the module that defines the fixture)."""

    @pytest.fixture(scope=scope)
    def fixture(request: pytest.FixtureRequest) -> Iterator[Topology]:
        for lab in lab_for(request):
            yield lab.build(spec)

    return fixture


def netlab(scope: Scope = "module") -> Callable[..., Iterator[Any]]:
    """A ``netlab``-like fixture of a wider scope."""

    @pytest.fixture(scope=scope)
    def fixture(request: pytest.FixtureRequest) -> Iterator[Any]:
        yield from lab_for(request)

    return fixture

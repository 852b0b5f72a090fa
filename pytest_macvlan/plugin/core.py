"""The pytest face of pytest-macvlan: options, markers, fixtures and report hooks only.

Building, capturing and parsing live in modules that do not import pytest.
"""

from __future__ import annotations

import platform
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_macvlan.errors import KernelFeatureError
from pytest_macvlan.kernel import features, privileges, rootless
from pytest_macvlan.plugin.config import Config

if TYPE_CHECKING:
    from pytest_macvlan.topology.handles import Topology
    from pytest_macvlan.topology.lab import NetLab

LAB_KEY = pytest.StashKey["NetLab"]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
FIXTURES = ("netlab", "topology")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_macvlan.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    Config.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # First, while the process is still single-threaded: without the capabilities, run
    # rootless in a user namespace of our own (see rootless.py) if the kernel allows it.
    rootless.enter_if_needed()
    config.addinivalue_line(
        "markers",
        "topology(spec): build SPEC (TOML path relative to the test file, or "
        "absolute; TOML text; dict) for the `topology` fixture",
    )
    config.addinivalue_line(
        "markers",
        "netlab: the test builds real-kernel topologies (needs CAP_NET_ADMIN and "
        "CAP_SYS_ADMIN); added automatically to tests that use netlab/topology",
    )
    config.addinivalue_line(
        "markers",
        "claim(text, article=None, quote=None, gloss=None, source=None, precisely=None, differs=None): the test "
        "asserts one claim (TEXT, short). An article claim cites ARTICLE ('L313' or 'L1120-1134'), QUOTE (verbatim "
        "from those lines) and GLOSS (in English); any other claim names its SOURCE. PRECISELY: a detail the kernel "
        "shows that the article does not state; DIFFERS: how the kernel contradicts the article's words",
    )
    config.addinivalue_line(
        "markers",
        "requires_kernel(*features): skip (or fail, with --netlab-strict-features) unless the kernel has every "
        "feature, e.g. requires_kernel('8021q'); see pytest_macvlan.kernel.features.DESCRIPTIONS for the names",
    )
    config.stash[Config.KEY] = Config.from_pytest(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FIXTURES):
            item.add_marker("netlab")


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"pytest-macvlan: kernel {platform.release()}, {rootless.mode()}"]
    if privileges.missing_caps():
        lines.append("pytest-macvlan features: not probed (needs the capabilities above)")
    else:
        lines.append(f"pytest-macvlan features: {features.get().header()}")
    return lines


def _lacking(config: pytest.Config, needs: frozenset[str], what: str) -> None:
    """Skip (or, with --netlab-strict-features, fail) when the kernel lacks any of ``needs``."""
    if not needs or privileges.missing_caps():
        return
    found = features.get()
    lacking = found.lacking(needs)
    if lacking:
        reason = f"{what}: {found.describe_lack(lacking)}; {features.HOW_TO_RUN}"
        if config.stash[Config.KEY].strict_features:
            pytest.fail(f"{reason} (--netlab-strict-features is set)", pytrace=False)
        pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = frozenset(f for m in item.iter_markers("requires_kernel") for f in m.args)
    _lacking(item.config, needs, "requires_kernel")


def _require_privileges(config: pytest.Config) -> None:
    missing = privileges.missing_caps()
    if missing:
        reason = rootless.describe_missing(missing)
        if config.stash[Config.KEY].require_privileges:
            pytest.fail(f"pytest-macvlan: {reason} (--netlab-require-privileges is set)", pytrace=False)
        pytest.skip(f"pytest-macvlan: {reason}")


class PytestLab:
    """:class:`NetLab` for a test: a missing kernel feature skips the test (or fails it, if strict),
    and other plugins hear of each topology (``pytest_macvlan_topology_built``)."""

    def __init__(self, lab: NetLab, node: pytest.Item | pytest.Collector) -> None:
        self._lab = lab
        self._node = node
        self._config = node.config.stash[Config.KEY]

    def build(self, spec: Any) -> Topology:
        """Build ``spec`` (TOML path relative to the test file, TOML text, or dict)."""
        parsed = self._lab.load(spec)
        _lacking(self._node.config, features.needs_of_kinds(parsed.kinds()), parsed.source)
        try:
            topo = self._lab.build(parsed)
        except KernelFeatureError as exc:
            if self._config.strict_features:
                raise
            pytest.skip(f"kernel lacks {exc.feature}: {exc}; {features.HOW_TO_RUN}")
        self._node.config.hook.pytest_macvlan_topology_built(node=self._node, topology=topo)
        return topo

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lab, name)


@pytest.fixture
def netlab(request: pytest.FixtureRequest) -> Iterator[PytestLab]:
    """A lab for this test: ``netlab.build(spec) -> Topology``; everything is torn down when the test ends.

    ``spec`` is a TOML path (relative to the test file), TOML text, or a dict.
    """
    yield from lab_for(request)


def lab_for(request: pytest.FixtureRequest) -> Generator[PytestLab]:
    """The body of every lab fixture, whatever its scope: build, yield, tell the hooks, tear down."""
    _require_privileges(request.config)
    from pytest_macvlan.topology.lab import NetLab

    node = request.node
    lab = NetLab(base=Path(request.path).parent)
    node.stash[LAB_KEY] = lab
    try:
        yield PytestLab(lab, node)
    finally:
        try:
            request.config.hook.pytest_macvlan_teardown(node=node, lab=lab)
        finally:
            for failure in lab.close():
                node.warn(pytest.PytestWarning(f"pytest-macvlan teardown: {failure}"))


@pytest.fixture
def topology(request: pytest.FixtureRequest, netlab: PytestLab) -> Topology:
    """The topology named by the test's ``@pytest.mark.topology(spec)`` marker, built for this test."""
    marker = request.node.get_closest_marker("topology")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{request.node.nodeid}: the `topology` fixture needs @pytest.mark.topology(spec)")
    return netlab.build(marker.args[0])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(REPORTS_KEY, {})[report.when] = report  # captures and diagram: debugging.py
    return report

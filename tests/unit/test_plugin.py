"""The plugin as pytest sees it, tested with pytester."""

from __future__ import annotations

import pytest

from pytest_macvlan.kernel.privileges import missing_caps


def test_dash_p_loads_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(netlab): pass")
    result = pytester.runpytest("-p", "pytest_macvlan", "--fixtures")
    result.stdout.fnmatch_lines(["netlab -- *pytest_macvlan/plugin/core.py*"])
    result.stdout.fnmatch_lines(["topology -- *pytest_macvlan/plugin/core.py*"])
    result = pytester.runpytest("-p", "pytest_macvlan", "--help")
    result.stdout.fnmatch_lines(["*pytest-macvlan*", "*--netlab-require-privileges*"])


def test_without_the_plugin_nothing_is_loaded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(netlab): pass")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'netlab' not found*"])


def test_conftest_pytest_plugins_loads_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["pytest_macvlan"]')
    pytester.makepyfile(
        "def test_x(request):\n    assert request.config.pluginmanager.has_plugin('pytest_macvlan.plugin.core')"
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_report_header_names_kernel_privileges_and_features(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.stdout.fnmatch_lines(["pytest-macvlan: kernel *, *", "pytest-macvlan features: *"])
    if not missing_caps():
        result.stdout.fnmatch_lines(["pytest-macvlan features: *bridge veth macvlan*"])


FAKE_UNPRIVILEGED = """
import pytest

@pytest.fixture(autouse=True)
def _no_capabilities(monkeypatch):
    import pytest_macvlan.kernel.privileges as p
    monkeypatch.setattr(p, "effective_caps", lambda status_path="": 0)
"""


def test_without_privileges_tests_are_skipped_naming_the_capability(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_UNPRIVILEGED)
    pytester.makepyfile("def test_x(netlab):\n    raise AssertionError('must not run')")
    result = pytester.runpytest("-p", "pytest_macvlan", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs CAP_NET_ADMIN, CAP_SYS_ADMIN*"])


def test_require_privileges_turns_the_skip_into_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_UNPRIVILEGED)
    pytester.makepyfile("def test_x(netlab): pass")
    result = pytester.runpytest("-p", "pytest_macvlan", "--netlab-require-privileges")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs CAP_NET_ADMIN*--netlab-require-privileges is set*"])


def test_netlab_marker_is_added(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(netlab): pass\ndef test_b(): pass")
    result = pytester.runpytest("-p", "pytest_macvlan", "-m", "not netlab", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_b*", "*1/2 tests collected (1 deselected)*"])

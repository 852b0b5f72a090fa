"""The plugin as pytest sees it, tested with pytester."""

from __future__ import annotations

import pytest

from pytest_macvlan.kernel.privileges import missing_caps

privileged = pytest.mark.skipif(bool(missing_caps()), reason="needs root")

PAIR_TOML = """
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
"""


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


@privileged
def test_requires_kernel_marker_skips_naming_the_feature_or_fails_when_strict(pytester: pytest.Pytester) -> None:
    from pytest_macvlan.kernel import features

    pytester.makepyfile("""
        import pytest

        @pytest.mark.requires_kernel("macvlan", "no-such-feature")
        def test_x():
            raise AssertionError("must not run")

        @pytest.mark.requires_kernel("macvlan", "veth", "bridge")
        def test_y():
            pass
    """)
    result = pytester.runpytest("-p", "pytest_macvlan", "-rs")
    result.assert_outcomes(skipped=1, passed=1)
    result.stdout.fnmatch_lines(["*requires_kernel: kernel * lacks no-such-feature*pytest-macvlan kernel run*"])
    result = pytester.runpytest("-p", "pytest_macvlan", "--netlab-strict-features")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(["*lacks no-such-feature*--netlab-strict-features is set*"])
    assert features.get().has("macvlan:passthru")


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


@privileged
def test_marker_and_fixture_build_the_spec_relative_to_the_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pair=PAIR_TOML)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.topology("pair.toml")
        def test_ping(topology):
            assert topology.link("a/v0").carrier
            assert topology["a"].ping("192.168.9.3").ok

        def test_build(netlab):
            topo = netlab.build({"netns": {"x": {}}})
            assert topo["x"].run("ip", "-br", "link").stdout.startswith("lo")
    """)
    pytester.runpytest("-p", "pytest_macvlan").assert_outcomes(passed=2)


@privileged
def test_teardown_runs_after_a_failing_test_and_the_report_shows_frames(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pair=PAIR_TOML)
    pytester.makeconftest("""
        BUILT = []
    """)
    pytester.makepyfile("""
        import pytest
        import conftest

        @pytest.mark.topology("pair.toml")
        def test_fails(topology):
            conftest.BUILT.append(topology)
            cap = topology.link("b/v0").sniff()
            topology["a"].ping("192.168.9.3")
            cap.wait_for(count=2)
            assert cap.count() == 0, "deliberate failure"

        def test_after():
            assert conftest.BUILT[0].closed, "the failing test's topology was torn down"
    """)
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*pytest-macvlan captures*", "*b/v0 in  * ICMP echo request*"])


@privileged
def test_topology_fixture_without_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(topology): pass")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.stdout.fnmatch_lines(["*needs @pytest.mark.topology(spec)*"])


@privileged
def test_missing_kernel_feature_skips_or_fails_when_strict(pytester: pytest.Pytester) -> None:
    from pytest_macvlan import KernelFeatureError, NetLab

    spec = {
        "netns": {
            "a": {"link": {"v0": {"type": "veth", "peer": "v1"}, "v0.11": {"type": "vlan", "link": "v0", "id": 11}}}
        }
    }
    try:
        with NetLab() as lab:
            lab.build(spec)
        pytest.skip("this kernel has 802.1Q VLANs: nothing to skip")
    except KernelFeatureError:
        pass
    pytester.makepyfile(f"def test_x(netlab):\n    netlab.build({spec!r})")
    result = pytester.runpytest("-p", "pytest_macvlan", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*lacks 8021q (802.1Q VLAN*pytest-macvlan kernel run*"])
    result = pytester.runpytest("-p", "pytest_macvlan", "--netlab-strict-features")
    result.assert_outcomes(failed=1)


@privileged
def test_factory_shares_a_module_scoped_topology_and_hooks_are_called(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pair=PAIR_TOML)
    pytester.makeconftest("""
        EVENTS = []

        def pytest_macvlan_topology_built(node, topology):
            EVENTS.append(("built", node.name))

        def pytest_macvlan_teardown(node, lab):
            EVENTS.append(("teardown", node.name, len(lab.topologies)))
    """)
    pytester.makepyfile(
        test_shared="""
        import conftest
        from pytest_macvlan.plugin import factories

        pair = factories.topology("pair.toml", scope="module")

        def test_one(pair):
            assert pair["a"].ping("192.168.9.3").ok

        def test_two(pair):
            assert conftest.EVENTS == [("built", "test_shared.py")]

        def test_three():
            pass
    """
    )
    pytester.makepyfile(
        test_zz_after="""
        import conftest

        def test_events():
            assert conftest.EVENTS == [("built", "test_shared.py"), ("teardown", "test_shared.py", 1)]
    """
    )
    pytester.runpytest("-p", "pytest_macvlan", "-p", "no:randomly").assert_outcomes(passed=4)

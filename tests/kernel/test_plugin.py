"""The plugin as pytest sees it, tested with pytester."""

from __future__ import annotations

import pytest

PAIR_TOML = """
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
"""


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


def test_topology_fixture_without_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(topology): pass")
    result = pytester.runpytest("-p", "pytest_macvlan")
    result.stdout.fnmatch_lines(["*needs @pytest.mark.topology(spec)*"])


def test_missing_kernel_feature_skips_or_fails_when_strict(pytester: pytest.Pytester) -> None:
    """A spec that needs 802.1Q: skipped naming it (failed with --netlab-strict-features) where the
    probe says the kernel lacks it, passed where the kernel has it. Either way the run must agree
    with the probe, so the test fails if the skip is wrong in either direction."""
    from pytest_macvlan.kernel import features

    spec = {
        "netns": {
            "a": {"link": {"v0": {"type": "veth", "peer": "v1"}, "v0.11": {"type": "vlan", "link": "v0", "id": 11}}}
        }
    }
    pytester.makepyfile(f"def test_x(netlab):\n    netlab.build({spec!r})")
    result = pytester.runpytest("-p", "pytest_macvlan", "-rs")
    if "8021q" in features.get().have:
        result.assert_outcomes(passed=1)
        return
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*lacks 8021q (802.1Q VLAN*pytest-macvlan kernel run*"])
    result = pytester.runpytest("-p", "pytest_macvlan", "--netlab-strict-features")
    result.assert_outcomes(failed=1)


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

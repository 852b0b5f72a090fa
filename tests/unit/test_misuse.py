"""Bad input, hostile input, bad use at run time, and the host's safety.

- Every malformed spec of test_spec.py is refused before anything touches the kernel.
- Names and arguments with shell metacharacters or path separators never reach a shell or a path.
- Misuse at run time is a clear error naming the link or the wait, never a hang.
- A spec cannot reach the runner's interfaces: every namespace it names is a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_macvlan import NetLab, SpecError
from pytest_macvlan.kernel import nsworker as nsmod
from pytest_macvlan.kernel import processes as procmod
from pytest_macvlan.spec.names import ifname_problem, netns_name_problem
from pytest_macvlan.spec.parse import parse_spec
from tests.support.specs import net_fds
from tests.unit.test_spec import BAD


@pytest.fixture
def kernel_untouchable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every way into the kernel (namespaces, the worker thread, programs, sockets in a
    namespace) fails the test if used; yields the list of attempts."""
    attempts: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(name)
            raise AssertionError(f"{name} was called for a bad spec")

        return refused

    for name in ("create", "run_in", "on_worker", "unshare_net", "setns", "socket_in", "_get_worker"):
        monkeypatch.setattr(nsmod, name, refuse(f"netns.{name}"))
    for name in ("run", "spawn"):
        monkeypatch.setattr(procmod, name, refuse(f"proc.{name}"))
    for name in ("popen", "_start"):
        monkeypatch.setattr(procmod.Supervisor, name, refuse(f"Supervisor.{name}"))
    before = net_fds()
    yield attempts
    assert net_fds() == before


@pytest.mark.parametrize("spec", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_spec_creates_nothing_in_the_kernel(kernel_untouchable: list[str], spec: Any) -> None:
    with NetLab() as lab, pytest.raises(SpecError) as info:
        lab.build(spec)
    assert info.value.problem, str(info.value)
    assert kernel_untouchable == []


def test_there_are_enough_bad_specs() -> None:
    assert len(BAD) >= 30 and len({b[0] for b in BAD}) == len(BAD)


HOSTILE_NAMES = [
    "a;b",
    "a|b",
    "a&b",
    "$(id)",
    "${IFS}",
    "`id`",
    "a>b",
    "a<b",
    "a*",
    "a?",
    "~root",
    "a'b",
    'a"b',
    "a\\b",
    "a\nb",
    "a\tb",
    "a\x00b",
    "a\x1bb",
    "../x",
    "/etc",
    "a/b",
    "..",
    ".",
    "",
    "-rf",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_names_are_refused_for_links_and_namespaces(name: str) -> None:
    if name != "-rf":  # a valid interface name (ip(8) takes it after 'name'; we never use a shell)
        assert ifname_problem(name), f"interface name {name!r} accepted"
    assert netns_name_problem(name), f"namespace name {name!r} accepted"
    with pytest.raises(SpecError):
        parse_spec({"netns": {name: {}}}, "hostile.toml")
    if name != "-rf":
        with pytest.raises(SpecError):
            parse_spec({"netns": {"a": {"link": {name: {"type": "bridge"}}}}}, "hostile.toml")


@pytest.mark.parametrize(
    "key",
    [
        "net.ipv4.conf.all/../../../../etc/passwd",
        "net.ipv4.//.//.//etc/passwd",
        "net./",
        "net..ipv4",
        "kernel.hostname",
        "/proc/sys/net/ipv4/ip_forward",
    ],
)
def test_hostile_sysctl_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a network sysctl"):
        nsmod.sysctl_path(key)


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("net.ipv4.conf.veth1/11.rp_filter", "/proc/sys/net/ipv4/conf/veth1.11/rp_filter"),
        ("net.ipv4.conf.*.rp_filter", "/proc/sys/net/ipv4/conf/*/rp_filter"),  # open() does not glob
    ],
)
def test_sysctl_keys_stay_in_proc_sys_net(key: str, path: str) -> None:
    assert nsmod.sysctl_path(key) == path


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ("eth0", "not defined"),
        ("lo", "'lo' exists in every namespace"),
        ("host/eth0", "unknown namespace 'host'"),
        ("/eth0", "namespace"),
        ("../eth0", "namespace"),
        ("root/eth0", "unknown namespace 'root'"),
    ],
)
def test_a_spec_cannot_name_the_runners_interfaces(link: str, words: str) -> None:
    """Every namespace of a spec is new: the runner's eth0 is not in any, so no parent can be it."""
    with pytest.raises(SpecError, match=words) as info:
        parse_spec({"netns": {"a": {"link": {"m": {"type": "macvlan", "link": link}}}}}, "safety.toml")
    assert info.value.entry.startswith("netns.a.link.m"), str(info.value)


@pytest.mark.parametrize("netns", ["/", "1", "/proc/1/ns/net", "/run/netns/x", "..", "host/eth0"])
def test_a_veth_peer_cannot_go_to_an_outside_namespace(netns: str) -> None:
    spec = {"netns": {"a": {"link": {"v": {"type": "veth", "peer": {"name": "p", "netns": netns}}}}}}
    with pytest.raises(SpecError) as info:
        parse_spec(spec, "safety.toml")
    assert info.value.entry.startswith("netns.a.link.v.peer"), str(info.value)

"""Topology, Netns and Link (docs/api.md)."""

from pytest_macvlan import Topology

SPEC = {  # a dict works as well as TOML
    "netns": {
        "a": {
            "link": {
                "v0": {
                    "type": "veth",
                    "addr": ["192.168.9.2/24"],
                    "peer": {"name": "v0", "netns": "b", "addr": ["192.168.9.3/24"]},
                }
            }
        },
        "b": {},
    }
}


def test_topology_netns_link(netlab):
    topo: Topology = netlab.build(SPEC)
    a, b = topo["a"], topo.netns("b")  # Netns handles
    v0 = topo.link("a/v0")  # a Link handle: 'netns/name'
    assert [ns.name for ns in topo] == ["a", "b"]  # in the spec's order
    assert (v0.kind, v0.ipv4, v0.is_up, v0.carrier) == ("veth", "192.168.9.2", True, True)

    result = a.ping("192.168.9.3", count=2)  # never raises: look at the result
    assert result.ok and result.received == 2, result.output
    assert b.neighbours()["192.168.9.2"] == v0.mac

    assert "v0" in a.run("ip", "-br", "link").stdout  # a program inside, no shell
    assert a.sysctl("net.ipv4.conf.v0.forwarding", 1) == "1"  # write, then read back

    v0.set_down()
    topo.link("b/v0").wait_carrier(False, timeout=2.0)  # the peer loses carrier
    v0.set_up()
    topo.link("b/v0").wait_carrier(True, timeout=2.0)
    info = v0.info()  # what the kernel says now (a LinkInfo)
    assert (info.name, info.mtu, info.promiscuity) == ("v0", 1500, 0)


def test_a_program_in_a_namespace(netlab):
    topo = netlab.build(SPEC)
    server = topo["b"].spawn("python3", "-c", "import socket, time; s = socket.socket(); s.bind(('', 8080)); "
                             "s.listen(); print('ready', flush=True); time.sleep(60)")  # fmt: skip
    server.wait_for_output("ready")  # a condition with a deadline, never a sleep
    server.wait_for_listen(8080)
    assert server.returncode is None  # still running; it ends with the topology

"""A topology outside pytest: ``python netlab_script.py``, as root or as any user (rootless)."""

from pytest_macvlan import NetLab, arp_request, incoming
from pytest_macvlan.kernel import rootless

SPEC = """
[netns.host.link.veth1]
type = "veth"
peer = { name = "veth1_br", master = "br0" }

[netns.host.link.br0]
type = "bridge"
addr = ["192.168.9.1/24"]

[netns.ns1.link.macvl1]
type = "macvlan"
link = "host/veth1"
mode = "vepa"
addr = ["192.168.9.2/24"]
"""


def main() -> int:
    rootless.enter_if_needed()  # first thing, while the process has one thread
    with NetLab() as lab:  # everything is torn down when the block ends
        topo = lab.build(SPEC)
        cap = topo.link("host/veth1_br").sniff()
        result = topo["ns1"].ping("192.168.9.1")
        cap.wait_for(arp_request(pdst="192.168.9.1") & incoming)
        print(topo.summary())
        return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Claims whose verdict depends on the kernel's version, from the kernel's macvlan history.

Beyond the article (written on one kernel). The matrix (`pytest-macvlan matrix`) runs these on
each kernel; a row that varies across kernels is marked there.

- ``nodst``: Linux commit 427f0c8c194b ("macvlan: Add nodst option to macvlan type source",
  Jethro Beekman, merged for Linux 5.13) added the ``MACVLAN_FLAG_NODST`` flag: a frame from a
  listed source goes to the source-mode macvlan only, no longer also to the destination-based
  path (the parent, or the macvlan owning the destination MAC). Before it, the kernel refuses the
  flag (``macvlan_validate``: any flag but ``nopromisc`` is EINVAL), so on Debian 11's 5.10.46
  this claim is skipped, and it holds from 5.13 on (Debian 12's 6.1, 13's 6.12, unstable's 7.2).
"""

from __future__ import annotations

import platform

import pytest

from pytest_macvlan import Topology, arp_reply, arp_request, incoming, src_mac
from pytest_macvlan.kernel.processes import CommandFailed

pytestmark = pytest.mark.topology("source.toml")

S20_MAC = "02:00:00:00:20:66"  # listed in source.toml (S20's own MAC)
NODST_COMMIT = "Linux commit 427f0c8c194b, 'macvlan: Add nodst option to macvlan type source' (Linux 5.13)"


@pytest.mark.claim(
    "a source-mode macvlan created with nodst takes a listed source's frames for itself: the parent no longer "
    "gets them (kernels since 5.13; older ones refuse the flag)",
    scenario="kernel history",
    source="Linux commit 427f0c8c194b, 'macvlan: Add nodst option to macvlan type source' (Linux 5.13)",
)
def test_nodst_takes_listed_frames_away_from_the_parent(topology: Topology) -> None:
    """S20 (listed) pings S3's own 10.138.36.58 after ``nodst`` is set on macvl1: macvl1 gets S20's
    ARP requests, S3 (the parent's namespace) never sees them as its own and never answers."""
    s20, ns1 = topology["S20"], topology["ns1"]
    try:
        ns1.run("ip", "link", "set", "dev", "macvl1", "type", "macvlan", "mode", "source", "nodst")
    except CommandFailed as exc:
        if "Invalid argument" in str(exc):
            pytest.skip(f"kernel {platform.release()} refuses the nodst flag (EINVAL): it arrived with {NODST_COMMIT}")
        raise
    cap = topology.link("ns1/macvl1").sniff()
    parent = topology.link("S3/eno2").sniff()
    taken = s20.echo("10.138.36.58", timeout=0.5)
    assert not taken.ok, taken.output
    cap.wait_for(arp_request(pdst="10.138.36.58") & incoming & src_mac(S20_MAC))
    parent.assert_none(arp_reply(psrc="10.138.36.58"))

"""Started by tests/kernel/test_programs.py, then killed (SIGKILL) at a random moment.

``spawner.py TOKEN``: builds a two-namespace topology, says ``ready`` on stdout, then starts
programs without end: plain ones, ones that leave a child in the background, and daemons that
fork twice (``setsid``). Every program's command line contains ``3600.TOKEN``, so the test can
find any that survives. Nothing here waits for anything to end: the kill can come at any moment.
"""

from __future__ import annotations

import sys
import threading

from pytest_macvlan import NetLab

SPEC = {"netns": {"a": {"link": {"v0": {"type": "veth", "peer": {"name": "v0", "netns": "b"}}}}, "b": {}}}


def main(token: str) -> None:
    forever = f"3600.{token}"
    with NetLab() as lab:
        topo = lab.build(SPEC)
        print("ready", flush=True)
        for i in range(200):
            ns = topo["a" if i % 2 else "b"]
            ns.spawn("sleep", forever)
            ns.run("sh", "-c", f"sleep {forever} >/dev/null 2>&1 &")
            ns.spawn("sh", "-c", f"(setsid sleep {forever} >/dev/null 2>&1 &); exec sleep {forever}")
        print("all started", flush=True)
        threading.Event().wait(3600)  # held until killed


if __name__ == "__main__":
    main(sys.argv[1])

"""The ``debian-6.1`` lane: Debian's generic kernel under QEMU, booted by virtme-ng.

The kernel package comes from the cache (:mod:`.cache`, fetched like the UML kernels); the VM
is started by ``vm-run.sh`` (shipped beside this module), which needs QEMU, virtme-ng (``vng``
in the virtualenv), busybox-static, kmod, file, binutils and xz-utils. Under software emulation
(no working KVM) Python in the guest is 20-50 times slower than on the host.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_macvlan.runner import cache
from pytest_macvlan.runner.catalogue import Kernel
from pytest_macvlan.runner.lanes import EXIT_NO_STATUS, LaneOptions, LaneResult, finish, firewall_of, prepare_out
from pytest_macvlan.runner.procs import Guest

SCRIPT = Path(__file__).with_name("vm-run.sh")


def run_vng(k: Kernel, args: Sequence[str], opts: LaneOptions, *, command: Sequence[str] | None = None) -> LaneResult:
    """Boot Debian's generic kernel under virtme-ng and run pytest ``args`` (or ``command``) in it."""
    from pytest_macvlan.runner.lanes import pytest_argv

    prepared = cache.fetch(k, cache.cache_root(opts.cache), say=opts.say)
    out = prepare_out(opts.out)
    venv = os.environ.get("VIRTUAL_ENV") or sys.prefix
    env = {
        **os.environ,
        "PYTEST_MACVLAN_VM_PROJECT": os.getcwd(),
        "PYTEST_MACVLAN_VENV": venv,
        "PYTEST_MACVLAN_VM_RWDIR": str(out),
        "PYTEST_MACVLAN_KERNEL_NAME": k.name,  # the lane's name in claims.json
        # vm-run.sh's own state (the KVM probe's memo) goes with the kernel, in the cache
        "PYTEST_MACVLAN_KERNEL_CACHE": str(Path(prepared.image).parent),
        "PYTEST_MACVLAN_VM_MEMORY": opts.memory,
        "PYTEST_MACVLAN_VM_TIMEOUT": str(int(opts.timeout_s)),
        "PYTEST_MACVLAN_VM_MODULES": "8021q br_netfilter macvlan bridge veth ip_tables iptable_filter",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}:/usr/sbin:/sbin",
    }
    if opts.echo is None:
        env["PY_COLORS"] = "0"
    argv = ["bash", str(SCRIPT), "--kernel-dir", prepared.image]
    argv += ["--command", "--", *command] if command else ["--", *pytest_argv(out, args)[3:]]
    opts.say(f"{k.name}: booting {prepared.release} under virtme-ng (slow without KVM), output in {out}")
    t0 = time.monotonic()
    guest = Guest(argv, out / "console.log", echo=opts.echo, env=env)
    rc = guest.wait(opts.timeout_s + 60)
    duration = round(time.monotonic() - t0, 2)
    problem = ""
    if guest.timed_out:
        rc, problem = EXIT_NO_STATUS, f"killed after the timeout; its console is in {out / 'console.log'}"
    (out / "status").write_text(f"{rc}\n")
    result = LaneResult(k.name, prepared.release, "", rc, duration, str(out), None, problem)
    result.firewall = firewall_of(out)
    finish(result, opts)
    return result

"""The init (PID 1) of a user-mode Linux guest: a standalone script, standard library only.

The host boots ``linux.uml ... rootfstype=hostfs ro init=LAUNCHER``; the launcher runs
``PYTHON guest.py CONFIG``. The guest sees the host's root filesystem read-only. This script:

1. reads CONFIG (JSON, written by the host) before anything hides it;
2. mounts proc, sysfs, devtmpfs, tmpfs on ``/tmp``, ``/run`` and ``/dev/shm``; host paths the run
   needs that those tmpfs hide are mounted back from the host read-only (hostfs), and the one
   writable directory, the lane's output directory, read-write, at the same path as on the host;
3. makes the kernel load modules on demand from the kernel's own module tree (its
   ``/proc/sys/kernel/modprobe`` helper runs ``modprobe -d MODDIR``), and loads up front those
   nothing asks for (``br_netfilter``) or all of them (``preload_all``);
4. runs the command (pytest) with a clean environment, stdout and stderr on the console;
5. writes the command's exit status to ``OUT/status``, the kernel log to ``OUT/kernel.log``
   and what it saw to ``OUT/guest.json``; syncs and powers off.

Nothing is imported from pytest_macvlan: the package may not be importable as PID 1.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from typing import Any

LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2 = 672274793
LINUX_REBOOT_CMD_POWER_OFF = 0x4321FEDC
MS_RDONLY = 1
TMPFS = ("/tmp", "/run", "/dev/shm")

_libc = ctypes.CDLL(None, use_errno=True)


def say(message: str) -> None:
    """A line on the guest's console (the host keeps it in console.log)."""
    print(f"pytest-macvlan[guest]: {message}", file=sys.stderr, flush=True)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> str | None:
    """mount(2); None on success, else the error."""
    os.makedirs(target, exist_ok=True)
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        return f"mount {fstype} on {target}: {os.strerror(err)}"
    return None


def hidden(path: str) -> bool:
    """Is ``path`` under one of the tmpfs mounted over the host's directories?"""
    return any(path == t or path.startswith(t + "/") for t in TMPFS)


def power_off() -> None:
    """Sync and power the guest off (the UML process exits)."""
    os.sync()
    _libc.reboot(LINUX_REBOOT_CMD_POWER_OFF)
    os._exit(0)  # reboot(2) returned: PID 1 exiting stops the kernel too


def main(config_path: str) -> int:
    """Mount, load modules, run the command, write its status, power off."""
    with open(config_path, encoding="utf-8") as f:
        cfg: dict[str, Any] = json.load(f)
    out: str = cfg["out"]
    started = time.monotonic()
    problems: list[str] = []
    for source, target, fstype in (
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/tmp", "tmpfs"),
        ("tmpfs", "/run", "tmpfs"),
        ("tmpfs", "/dev/shm", "tmpfs"),
    ):
        problem = mount(source, target, fstype)
        if problem and target != "/dev":
            problems.append(problem)
    os.chmod("/tmp", 0o1777)
    # Host paths under a tmpfs that the run needs (the project, the virtualenv, the cache):
    # back from the host, read-only.
    for path in sorted(set(cfg.get("readonly", []))):
        if hidden(path) and path not in TMPFS:
            problem = mount("none", path, "hostfs", MS_RDONLY, path)
            if problem:
                problems.append(problem)
    problem = mount("none", out, "hostfs", 0, out)
    if problem:
        say(f"cannot mount the output directory: {problem}")
        power_off()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])

    helper = cfg.get("modprobe_helper")
    if helper:
        try:
            with open("/proc/sys/kernel/modprobe", "w") as f:
                f.write(helper)
        except OSError as exc:
            problems.append(f"cannot set the module helper: {exc}")
    modules: list[str] = cfg.get("modules", [])
    loaded: list[str] = []
    failed: dict[str, str] = {}
    if modules:
        argv = ["modprobe", "-a", "-d", cfg["moddir"], *modules]
        done = subprocess.run(argv, capture_output=True, text=True, env={"PATH": cfg["path"]}, check=False)
        if done.returncode != 0:  # which ones? one by one
            for m in modules:
                one = subprocess.run([*argv[:4], m], capture_output=True, text=True, env={"PATH": cfg["path"]})
                if one.returncode != 0:
                    failed[m] = one.stderr.strip().splitlines()[-1] if one.stderr.strip() else f"exit {one.returncode}"
        loaded = [m for m in modules if m not in failed]
    release = os.uname().release
    say(
        f"kernel {release}, booted in {uptime:.2f} s, modules loaded: {' '.join(loaded) or 'none'}"
        + (f"; NOT loaded: {', '.join(f'{m} ({w})' for m, w in failed.items())}" if failed else "")
    )
    for problem in problems:
        say(problem)
    info = {"release": release, "boot_s": uptime, "modules": loaded, "modules_failed": failed}

    env = dict(cfg["env"])
    rc = 127
    t0 = time.monotonic()
    info["command_at_s"] = round(t0, 3)  # CLOCK_MONOTONIC: the guest kernel's uptime when the command starts
    try:
        rc = subprocess.run(cfg["argv"], cwd=cfg["cwd"], env=env, stdin=subprocess.DEVNULL, check=False).returncode
    except OSError as exc:
        say(f"cannot run {cfg['argv'][0]}: {exc}")
    if rc < 0:  # killed by a signal: as a shell reports it
        rc = 128 - rc
    info["command_s"] = round(time.monotonic() - t0, 3)
    try:
        with open("/proc/modules") as f:
            info["modules_at_end"] = sorted(line.split()[0] for line in f)
    except OSError:
        pass
    info["guest_s"] = round(time.monotonic() - started + uptime, 3)
    info["exit"] = rc
    try:
        with open(os.path.join(out, "kernel.log"), "w", encoding="utf-8") as log:
            subprocess.run(["dmesg"], stdout=log, stderr=subprocess.DEVNULL, env={"PATH": cfg["path"]}, check=False)
        with open(os.path.join(out, "guest.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
        with open(os.path.join(out, "status"), "w", encoding="utf-8") as f:
            f.write(f"{rc}\n")
    except OSError as exc:
        say(f"cannot write to {out}: {exc}")
    power_off()
    return rc


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BaseException as exc:  # PID 1 must not just exit: say why and power off
        say(f"guest init failed: {exc!r}")
        power_off()

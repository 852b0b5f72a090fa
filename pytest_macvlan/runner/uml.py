"""The user-mode Linux lane: a Debian UML kernel booted as a process, pytest run inside.

The guest's root is the host's root filesystem through hostfs, mounted read-only; ``/tmp``,
``/run`` and ``/dev/shm`` are tmpfs; the lane's output directory is the one writable host
directory (see :mod:`.guest`). The kernel process runs in a network namespace of its own
(``unshare --net``): it is another kernel with its own network stack anyway, and has no network
device to the host; the runner's namespace is never touched. Memory (``mem=``) and time are
limited; on timeout the process and all its children are killed by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.kernel import features
from pytest_macvlan.runner import cache
from pytest_macvlan.runner.catalogue import Kernel
from pytest_macvlan.runner.lanes import (
    EXIT_NO_STATUS,
    MODULES,
    PASS_ENV,
    PRELOAD,
    LaneOptions,
    LaneResult,
    finish,
    firewall_of,
    prepare_out,
)
from pytest_macvlan.runner.procs import Guest

GUEST_SCRIPT = Path(__file__).with_name("guest.py")
#: UML's boot noise, kept in console.log but not echoed.
NOISE = re.compile(rb"^(SELinux: |mmapper_init|Failed to initialize ubd|reboot: System halted)")
#: The feature probe's result for one kernel build, in the kernel's cache directory.
FEATURES = "features.json"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def available_modules(moddir: Path, release: str) -> set[str]:
    """Module names (``_`` for ``-``) the kernel has, loadable or built in."""
    base = moddir / "lib/modules" / release
    names: set[str] = set()
    for index in ("modules.dep", "modules.builtin"):
        try:
            for line in (base / index).read_text().splitlines():
                path = line.split(":", 1)[0].strip()
                if path:
                    names.add(re.sub(r"\.ko(\.\w+)?$", "", path.rsplit("/", 1)[-1]).replace("-", "_"))
        except OSError:
            continue
    return names


def parse_memory(text: str) -> str:
    """``768M`` / ``2G`` for UML's ``mem=``; at least 128M, else RunnerError."""
    if not re.fullmatch(r"[1-9][0-9]*[MG]", text):
        raise RunnerError(f"--memory {text!r}: give megabytes or gigabytes, e.g. 768M or 2G")
    mib = int(text[:-1]) * (1024 if text.endswith("G") else 1)
    if mib < 128:
        raise RunnerError(f"--memory {text}: at least 128M")
    return text


def memory_dir(memory: str) -> str:
    """Where UML keeps its memory file: ``/dev/shm`` when it has room for it (a container's
    default 64 MB has not), else the temporary directory."""
    need = int(parse_memory(memory)[:-1]) * (1 << (30 if memory.endswith("G") else 20))
    try:
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize >= need * 1.1:
            return "/dev/shm"
    except OSError:
        pass
    return tempfile.gettempdir()


def boot_argv(prepared: cache.Prepared, memory: str, launcher: Path, work: Path) -> list[str]:
    """The command line that boots ``prepared`` in a network namespace of its own."""
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    prefix = [unshare, "--net"] if os.geteuid() == 0 else [unshare, "--user", "--net"]
    return [
        *prefix,
        "--",
        prepared.image,
        f"mem={parse_memory(memory)}",
        "rootfstype=hostfs",
        "ro",
        f"init={launcher}",
        f"uml_dir={work}",  # its pid file and control socket: in the lane's work directory, not ~/.uml
        "con0=null,fd:1",
        "con=null",
        "ssl=null",
        "quiet",
        # Debian's UML kernels have btrfs built in, hence RAID-6 with CONFIG_RAID6_PQ_BENCHMARK:
        # eight timed runs at boot, 1.3 s of UML 5.10's 3 s. A guest has no block device and no
        # btrfs, so nothing calls RAID-6; the initcall that picks its algorithm is skipped.
        "initcall_blacklist=raid6_select_algo,raid6_init",  # the initcall up to 6.12, and in 7.x
        *os.environ.get("PYTEST_MACVLAN_UML_CMDLINE", "").split(),
    ]


def guest_config(
    prepared: cache.Prepared,
    out: Path,
    argv: Sequence[str],
    modules: Sequence[str],
    *,
    color: bool = True,
    helper: Path | None = None,
    features_file: Path | None = None,
) -> dict[str, object]:
    """What the guest init needs: the command, its environment, paths, modules."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if PASS_ENV.match(k)}
    env.update(
        {
            "PATH": f"{venv_bin}:{GUEST_PATH}",
            "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTEST_MACVLAN_KERNEL_NAME": prepared.name,  # the lane's name in claims.json
        }
    )
    if features_file is not None:  # the feature probe's result for this kernel build (kernel/features.py)
        env[features.FILE_ENV] = str(features_file)
    if not color:  # the console goes to a file only: no terminal colours in it
        env["PY_COLORS"] = "0"
    if "VIRTUAL_ENV" in os.environ:
        env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
    cwd = os.getcwd()
    readonly = [
        cwd,
        sys.prefix,
        os.path.realpath(sys.executable),
        str(Path(prepared.image).parent.parent.parent.parent),
        # where this package is imported from: an editable install is found by an import hook,
        # not through sys.path, and its checkout may sit under the guest's /tmp
        str(Path(__file__).resolve().parents[2]),
    ]
    readonly += [p for p in sys.path if p and os.path.isdir(p)]
    return {
        "out": str(out),
        "cwd": cwd,
        "argv": list(argv),
        "env": env,
        "path": GUEST_PATH,
        "moddir": prepared.moddir,
        "modules": list(modules),
        "modprobe_helper": str(helper) if helper else None,
        "readonly": sorted({str(Path(p).resolve()) for p in readonly}),
    }


def keep_features(written: Path, known: Path) -> None:
    """Keep the feature probe's result a guest wrote (``written``) as ``known``, for the next
    boot of the same kernel: only a JSON object (the guest checks its key when it reads it)."""
    try:
        data = json.loads(written.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(data, dict) or written.stat().st_size > 1 << 20:
        return
    tmp = known.with_name(f".{known.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(data))
        tmp.replace(known)


def run_uml(k: Kernel, args: Sequence[str], opts: LaneOptions, *, command: Sequence[str] | None = None) -> LaneResult:
    """Boot ``k``, run pytest ``args`` (or ``command``) in it, and return what happened."""
    from pytest_macvlan.runner.lanes import pytest_argv

    prepared = cache.fetch(k, cache.cache_root(opts.cache), say=opts.say)
    out = prepare_out(opts.out)
    have = available_modules(Path(prepared.moddir), prepared.release)
    wanted = MODULES if os.environ.get("PYTEST_MACVLAN_UML_PRELOAD_ALL") else PRELOAD
    modules = [m for m in wanted if m.replace("-", "_") in have]
    absent = [m for m in MODULES if m.replace("-", "_") not in have]
    if absent:
        opts.say(f"{k.name}: kernel {prepared.release} has no module {', '.join(absent)}")
    argv = list(command) if command else pytest_argv(out, args)
    work = out / ".guest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    config = work / "config.json"
    helper = work / "modprobe"  # the guest kernel's module helper: its own module tree
    modprobe = shutil.which("modprobe", path=GUEST_PATH) or "/usr/sbin/modprobe"
    helper.write_text(f'#!/bin/sh\nexec {shlex.quote(modprobe)} -d {shlex.quote(prepared.moddir)} "$@"\n')
    helper.chmod(0o755)
    known = cache.cache_root(opts.cache) / k.name / FEATURES
    features_file = work / FEATURES
    with contextlib.suppress(OSError):
        shutil.copyfile(known, features_file)
    cfg = guest_config(
        prepared, out, argv, modules, color=opts.echo is not None, helper=helper, features_file=features_file
    )
    config.write_text(json.dumps(cfg, indent=2))
    launcher = work / "init"
    python = os.path.realpath(sys.executable)
    launcher.write_text(
        "#!/bin/sh\n# The guest's init: the lane's guest script as PID 1.\n"
        f"exec {shlex.quote(python)} -S -I {shlex.quote(str(GUEST_SCRIPT))} {shlex.quote(str(config))}\n"
    )
    launcher.chmod(0o755)
    boot = boot_argv(prepared, opts.memory, launcher, work)
    opts.say(f"{k.name}: booting {prepared.release} ({opts.memory}, timeout {opts.timeout_s:.0f} s), output in {out}")
    t0 = time.monotonic()
    guest = Guest(
        boot,
        out / "console.log",
        echo=opts.echo,
        env={"PATH": GUEST_PATH, "TMPDIR": memory_dir(opts.memory), "HOME": str(work)},
        quiet=NOISE,
    )
    guest.wait(opts.timeout_s)
    duration = round(time.monotonic() - t0, 2)
    problem = ""
    try:
        rc = int((out / "status").read_text().strip())
    except (OSError, ValueError):
        rc = EXIT_NO_STATUS
        problem = (
            f"killed after the {opts.timeout_s:.0f} s timeout (PIDs {', '.join(map(str, guest.killed))})"
            if guest.timed_out
            else "the guest ended without pytest's exit status"
        ) + f"; its console is in {out / 'console.log'}"
    try:
        info = json.loads((out / "guest.json").read_text())
    except (OSError, ValueError):
        info = {}
    keep_features(features_file, known)
    shutil.rmtree(work, ignore_errors=True)
    result = LaneResult(
        k.name, str(info.get("release", prepared.release)), "", rc, duration, str(out), info.get("boot_s"), problem
    )
    result.firewall = firewall_of(out)
    finish(result, opts)
    return result

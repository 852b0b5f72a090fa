"""Which ``net.*`` sysctls written in a child namespace move a value of the initial namespace?

    python tests/kernel/sysctl_sweep.py --in-a-throwaway-kernel OUT.json

ONLY in a throwaway kernel (a user-mode Linux guest: ``pytest-macvlan kernel run uml-6.1 --
python tests/kernel/sysctl_sweep.py --in-a-throwaway-kernel OUT.json``, or
``tests/kernel/run_sysctl_sweep.sh``). It writes every writable ``net.*`` key of a new network
namespace, one by one, and after each write reads every ``net.*`` key of the initial namespace:
a key whose write moved anything there is machine-wide. It refuses to run unless the kernel is a
user-mode Linux one (``/proc/cpuinfo``) and the flag is given: on a real machine it would
change machine-wide settings. It is not a pytest test (no ``test_`` prefix).

The result (JSON): the kernel's release, how many keys were written, and ``moved``: for each key
written in the child, the keys of the initial namespace whose value changed, with
``missing``: the moved keys that ``pytest_macvlan.spec.sysctls.MACHINE_WIDE`` does not list.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path("/proc/sys/net")


def in_uml() -> bool:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "User Mode Linux" in info or "\nmodel name\t: UML" in info or "mode\t\t: skas" in info


def keys() -> dict[str, str]:
    """Every readable ``net.*`` key of the calling thread's namespace and its value."""
    out: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*")):
        if path.is_file():
            with contextlib.suppress(OSError):
                out[".".join(path.relative_to(Path("/proc/sys")).parts)] = path.read_text().strip()
    return out


def path_of(key: str) -> Path:
    return Path("/proc/sys", *key.split("."))


def candidates(value: str) -> list[str]:
    """Values different from ``value`` to try writing (first field changed for a vector)."""
    fields = value.split()
    if not fields:
        return []
    first, rest = fields[0], fields[1:]
    if first.lstrip("-").isdigit():
        n = int(first)
        return [" ".join([str(v), *rest]) for v in (n + 1, n - 1, 1 - min(n, 1), 0) if v != n]
    return []


def sweep() -> dict[str, object]:
    from pytest_macvlan.kernel import libc
    from pytest_macvlan.spec.sysctls import MACHINE_WIDE

    baseline = keys()  # the initial namespace's values, as they are before each write
    result: dict[str, object] = {}

    def child() -> None:
        libc.unshare(libc.CLONE_NEWNET)  # this thread only: the main thread stays in the initial namespace
        moved: dict[str, list[str]] = {}
        written = refused = 0
        mine = keys()
        result["listed_in_child"] = {k: os.access(path_of(k), os.W_OK) for k in sorted(MACHINE_WIDE) if k in mine}
        written_keys: list[str] = []
        result["written_keys"] = written_keys
        for key, value in mine.items():
            if not os.access(path_of(key), os.W_OK):
                continue
            for new in candidates(value):
                try:
                    path_of(key).write_text(new)
                except OSError:
                    continue
                written += 1
                written_keys.append(key)
                now = run_in_main(keys)
                changed = sorted(k for k, v in now.items() if baseline.get(k) != v)
                if changed:
                    moved[key] = changed
                    for k in changed:  # put the initial namespace back where the kernel allows it
                        with contextlib.suppress(OSError, KeyError):
                            run_in_main(functools.partial(path_of(k).write_text, baseline[k]))
                    baseline.update(run_in_main(keys))  # what could not be put back is the new normal
                break
            else:
                refused += 1
        result.update(
            kernel=platform.release(),
            written=written,
            refused=refused,
            moved=moved,
            missing=sorted(k for k in moved if k not in MACHINE_WIDE),
        )

    jobs: list[tuple[Callable[[], Any], threading.Event, list[Any]]] = []
    lock = threading.Condition()

    def run_in_main(fn: Callable[[], T]) -> T:
        """Run ``fn`` on the main thread (in the initial namespace) and return what it returned."""
        done = threading.Event()
        box: list[Any] = []
        with lock:
            jobs.append((fn, done, box))
            lock.notify()
        done.wait()
        if isinstance(box[0], OSError):
            raise box[0]
        result_value: T = box[0]
        return result_value

    worker = threading.Thread(target=child, daemon=True)
    worker.start()
    while worker.is_alive() or jobs:
        with lock:
            lock.wait_for(lambda: bool(jobs) or not worker.is_alive(), timeout=0.5)
            batch, jobs[:] = list(jobs), []
        for fn, done, box in batch:
            try:
                box.append(fn())
            except OSError as exc:  # handed back: the kernel refused (a value it will not put back)
                box.append(exc)
            done.set()
    worker.join()
    return result


def main(argv: list[str]) -> int:
    if "--in-a-throwaway-kernel" not in argv or not in_uml():
        print(
            "sysctl_sweep.py writes machine-wide settings: it runs only in a user-mode Linux guest, "
            "with --in-a-throwaway-kernel (never on a real machine)",
            file=sys.stderr,
        )
        return 2
    out = [a for a in argv if not a.startswith("--")]
    text = json.dumps(sweep(), indent=2)
    if out:
        Path(out[0]).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

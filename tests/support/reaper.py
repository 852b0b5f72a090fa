"""``reaper.py WORKDIR -- COMMAND...``: run COMMAND as a child, adopt every orphan of it
(``PR_SET_CHILD_SUBREAPER``), and exit only when all of its descendants have ended.

So "every process of the run has ended" is "the reaper has exited", whatever the machine's
init does with orphans. Writes COMMAND's pid to WORKDIR/main.pid, and the pids it reaped with
the command's wait status to WORKDIR/reaped.json; exits with the command's exit code
(128 + N when a signal N ended it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    workdir, sep, *argv = sys.argv[1:]
    assert sep == "--" and argv, __doc__
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    main_proc = subprocess.Popen(argv)
    (Path(workdir) / "main.pid").write_text(f"{main_proc.pid}\n")
    reaped: list[int] = []
    status = 0
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        reaped.append(pid)
        if pid == main_proc.pid:
            status = st
    main_proc.returncode = 0  # reaped above: keep Popen from waiting for it again
    (Path(workdir) / "reaped.json").write_text(json.dumps({"reaped": reaped, "status": status}))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())

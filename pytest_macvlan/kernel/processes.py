"""Programs run inside a namespace held by a file descriptor (``nsenter --net=/proc/self/fd/N``).

Every program is started with ``setpriv --pdeathsig KILL`` from the package's netns worker
thread, which lives as long as the process: when the process dies, even by ``SIGKILL``, the
kernel kills the program too, so nothing started by a test outlives its run.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from pytest_macvlan.kernel import nsworker as netns

_TTL = re.compile(r"\bttl=(\d+)")
_REPLY = re.compile(r"^\d+ bytes from ", re.M)

# PR_SET_PDEATHSIG is kept across execve (nsenter, then the program) unless the program gains
# privileges by exec: it is set by setpriv, not by a preexec_fn (not safe with threads).
PDEATHSIG = ("setpriv", "--pdeathsig", "KILL", "--")


def ns_argv(ns_fd: int, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` inside the namespace ``ns_fd`` of this process.

    ``argv`` goes straight to ``execve``: no shell ever sees it.
    """
    return [*PDEATHSIG, "nsenter", f"--net=/proc/self/fd/{ns_fd}", "--", *argv]


def _spawn(ns_fd: int, argv: Sequence[str], stdin: int | IO[Any] | None) -> subprocess.Popen[str]:
    # Forked by the worker thread: PR_SET_PDEATHSIG fires when the *thread* that forked the
    # child exits, and the worker lives as long as the process (a test's own threads may not).
    cmd = ns_argv(ns_fd, argv)
    return netns.on_worker(
        lambda: subprocess.Popen(
            cmd, pass_fds=(ns_fd,), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    )


def run(
    ns_fd: int, argv: Sequence[str], *, check: bool, timeout: float, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` inside ``ns_fd``: output captured; killed (by PID) at ``timeout``."""
    if timeout is None or not timeout > 0:
        raise ValueError(f"every wait needs a positive timeout, not {timeout!r} (running {argv[0]!r})")
    with _spawn(ns_fd, argv, subprocess.PIPE if input is not None else None) as p:
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            p.kill()
            p.wait()
            raise subprocess.TimeoutExpired(list(argv), timeout, exc.output, exc.stderr) from None
        except BaseException:  # an interrupt: never leave it running
            p.kill()
            p.wait()
            raise
    rc = p.returncode
    if check and rc:
        raise CommandFailed(rc, list(argv), out, err)
    return subprocess.CompletedProcess(list(argv), rc, out, err)


class CommandFailed(subprocess.CalledProcessError):
    """A program run in a namespace failed; the message ends with what it said on stderr."""

    def __str__(self) -> str:
        said = (self.stderr or self.stdout or "").strip()
        return super().__str__().rstrip(".") + (f": {said[-2000:]}" if said else "")


def popen(ns_fd: int, argv: Sequence[str], stdin: int | IO[Any] | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """Start ``argv`` inside ``ns_fd``; stdout and stderr are pipes, stdin is ``/dev/null`` unless given."""
    return _spawn(ns_fd, argv, stdin)


def stop(proc: subprocess.Popen[str], grace: float = 1.0) -> None:
    """End a process this package started, by its PID (terminate, then kill after ``grace``)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class PingResult:
    """What ``ping`` said: ``ok`` when at least one reply came back; ``ttl`` of the first reply."""

    dst: str
    ok: bool
    transmitted: int
    received: int
    ttl: int | None
    unreachable: bool
    output: str
    returncode: int

    def __bool__(self) -> bool:
        return self.ok


def parse_ping(dst: str, output: str, returncode: int) -> PingResult:
    ttl = _TTL.search(output)
    tx = re.search(r"(\d+) packets transmitted", output)
    rx = re.search(r"(\d+) (?:packets )?received", output)
    received = int(rx.group(1)) if rx else len(_REPLY.findall(output))
    return PingResult(
        dst=dst,
        ok=received > 0,
        transmitted=int(tx.group(1)) if tx else 0,
        received=received,
        ttl=int(ttl.group(1)) if ttl else None,
        unreachable="Destination Host Unreachable" in output,
        output=output,
        returncode=returncode,
    )

"""Programs run inside a namespace held by a file descriptor (``nsenter --net=/proc/self/fd/N``)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

_TTL = re.compile(r"\bttl=(\d+)")
_REPLY = re.compile(r"^\d+ bytes from ", re.M)


def ns_argv(ns_fd: int, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` inside the namespace ``ns_fd`` of this process.

    ``argv`` goes straight to ``execve``: no shell ever sees it.
    """
    return ["nsenter", f"--net=/proc/self/fd/{ns_fd}", "--", *argv]


def run(
    ns_fd: int, argv: Sequence[str], *, check: bool, timeout: float, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ns_argv(ns_fd, argv),
        pass_fds=(ns_fd,),
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        input=input,
    )


def popen(ns_fd: int, argv: Sequence[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ns_argv(ns_fd, argv), pass_fds=(ns_fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


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

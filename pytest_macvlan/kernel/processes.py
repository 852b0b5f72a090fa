"""Programs in a topology's namespaces: :class:`Process` (started by ``Netns.spawn``), :func:`run`
(``Netns.run``). Every program starts through the topology's
:class:`~pytest_macvlan.kernel.supervisor.Supervisor`, which ends it, and everything it started,
with the topology (see that module for how, and why nothing can escape).

Output of a started program goes to two anonymous in-memory files (``memfd``), not pipes: the
program never blocks on a full pipe however little the test reads, and there is no reader thread.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.kernel.supervisor import STOP_GRACE, Supervisor
from pytest_macvlan.wait import check_timeout, wait_until

__all__ = ["STOP_GRACE", "CommandFailed", "Process", "Programs", "Supervisor", "run", "spawn"]


# -- a started program ---------------------------------------------------------------------


class Process:
    """A program started with :meth:`Netns.spawn <pytest_macvlan.topology.namespace.Netns.spawn>`.

    Its output is kept in memory (readable at any time as :attr:`stdout` / :attr:`stderr`, and
    shown in a failing test's report); it, and everything it starts, ends when its topology ends.
    """

    def __init__(
        self,
        label: str,
        popen: subprocess.Popen[bytes],
        out: int,
        err: int,
        netns_fd: int,
        supervisor: Supervisor,
    ) -> None:
        self.label = label
        self.argv: list[str] = [str(a) for a in popen.args]  # type: ignore[union-attr]
        self.popen = popen
        self.pid = popen.pid
        self._out, self._err = out, err
        self._netns_fd = netns_fd
        self._supervisor = supervisor
        self._final: tuple[str, str] | None = None

    @property
    def returncode(self) -> int | None:
        """The exit status once it has ended (``-N``: killed by signal N); None while it runs."""
        return self.popen.poll()

    def _read(self, fd: int) -> str:
        if fd < 0:
            return ""
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    @property
    def stdout(self) -> str:
        """Everything it has written to its standard output so far."""
        return self._final[0] if self._final is not None else self._read(self._out)

    @property
    def stderr(self) -> str:
        """Everything it has written to its standard error so far."""
        return self._final[1] if self._final is not None else self._read(self._err)

    def _show(self) -> str:
        state = "running" if self.returncode is None else f"exited with {self.returncode}"
        return f"{self.label} ({state})\nstdout: {self.stdout[-2000:]!r}\nstderr: {self.stderr[-2000:]!r}"

    def wait(self, timeout: float = 10.0) -> int:
        """Wait (bounded) until it exits; return its exit status."""
        limit = check_timeout(timeout, f"{self.label}: wait")
        try:
            return self.popen.wait(limit)
        except subprocess.TimeoutExpired:
            from pytest_macvlan.errors import WaitTimeout

            raise WaitTimeout(f"{self.label}: still running after {limit:g}s\n{self._show()}") from None

    def _until(self, probe: Callable[[], Any], timeout: float, what: str) -> Any:
        """Wait for ``probe()`` to be true; fail at once if the program exits first."""

        def check() -> Any:
            found = probe()
            if not found and self.returncode is not None:
                found = probe()  # what it did just before exiting counts
                if not found:
                    raise AssertionError(f"{self.label}: exited before {what}\n{self._show()}")
            return found

        return wait_until(check, timeout, what=f"{self.label}: {what}", show=lambda _v: self._show())

    def wait_for_output(
        self, pattern: str | re.Pattern[str], timeout: float = 5.0, stream: str = "stdout"
    ) -> re.Match[str]:
        """Wait until its ``stdout`` (or ``stderr``, or ``both``) matches ``pattern`` (``re.search``,
        multi-line); return the match. Fails at once, with its output, if it exits without a match."""
        rx = re.compile(pattern, re.M) if isinstance(pattern, str) else pattern
        if stream not in ("stdout", "stderr", "both"):
            raise ValueError(f"stream must be 'stdout', 'stderr' or 'both', not {stream!r}")

        def probe() -> re.Match[str] | None:
            text = {"stdout": self.stdout, "stderr": self.stderr}.get(stream) or self.stdout + "\n" + self.stderr
            return rx.search(text)

        found: re.Match[str] = self._until(probe, timeout, f"output matching {rx.pattern!r} on {stream}")
        return found

    def wait_for_listen(self, port: int, proto: str = "tcp", timeout: float = 5.0) -> None:
        """Wait until something in its network namespace listens on ``port`` (``tcp``: a socket in
        LISTEN state; ``udp``: a bound socket), IPv4 or IPv6, read from ``/proc/net`` inside it."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be an integer 1-65535, not {port!r}")
        if proto not in ("tcp", "udp"):
            raise ValueError(f"proto must be 'tcp' or 'udp', not {proto!r}")
        self._until(lambda: port in listening(self._netns_fd, proto), timeout, f"listening on {proto} port {port}")

    def wait_for_link(self, name: str, timeout: float = 5.0) -> Any:
        """Wait until a link named ``name`` exists in its network namespace; return what the kernel
        says of it (:class:`~pytest_macvlan.kernel.rtnl.LinkInfo`)."""
        from pytest_macvlan.kernel.rtnl import RtnlSocket

        rtnl = RtnlSocket(self._netns_fd)
        try:

            def probe() -> Any:
                return next((i for i in rtnl.dump_links() if i.name == name), None)

            return self._until(probe, timeout, f"link {name!r} exists")
        finally:
            rtnl.close()

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the program (only while it runs, so never to a recycled PID)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def terminate(self) -> None:
        """Send SIGTERM."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Keep the output as text and release its files; the topology does this at teardown."""
        if self._final is None:
            self._final = (self.stdout, self.stderr)
        for fd in (self._out, self._err):
            if fd >= 0:
                os.close(fd)
        self._out = self._err = -1

    def __repr__(self) -> str:
        return f"<Process {self.label} pid={self.pid} returncode={self.returncode}>"


class Programs:
    """A topology's programs: its :class:`Supervisor`, made on first use (``push`` then registers
    its teardown step, which ends every program and keeps their output), and the processes."""

    def __init__(self, label: str, push: Callable[[str, Callable[[], object]], None]) -> None:
        self.label = label
        self._push = push
        self._supervisor: Supervisor | None = None
        self.processes: list[Process] = []

    @property
    def supervisor(self) -> Supervisor:
        if self._supervisor is None:
            self._supervisor = Supervisor(self.label)
            self._push("stop every program of the topology", self.close)
        return self._supervisor

    def close(self) -> None:
        """End every program (and what it forked) of this topology; bounded."""
        if self._supervisor is not None:
            try:
                self._supervisor.close()
            finally:
                for p in self.processes:
                    p.close()


def spawn(
    supervisor: Supervisor,
    ns_fd: int,
    argv: Sequence[str],
    label: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Process:
    """Start ``argv`` in ``ns_fd`` under ``supervisor``; its output goes to two memfds."""
    out = os.memfd_create("pytest-macvlan-stdout", os.MFD_CLOEXEC)
    try:
        err = os.memfd_create("pytest-macvlan-stderr", os.MFD_CLOEXEC)
    except BaseException:
        os.close(out)
        raise
    try:
        p = supervisor.popen(ns_fd, argv, stdout=out, stderr=err, env=env, cwd=cwd, text=False)
    except BaseException:
        os.close(out)
        os.close(err)
        raise
    return Process(label, p, out, err, ns_fd, supervisor)


def environment(env: Mapping[str, str | None] | None) -> dict[str, str] | None:
    """The test process's environment with ``env`` applied (``None`` removes a variable)."""
    if env is None:
        return None
    if not isinstance(env, Mapping):
        raise ValueError(f"env must be a mapping of names to strings, not {type(env).__name__}")
    merged = dict(os.environ)
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise ValueError(f"env: bad variable name {key!r}")
        if value is None:
            merged.pop(key, None)
        elif not isinstance(value, str) or "\0" in value:
            raise ValueError(f"env[{key!r}] must be a string without NUL, not {value!r}")
        else:
            merged[key] = value
    return merged


_LISTEN_STATES = {"tcp": {"0A"}, "udp": {"07", "01"}}


def listening(ns_fd: int, proto: str) -> set[int]:
    """Local ports with a listening (tcp) or bound (udp) socket in the namespace ``ns_fd``."""

    def read() -> set[int]:
        ports: set[int] = set()
        for name in (proto, f"{proto}6"):
            try:
                with open(f"/proc/thread-self/net/{name}", encoding="ascii") as f:
                    lines = f.read().splitlines()[1:]
            except FileNotFoundError:  # no IPv6 in this kernel
                continue
            for line in lines:
                fields = line.split()
                if len(fields) > 3 and fields[3] in _LISTEN_STATES[proto]:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports

    return netns.run_in(ns_fd, read)


# -- run to completion ---------------------------------------------------------------------


def run(
    supervisor: Supervisor,
    ns_fd: int,
    argv: Sequence[str],
    *,
    check: bool,
    timeout: float,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` inside ``ns_fd``: output captured; killed at ``timeout``."""
    limit = check_timeout(timeout, f"running {argv[0]!r}" if argv else "run", positive=True)
    p = supervisor.popen(ns_fd, argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL, env=env)
    try:
        with p:
            try:
                out, err = p.communicate(input, timeout=limit)
            except subprocess.TimeoutExpired as exc:
                p.kill()
                p.wait()
                raise subprocess.TimeoutExpired(list(argv), limit, exc.output, exc.stderr) from None
            except BaseException:  # an interrupt: never leave it running
                p.kill()
                p.wait()
                raise
    finally:
        if p.returncode is not None:
            supervisor.forget(p)
    rc = p.returncode
    if check and rc:
        raise CommandFailed(rc, list(argv), out, err)
    return subprocess.CompletedProcess(list(argv), rc, out, err)


class CommandFailed(subprocess.CalledProcessError):
    """A program run in a namespace failed; the message ends with what it said on stderr."""

    def __str__(self) -> str:
        said = (self.stderr or self.stdout or "").strip()
        return super().__str__().rstrip(".") + (f": {said[-2000:]}" if said else "")


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

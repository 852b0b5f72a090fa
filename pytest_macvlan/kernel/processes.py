"""Programs run inside a topology's namespaces, supervised so that none outlives the topology.

Each topology that runs a program gets a **PID namespace** of its own, made on first use by the
package's netns worker thread (``unshare(CLONE_NEWPID)``). Its first process, its init, is a
small supervisor of ours (``_INIT`` below). Every program is then forked by the worker thread
*into* that PID namespace (``setns(CLONE_NEWPID)``) and into the network namespace it runs in
(``setns(CLONE_NEWNET)``): it is a member from its first instruction, and so is everything it
forks, double-forks or daemonizes, with no registration step to miss. When the init ends the
kernel kills every member of its namespace (``SIGKILL``, which nothing can ignore or block).

The init ends:

- at teardown (:meth:`Supervisor.close`): a ``SIGTERM`` to every member first, then, after at
  most ``grace`` seconds *in total* (however many programs there are), the init is killed;
- when the test process dies, however it dies (``SIGKILL`` included): it is started through
  ``setpriv --pdeathsig KILL`` by the worker thread, which lives as long as the process, and,
  for the moment between ``fork`` and that setting, it also watches a pidfd of the test process
  and exits as soon as that process has ended (a pidfd, unlike a pipe, is not held open by a
  ``fork`` of the test process).

Why a PID namespace and not a cgroup: it needs no cgroup delegation or write access to
``/sys/fs/cgroup`` (it works rootless, in the process's own user namespace), killing its members
is the kernel's own job and is atomic (no process can fork its way out while being killed, as it
can between the reads of ``cgroup.procs``), and the kill happens even when the test process
dies by ``SIGKILL`` with nobody left to do the killing. A program sees its PIDs from inside:
``getpid()`` of the first program is 2, so a PID it writes into a pidfile is its namespace's
(signal it with ``ns.run("kill", pid)``, or through :class:`Process`).

Output of a started program goes to two anonymous in-memory files (``memfd``), not pipes: the
program never blocks on a full pipe however little the test reads, and there is no reader thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from pytest_macvlan.errors import ClosedError
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.wait import check_timeout, wait_until

_TTL = re.compile(r"\bttl=(\d+)")
_REPLY = re.compile(r"^\d+ bytes from ", re.M)

#: At teardown, how long programs get between ``SIGTERM`` and ``SIGKILL`` (all of them together).
STOP_GRACE = 1.0

# The init of a topology's PID namespace, run as `python -I -S -c _INIT PIDFD CTL`. PIDFD: a pidfd
# of the test process (readable once it has ended); CTL: the read end of a pipe (b"T": SIGTERM to
# every member; end of file: exit). It reaps the orphans the kernel hands it. When it exits, the
# kernel kills every other member of the namespace.
_INIT = r"""
import os, select, signal, sys
pidfd, ctl = int(sys.argv[1]), int(sys.argv[2])
poll = select.poll()
poll.register(pidfd, select.POLLIN)
poll.register(ctl, select.POLLIN)
while True:
    ready = dict(poll.poll(100))
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    if pidfd in ready:
        os._exit(0)
    if ctl in ready:
        data = os.read(ctl, 64)
        if not data:
            os._exit(0)
        if b"T" in data:
            try:
                os.kill(-1, signal.SIGTERM)
            except ProcessLookupError:
                pass
"""
_PDEATHSIG = ("setpriv", "--pdeathsig", "KILL", "--")


class Supervisor:
    """The PID namespace of one topology's programs, and its init. Made by :meth:`start`.

    Every process started through :meth:`popen` is a member of the namespace, and so is every
    process it starts; :meth:`close` ends them all, in parallel, in at most ``grace`` seconds
    plus the kernel's time to deliver ``SIGKILL``.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._init: subprocess.Popen[bytes] | None = None
        self._pidns = -1
        self._ctl = -1
        self._procs: list[subprocess.Popen[Any]] = []
        self.closed = False

    # -- the namespace ---------------------------------------------------------------------

    def _start(self) -> None:
        """Make the PID namespace and its init (on the worker thread). Called with the lock held."""
        me = os.pidfd_open(os.getpid())
        r, w = os.pipe()
        try:

            def make() -> tuple[subprocess.Popen[bytes], int]:
                home = netns.home_pid_fd()
                netns.unshare_pid()
                try:
                    init = subprocess.Popen(
                        [*_PDEATHSIG, sys.executable, "-I", "-S", "-c", _INIT, str(me), str(r)],
                        pass_fds=(me, r),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    try:
                        pidns = os.open("/proc/thread-self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
                    except BaseException:
                        init.kill()
                        init.wait()
                        raise
                finally:
                    netns.setns_pid(home)
                return init, pidns

            self._init, self._pidns = netns.on_worker(make)
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(me)
            os.close(r)
        self._ctl = w

    def popen(
        self,
        ns_fd: int,
        argv: Sequence[str],
        *,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        text: bool = True,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` (no shell) in the network namespace ``ns_fd``, as a member of this
        supervisor's PID namespace. It is registered before it can run a single instruction."""
        if not argv:
            raise ValueError("no program to run")
        cmd = list(argv)
        with self._lock:
            if self.closed:
                raise ClosedError(f"{self.label}: the topology's programs have been stopped")
            if self._init is None:
                self._start()
            pidns = self._pidns

            def fork() -> subprocess.Popen[Any]:
                # On the worker thread, inside ns_fd: the child inherits the thread's network
                # namespace, and its PID namespace is the one the thread forks into.
                home = netns.home_pid_fd()
                netns.setns_pid(pidns)
                try:
                    p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd, text=text)
                finally:
                    netns.setns_pid(home)
                self._procs.append(p)  # on the worker: registered even if the caller is interrupted
                return p

            return netns.run_in(ns_fd, fork)

    def forget(self, p: subprocess.Popen[Any]) -> None:
        """``p`` has ended and been reaped: no need to stop it at teardown."""
        with self._lock, contextlib.suppress(ValueError):
            self._procs.remove(p)

    def members(self) -> list[int]:
        """PIDs (as seen from the test process) of the namespace's processes other than its init
        that are still running: the registered programs and every orphan the init has adopted."""
        with self._lock:
            procs = [p.pid for p in self._procs if p.poll() is None]
            init = self._init
        if init is None or init.poll() is not None:
            return procs
        try:
            with open(f"/proc/{init.pid}/task/{init.pid}/children", encoding="ascii") as f:
                adopted = [int(x) for x in f.read().split()]
        except OSError:
            adopted = []
        return procs + [pid for pid in adopted if not _zombie(pid)]

    def close(self, grace: float = STOP_GRACE) -> None:
        """End every process of the namespace: ``SIGTERM`` to all, then ``SIGKILL`` to what is
        left after ``grace`` seconds (in total, not per program). Idempotent; bounded."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            init, procs = self._init, list(self._procs)
        if init is None:
            return
        try:
            deadline = time.monotonic() + check_timeout(grace, "stop grace")
            with contextlib.suppress(OSError):
                os.write(self._ctl, b"T")  # the init signals every member, adopted orphans too
            for p in procs:
                with contextlib.suppress(OSError):
                    if p.poll() is None:
                        p.terminate()
            with contextlib.suppress(AssertionError):
                wait_until(
                    self.members,
                    lambda left: not left,
                    timeout=max(0.0, deadline - time.monotonic()),
                    what="programs ended",
                )
        finally:
            # Killing the init makes the kernel kill every member. The init's own exit waits until
            # they are all reaped, so reap the members that are this process's children first.
            with contextlib.suppress(OSError):
                init.kill()
            for p in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(2.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                init.wait(2.0)
            for p in procs:
                for stream in (p.stdin, p.stdout, p.stderr):
                    if stream is not None:
                        with contextlib.suppress(OSError):
                            stream.close()
            for fd in (self._ctl, self._pidns):
                if fd >= 0:
                    os.close(fd)
            self._ctl = self._pidns = -1


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[:1] == ["Z"]
    except OSError:
        return True  # gone


# -- a started program ---------------------------------------------------------------------


class Process:
    """A program started with :meth:`Netns.spawn <pytest_macvlan.topology.handles.Netns.spawn>`.

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
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
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

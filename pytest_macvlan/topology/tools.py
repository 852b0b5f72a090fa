"""Firewall tools (``iptables-restore``, ``nft -f``) run in the background while a build goes on.

Each reads its input from a memfd of this process (``/proc/PID/fd/N``): no file is left behind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from pytest_macvlan.errors import BuildError, KernelFeatureError
from pytest_macvlan.kernel import features, firewall
from pytest_macvlan.kernel import processes as proc
from pytest_macvlan.spec.model import NetnsSpec
from pytest_macvlan.spec.namespaces import split_table

TOOL_TIMEOUT = 30.0


class FirewallTool:
    """A firewall tool run in the background in one namespace: ``argv INPUT``, INPUT holding
    ``text``. A helper thread starts it (the package's worker thread forks it), so that the build
    goes on while it is being spawned. INPUT is a memfd of this process, read by the tool as
    ``/proc/PID/fd/N``: no file is left behind whatever happens to the process."""

    def __init__(self, entry: str, argv: list[str], text: str, ns_fd: int, supervisor: proc.Supervisor) -> None:
        self.entry = entry
        self._supervisor = supervisor
        self._input = os.memfd_create("pytest-macvlan-rules", os.MFD_CLOEXEC)
        try:
            data = text.encode()
            while data:
                data = data[os.write(self._input, data) :]
        except BaseException:
            self.close_input()
            raise
        self.argv = [*argv, f"/proc/{os.getpid()}/fd/{self._input}"]
        self.process: Future[subprocess.Popen[str]] = Future()
        threading.Thread(target=self._spawn, args=(ns_fd,), name="pytest-macvlan-tool", daemon=True).start()

    def _spawn(self, ns_fd: int) -> None:
        try:
            self.process.set_result(self._supervisor.popen(ns_fd, self.argv))
        except BaseException as exc:  # handed to finish()
            self.process.set_exception(exc)

    def close_input(self) -> None:
        """Close the memfd that holds the tool's input (once it has been read, or on failure)."""
        if self._input >= 0:
            os.close(self._input)
            self._input = -1

    def started(self) -> None:
        """Wait (bounded) until it has been started, or has failed to start."""
        with contextlib.suppress(TimeoutError):
            self.process.exception(timeout=TOOL_TIMEOUT)

    def stop(self) -> None:
        """End it (by its PID) if it is still running; the undo step of a build."""
        try:
            with contextlib.suppress(TimeoutError):
                if self.process.exception(timeout=TOOL_TIMEOUT) is None:  # a failed spawn: returned, not raised
                    proc.stop(self.process.result())
        finally:
            self.close_input()

    def finish(self) -> None:
        """Wait for it; raise :class:`BuildError` with its message if it failed."""
        command = " ".join(self.argv[:-1])
        try:
            p = self.process.result(timeout=TOOL_TIMEOUT)
            out, err = p.communicate(timeout=TOOL_TIMEOUT)
        except FileNotFoundError as exc:
            name = self.argv[0]
            raise BuildError(self.entry, 2, f"{name} is not installed (apt-get install {name}): {exc}") from None
        except (subprocess.TimeoutExpired, TimeoutError):
            raise BuildError(self.entry, 0, f"`{command}` did not finish in {TOOL_TIMEOUT:g}s") from None
        finally:
            if self.process.done():
                self.close_input()
        if p.returncode != 0:
            name = self.argv[0]
            msg = (err or out).strip()
            if "No such file" in msg and name in msg:
                msg = f"{name} is not installed (apt-get install {name}): {msg}"
            raise BuildError(self.entry, p.returncode, f"`{command}` failed: {msg}")


def _restore_quote(arg: str) -> str:
    """Quote one argument for iptables-restore, whose tokenizer knows double quotes and
    backslash escapes (not the shell's single quotes): the rule gets ``arg`` literally."""
    if arg and not any(c.isspace() or c in "\"'\\#" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iptables_restore_text(rules: Sequence[tuple[str, ...]]) -> str:
    """``iptables ARGS`` lines as ``iptables-restore`` input: ``-P C P`` becomes ``:C P``, a leading
    ``-t T`` a section (only there: see :func:`~pytest_macvlan.spec.namespaces.split_table`). Every
    argument reaches iptables literally: quoted, and a control character (which could end the
    line) is refused here as it is by the validator."""
    tables: dict[str, list[str]] = {}
    for rule in rules:
        for arg in rule:
            if not arg.isprintable():
                raise ValueError(f"iptables argument {arg!r} contains a control character")
        table, args = split_table(rule)
        if args[:1] in (["-P"], ["--policy"]) and len(args) == 3:
            line = f":{args[1]} {args[2]} [0:0]"
        elif args[:1] in (["-N"], ["--new-chain"]) and len(args) == 2:
            line = f":{args[1]} - [0:0]"
        else:
            line = " ".join(_restore_quote(a) for a in args)
        tables.setdefault(table or "filter", []).append(line)
    return "".join(f"*{t}\n" + "\n".join(lines) + "\nCOMMIT\n" for t, lines in tables.items())


def _backend(entry: str) -> str:
    found = features.get()
    if found.firewall == firewall.NONE:
        why = found.missing.get("iptables", "no iptables backend works")
        raise KernelFeatureError(entry, 0, f"no iptables backend works here: {why}", "iptables")
    return found.firewall


def restore_argv(entry: str) -> list[str]:
    """``iptables-restore`` of the backend this kernel takes (nft or legacy, kernel/firewall.py);
    :class:`KernelFeatureError` (feature ``iptables``) naming ``entry`` when none works."""
    return firewall.restore_argv(_backend(entry))


def iptables_argv(entry: str) -> list[str]:
    """``iptables -w`` of the backend this kernel takes; :class:`KernelFeatureError` as above."""
    return firewall.iptables_argv(_backend(entry))


def firewall_plan(netns: Sequence[NetnsSpec]) -> tuple[list[NetnsSpec], list[str]]:
    """The namespaces whose ``iptables`` rules a build applies, and the ``iptables-restore`` that
    applies them. Where no backend works, optional rules are left out
    (:attr:`~pytest_macvlan.spec.model.NetnsSpec.iptables_optional`) and any others raise
    :class:`KernelFeatureError` naming their entry: called before anything is made."""
    firewalled = [ns for ns in netns if ns.iptables]
    if any(ns.iptables_optional for ns in firewalled) and features.get().firewall == firewall.NONE:
        firewalled = [ns for ns in firewalled if not ns.iptables_optional]
    return firewalled, restore_argv(f"{firewalled[0].entry}.iptables") if firewalled else []

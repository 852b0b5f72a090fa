"""ICMP echo in a namespace, two ways, one result: the ``ping`` command line for
:meth:`~pytest_macvlan.topology.namespace.Netns.ping` (iputils' own program) and the arguments
:mod:`.echo` sends the same probes with, without a program (for
:meth:`~pytest_macvlan.topology.namespace.Netns.echo`). Both give a :class:`PingResult`.

iputils' ``ping`` takes IPv4 and IPv6 destinations alike (it picks the family from the
address). Every argument is checked here, once for both ways, and passed as its own ``argv``
item: nothing reaches a shell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from pytest_macvlan.spec.names import ifname_problem
from pytest_macvlan.wait import check_timeout

_TTL = re.compile(r"\bttl=(\d+)")
_REPLY = re.compile(r"^\d+ bytes from ", re.M)


@dataclass(frozen=True)
class Probe:
    """Checked arguments of one ping: see :func:`probe`."""

    dst: IPv4Address | IPv6Address
    count: int
    timeout: float
    interval: float
    interface: str | None
    broadcast: bool
    size: int | None  # None: ping's default, 56 bytes
    deadline: float | None

    @property
    def payload(self) -> int:
        """The payload size in bytes."""
        return 56 if self.size is None else self.size

    @property
    def limit(self) -> float:
        """How long the whole ping may take at most (a bound for the caller)."""
        if self.deadline is not None:
            return self.deadline + 5
        return self.timeout + self.count * (self.interval + self.timeout) + 5


def probe(
    dst: str,
    count: int = 1,
    timeout: float = 1.0,
    interval: float = 0.2,
    interface: str | None = None,
    broadcast: bool = False,
    size: int | None = None,
    deadline: float | None = None,
) -> Probe:
    """The arguments checked, or :class:`ValueError` naming the bad one.

    ``timeout`` is how long to wait for a reply after the last probe when none came (``-W``);
    ``deadline`` ends ping after that many seconds whatever happened (``-w``); ``interface``
    sends from that link (``-I``); ``broadcast`` allows a broadcast destination (``-b``);
    ``size`` is the payload size (``-s``, default 56).
    """
    addr = ip_address(dst)  # a host name would need DNS inside the namespace: refused
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100000:
        raise ValueError(f"count must be an integer 1-100000, not {count!r}")
    wait = check_timeout(timeout, "ping timeout", positive=True)
    every = check_timeout(interval, "ping interval", positive=True)
    end = None if deadline is None else check_timeout(deadline, "ping deadline", positive=True)
    if end is not None and end != int(end):
        raise ValueError(f"ping deadline must be whole seconds (ping -w takes no fraction), not {deadline!r}")
    if interface is not None:
        problem = ifname_problem(interface)
        if problem:
            raise ValueError(f"interface {interface!r}: {problem}")
    if broadcast and addr.version != 4:
        raise ValueError("broadcast ping is IPv4 only")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 65507):
        raise ValueError(f"size {size!r} is out of range 0-65507")
    return Probe(addr, count, wait, every, interface, bool(broadcast), size, end)


def command(p: Probe) -> list[str]:
    """``ping``'s command line for ``p``; :attr:`Probe.limit` bounds how long it may run."""
    argv = ["ping", "-n", "-c", str(p.count), "-W", f"{p.timeout:g}", "-i", f"{p.interval:g}"]
    if p.interface is not None:
        argv += ["-I", p.interface]
    if p.broadcast:
        argv.append("-b")
    if p.size is not None:
        argv += ["-s", str(p.size)]
    if p.deadline is not None:
        argv += ["-w", str(int(p.deadline))]
    argv.append(str(p.dst))
    return argv


@dataclass(frozen=True)
class PingResult:
    """What ``ping`` said: ``ok`` when at least one reply came back; ``ttl`` of the first reply;
    ``unreachable`` when an ICMP "Destination Host Unreachable" came back instead (from a router,
    or from the sender's own stack when ARP went unanswered)."""

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
    """``ping``'s output as a :class:`PingResult`: transmitted, received, round-trip times."""
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

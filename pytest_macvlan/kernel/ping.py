"""The ``ping`` command line for :meth:`~pytest_macvlan.topology.namespace.Netns.ping`.

iputils' ``ping`` takes IPv4 and IPv6 destinations alike (it picks the family from the
address). Every argument is checked here and passed as its own ``argv`` item: nothing reaches
a shell.
"""

from __future__ import annotations

from ipaddress import ip_address

from pytest_macvlan.spec.names import ifname_problem
from pytest_macvlan.wait import check_timeout


def command(
    dst: str,
    count: int = 1,
    timeout: float = 1.0,
    interval: float = 0.2,
    interface: str | None = None,
    broadcast: bool = False,
    size: int | None = None,
    deadline: float | None = None,
) -> tuple[list[str], float]:
    """``(argv, limit)``: the command, and how long it may take at most (a bound for the caller).

    ``timeout`` is how long to wait for each reply (``-W``); ``deadline`` ends ping after that
    many seconds whatever happened (``-w``); ``interface`` sends from that link (``-I``);
    ``broadcast`` allows a broadcast destination (``-b``); ``size`` is the payload size (``-s``).
    """
    addr = ip_address(dst)  # a host name would need DNS inside the namespace: refused
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100000:
        raise ValueError(f"count must be an integer 1-100000, not {count!r}")
    check_timeout(timeout, "ping timeout", positive=True)
    check_timeout(interval, "ping interval", positive=True)
    if deadline is not None:
        check_timeout(deadline, "ping deadline", positive=True)
    argv = ["ping", "-n", "-c", str(count), "-W", f"{timeout:g}", "-i", f"{interval:g}"]
    if interface is not None:
        problem = ifname_problem(interface)
        if problem:
            raise ValueError(f"interface {interface!r}: {problem}")
        argv += ["-I", interface]
    if broadcast:
        if addr.version != 4:
            raise ValueError("broadcast ping is IPv4 only")
        argv.append("-b")
    if size is not None:
        if not 0 <= size <= 65507:
            raise ValueError(f"size {size} is out of range 0-65507")
        argv += ["-s", str(size)]
    if deadline is not None:
        argv += ["-w", f"{deadline:g}"]
    argv.append(str(addr))
    limit = (deadline if deadline is not None else timeout + count * (interval + timeout)) + 5
    return argv, limit

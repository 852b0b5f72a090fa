"""ICMP echo from a raw socket inside a namespace: what iputils' ``ping`` does, without starting it.

Starting a program costs about 100 ms on user-mode Linux 5.10 and 6.1 (and under 1 ms on a
normal kernel); a scenario run pings about 70 times. :func:`echo` sends the same probes ``ping``
sends as root, from the same kind of socket (``SOCK_RAW``, the one iputils uses when ICMP
datagram sockets are not allowed, as in a new namespace):

- echo requests with an identifier, a sequence number from 1 and ``ping``'s payload (a
  ``struct timeval`` then the bytes 16, 17, ...), every ``interval`` seconds;
- ``SO_BINDTODEVICE`` for ``-I``, ``SO_BROADCAST`` for ``-b``, the kernel's default TTL and
  PMTU settings (nothing set);
- ``IP_RECVERR``/``IPV6_RECVERR``, so an ICMP error for a probe (a router's, or the sender's own
  stack's when ARP or neighbour discovery went unanswered) counts as ``ping``'s "errors";
- ``ping``'s rules for when to stop: when replies and errors together reach ``count``; after the
  last probe, ``timeout`` more seconds if nothing came back yet, else twice the longest round
  trip (at least ``interval``); with ``deadline``, probes go on until ``count`` replies or the
  deadline, and any error ends it.

The result is a :class:`~pytest_macvlan.kernel.ping.PingResult` read, like ``ping``'s, from
``ping``'s own output format, which :func:`echo` writes. ``tests/kernel/test_echo.py`` compares
the two on the same situations.
"""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from ipaddress import ip_address

from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.kernel.ping import PingResult, Probe, parse_ping

__all__ = ["echo"]

# <linux/in.h>, <linux/in6.h>, <linux/errqueue.h>, <linux/icmp.h>: not all in Python's socket module.
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_SOL_RAW = 255
_ICMP_FILTER = 1
_ICMP6_FILTER = 1
_EE_ORIGIN_LOCAL = 1
_EE_ORIGIN_ICMP = 2
_EE_ORIGIN_ICMP6 = 3
_EXTENDED_ERR = struct.Struct("=IBBBBII")

_ECHO = {4: (8, 0), 6: (128, 129)}  # (request, reply) types

# iputils' words for ICMP errors (ping/ping.c pr_icmph, ping/ping6_common.c pr_icmph).
_UNREACH4 = {
    0: "Destination Net Unreachable",
    1: "Destination Host Unreachable",
    2: "Destination Protocol Unreachable",
    3: "Destination Port Unreachable",
    5: "Source Route Failed",
    6: "Destination Net Unknown",
    7: "Destination Host Unknown",
    8: "Source Host Isolated",
    9: "Destination Net Prohibited",
    10: "Destination Host Prohibited",
    13: "Communication prohibited by filter",
}
_UNREACH6 = {
    0: "No route",
    1: "Administratively prohibited",
    2: "Beyond scope of source address",
    3: "Address unreachable",
    4: "Port unreachable",
}


def _error_text(version: int, kind: int, code: int, info: int) -> str:
    if version == 4:
        if kind == 3:
            if code == 4:
                return f"Frag needed and DF set (mtu = {info})"
            return _UNREACH4.get(code, f"Dest Unreachable, Bad Code: {code}")
        if kind == 11:
            return "Time to live exceeded" if code == 0 else "Frag reassembly time exceeded"
        return f"Bad ICMP type: {kind}"
    if kind == 1:
        return "Destination unreachable: " + _UNREACH6.get(code, f"Unknown code {code}")
    if kind == 2:
        return f"Packet too big: mtu={info}"
    if kind == 3:
        return "Time exceeded: " + ("Hop limit" if code == 0 else "Defragmentation failure")
    return f"unknown icmp type: {kind}"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def _payload(size: int) -> bytes:
    """``ping``'s payload: a ``struct timeval`` of now (when there is room), then 16, 17, ..."""
    body = bytes(i & 0xFF for i in range(size))
    if size >= 16:
        now = time.time()
        body = struct.pack("=qq", int(now), int(now % 1 * 1e6)) + body[16:]
    return body


@dataclass
class _Tally:
    """What came back so far, and ``ping``'s output lines for it."""

    transmitted: int = 0
    received: int = 0
    repeats: int = 0
    errors: int = 0
    rtts: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    sent: dict[int, float] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)
    #: The 16-bit sequence number on the wire -> the probe's number (from 1; ping wraps them too).
    wire: dict[int, int] = field(default_factory=dict)


class _Echo:
    def __init__(self, sock: socket.socket, p: Probe) -> None:
        self.sock = sock
        self.p = p
        self.version = p.dst.version
        self.ident = random.getrandbits(16)  # not secrets: getrandom() can block in a fresh guest
        self.t = _Tally()

    # -- sending ---------------------------------------------------------------------------

    def _packet(self, seq: int) -> bytes:
        request = _ECHO[self.version][0]
        body = _payload(self.p.payload)
        head = struct.pack("!BBHHH", request, 0, 0, self.ident, seq & 0xFFFF)
        if self.version == 6:  # the kernel fills in an ICMPv6 checksum
            return head + body
        return struct.pack("!BBHHH", request, 0, _checksum(head + body), self.ident, seq & 0xFFFF) + body

    def send(self) -> str | None:
        """One probe; a fatal error's message (``ping`` exits 2 on those) or ``None``."""
        seq = self.t.transmitted + 1
        address: tuple[str, int] | tuple[str, int, int, int] = (
            (str(self.p.dst), 0) if self.version == 4 else (str(self.p.dst), 0, 0, 0)
        )
        try:
            self.sock.sendto(self._packet(seq), address)
        except OSError as exc:
            if exc.errno == errno.EACCES and not self.p.broadcast:
                return "ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules"
            if seq == 1 and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EINVAL):
                return f"ping: connect: {os.strerror(exc.errno or 0)}"
            if exc.errno in (errno.EAGAIN, errno.ENOBUFS, errno.ENOMEM):
                return None  # ping backs off and sends again later; so does this
            self.t.lines.append(f"ping: sendmsg: {os.strerror(exc.errno or 0)}")
            self.t.errors += 1
        self.t.sent[seq] = time.monotonic()
        self.t.wire[seq & 0xFFFF] = seq
        self.t.transmitted = seq
        return None

    # -- receiving -------------------------------------------------------------------------

    def _seq_of(self, icmp: bytes, kind: int) -> int | None:
        if len(icmp) < 8:
            return None
        got, _code, _sum, ident, wire = struct.unpack("!BBHHH", icmp[:8])
        if got != kind or ident != self.ident:
            return None
        return self.t.wire.get(wire)

    def read_replies(self) -> None:
        reply = _ECHO[self.version][1]
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(4), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            now = time.monotonic()
            if self.version == 4:
                header = (data[0] & 0x0F) * 4 if data else 0
                ttl: int | None = data[8] if len(data) > 8 else None
                icmp = data[header:]
            else:
                icmp = data
                hops = [d for level, kind, d in anc if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)]
                ttl = struct.unpack("=i", hops[0][:4])[0] if hops and len(hops[0]) >= 4 else None
            seq = self._seq_of(icmp, reply)
            if seq is None:
                continue
            rtt = (now - self.t.sent[seq]) * 1000
            line = f"{len(icmp)} bytes from {addr[0]}: icmp_seq={seq} ttl={ttl} time={rtt:.3f} ms"
            if seq in self.t.answered:
                self.t.repeats += 1
                self.t.lines.append(line + " (DUP!)")
                continue
            self.t.answered.add(seq)
            self.t.received += 1
            self.t.rtts.append(rtt)
            self.t.lines.append(line)

    def read_errors(self) -> None:
        request = _ECHO[self.version][0]
        level, kind = (socket.IPPROTO_IP, _IP_RECVERR) if self.version == 4 else (socket.IPPROTO_IPV6, _IPV6_RECVERR)
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(65536, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            seq = self._seq_of(data, request)
            for got_level, got_kind, d in anc:
                if got_level != level or got_kind != kind or len(d) < _EXTENDED_ERR.size or seq is None:
                    continue
                err, origin, icmp_type, code, _pad, info, _data = _EXTENDED_ERR.unpack_from(d)
                self.t.errors += 1
                if origin in (_EE_ORIGIN_ICMP, _EE_ORIGIN_ICMP6):
                    offender = _offender(d[_EXTENDED_ERR.size :], self.version)
                    text = _error_text(self.version, icmp_type, code, info)
                    self.t.lines.append(f"From {offender} icmp_seq={seq} {text}")
                elif origin == _EE_ORIGIN_LOCAL and err == errno.EMSGSIZE:
                    self.t.lines.append(f"ping: local error: message too long, mtu={info}")
                else:
                    self.t.lines.append(f"ping: local error: {os.strerror(err)}")

    # -- ping's loop -----------------------------------------------------------------------

    def run(self) -> PingResult:
        p, t = self.p, self.t
        start = time.monotonic()
        end = None if p.deadline is None else start + p.deadline
        bound = start + p.limit  # the same bound ``ping`` is killed at: never a hang
        next_send = start
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        while True:
            if t.received + t.errors >= p.count or (p.deadline is not None and t.errors):
                break
            now = time.monotonic()
            if (end is not None and now >= end) or now >= bound:
                break
            sending = p.deadline is not None or t.transmitted < p.count
            if sending and now >= next_send:
                fatal = self.send()
                if fatal is not None:
                    return self._result(start, fatal_line=fatal)
                next_send += p.interval
                if p.deadline is None and t.transmitted >= p.count:
                    linger = max(2 * max(t.rtts) / 1000, p.interval) if t.received else p.timeout
                    end = time.monotonic() + linger
                continue
            wake = min(next_send if sending else float("inf"), end if end is not None else float("inf"))
            for _fd, events in poller.poll(min(max(0, int((wake - now) * 1000) + 1), 1000)):
                if events & select.POLLERR:
                    self.read_errors()
                if events & select.POLLIN:
                    self.read_replies()
        return self._result(start)

    def _result(self, start: float, fatal_line: str | None = None) -> PingResult:
        p, t = self.p, self.t
        dst = str(p.dst)
        if fatal_line is not None:
            return parse_ping(dst, fatal_line + "\n", 2)
        head = (
            f"PING {dst} ({dst}) {p.payload}({p.payload + 28}) bytes of data."
            if self.version == 4
            else f"PING {dst} ({dst}) {p.payload} data bytes"
        )
        loss = f"{(t.transmitted - t.received) * 100 / t.transmitted:g}%" if t.transmitted else "0%"
        counts = f"{t.transmitted} packets transmitted, {t.received} received, "
        counts += f"+{t.repeats} duplicates, " if t.repeats else ""
        counts += f"+{t.errors} errors, " if t.errors else ""
        counts += f"{loss} packet loss, time {int((time.monotonic() - start) * 1000)}ms"
        lines = [head, *t.lines, "", f"--- {dst} ping statistics ---", counts]
        if t.rtts:
            mean = sum(t.rtts) / len(t.rtts)
            mdev = (sum((r - mean) ** 2 for r in t.rtts) / len(t.rtts)) ** 0.5
            lines.append(f"rtt min/avg/max/mdev = {min(t.rtts):.3f}/{mean:.3f}/{max(t.rtts):.3f}/{mdev:.3f} ms")
        failed = not t.received or (p.deadline is not None and t.received < p.count)
        return parse_ping(dst, "\n".join(lines) + "\n", 1 if failed else 0)


def _offender(raw: bytes, version: int) -> str:
    """The address in the ``sockaddr`` after a ``sock_extended_err`` (who sent the ICMP error)."""
    try:
        if version == 4 and len(raw) >= 8:
            return str(ip_address(raw[4:8]))
        if version == 6 and len(raw) >= 24:
            return str(ip_address(raw[8:24]))
    except ValueError:
        pass
    return "?"


def echo(ns_fd: int, p: Probe) -> PingResult:
    """Ping ``p.dst`` from the namespace ``ns_fd`` as iputils' ``ping`` would (see the module)."""
    if p.dst.version == 4:
        sock = netns.socket_in(ns_fd, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        sock = netns.socket_in(ns_fd, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    with sock:
        if p.dst.version == 4:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
            # Only echo replies reach this socket (a set bit blocks that ICMP type).
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", 0xFFFFFFFF & ~(1 << 0)))
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            words = [0xFFFFFFFF] * 8
            words[129 >> 5] &= ~(1 << (129 & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *words))
        if p.broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if p.interface is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, p.interface.encode())
            except OSError as exc:
                said = f"ping: SO_BINDTODEVICE {p.interface}: {os.strerror(exc.errno or 0)}\n"
                return parse_ping(str(p.dst), said, 2)
        return _Echo(sock, p).run()

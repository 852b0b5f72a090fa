"""Sniffing one link on a raw ``AF_PACKET`` socket created inside the link's namespace.

The socket is created with protocol 0 (it queues nothing) and then bound to the link with
``ETH_P_ALL``; when :class:`Capture` is returned it is bound, so a frame sent right after is
never missed. Frames wait in the kernel's queue until read: reading happens when the test
asks (``frames``, ``count``, ``wait_for``), with no thread. Drops are counted by the kernel
(``PACKET_STATISTICS``) and reported, never silent.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from pytest_macvlan.capture.frames import PACKET_OUTGOING, Frame
from pytest_macvlan.capture.pcap import write_pcapng
from pytest_macvlan.capture.predicates import PredLike, as_pred
from pytest_macvlan.errors import ClosedError, WaitTimeout
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.wait import check_timeout, wait_until

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
_AUX = struct.Struct("=IIIHHHH")
_TS = struct.Struct("=qq")
_ANC = socket.CMSG_SPACE(_AUX.size) + socket.CMSG_SPACE(_TS.size)
DEFAULT_RCVBUF = 32 << 20
SUMMARY_LIMIT = 200


def open_packet_socket(ns_fd: int, ifname: str, rcvbuf: int = DEFAULT_RCVBUF) -> socket.socket:
    """A raw packet socket in ``ns_fd``, bound to ``ifname`` before it returns."""
    sock = netns.socket_in(ns_fd, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_send_socket(ns_fd: int, ifname: str) -> socket.socket:
    """A raw packet socket in ``ns_fd`` for sending on ``ifname``; bound with protocol 0, it receives nothing."""
    sock = netns.socket_in(ns_fd, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind((ifname, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class Capture:
    """Every frame a link sends or receives from the moment the capture was returned."""

    def __init__(self, label: str, sock: socket.socket, on_close: Callable[[Capture], None] | None = None) -> None:
        self.label = label
        self._sock: socket.socket | None = sock
        self._frames: list[Frame] = []
        self._kernel_packets = 0
        self._kernel_drops = 0
        self._on_close = on_close
        self.link_down_seen = False  # the link went down (or away) during the capture

    # -- reading ---------------------------------------------------------------------------

    def _drain(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(262144, _ANC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
                    # The link went down or away: the kernel says so once. The frames seen stay,
                    # and capturing goes on if the link comes back up.
                    self.link_down_seen = True
                    return
                raise
            self._frames.append(self._frame(data, anc, addr))

    def _frame(self, data: bytes, anc: list[tuple[int, int, bytes]], addr: tuple[object, ...]) -> Frame:
        pkttype = int(addr[2])  # type: ignore[call-overload]
        ts = 0.0
        wire_len = len(data)
        tagged = False
        for level, ctype, cdata in anc:
            if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= _TS.size:
                sec, nsec = _TS.unpack_from(cdata)
                ts = sec + nsec / 1e9
            elif level == SOL_PACKET and ctype == PACKET_AUXDATA and len(cdata) >= _AUX.size:
                status, length, _snap, _mac, _net, tci, tpid = _AUX.unpack_from(cdata)
                wire_len = length
                if status & TP_STATUS_VLAN_VALID and len(data) >= 12:
                    # The kernel took the tag out of band (VLAN offload): put it back, as tcpdump does.
                    tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
                    wire_len += 4
                    tagged = True
        return Frame(
            ts=ts or time.time(),
            direction="out" if pkttype == PACKET_OUTGOING else "in",
            pkttype=pkttype,
            link=self.label,
            data=data,
            wire_len=wire_len,
            vlan_offloaded=tagged,
        )

    @property
    def frames(self) -> list[Frame]:
        """All frames so far (a copy), oldest first."""
        self._drain()
        return list(self._frames)

    def matching(self, pred: PredLike | None = None) -> list[Frame]:
        """The frames captured so far that match ``pred``."""
        p = as_pred(pred)
        return [f for f in self.frames if p(f)]

    def count(self, pred: PredLike | None = None) -> int:
        """How many frames captured so far match ``pred``."""
        return len(self.matching(pred))

    def count_by_direction(self) -> dict[str, int]:
        """How many frames captured so far were received (``in``) and sent (``out``)."""
        frames = self.frames
        return {"in": sum(f.direction == "in" for f in frames), "out": sum(f.direction == "out" for f in frames)}

    def clear(self) -> None:
        """Forget the frames seen so far (the socket keeps capturing)."""
        self._drain()
        self._frames.clear()

    # -- waiting ---------------------------------------------------------------------------

    def _wait_readable(self, timeout: float) -> None:
        if self._sock is not None and timeout > 0:
            select.select([self._sock], [], [], timeout)

    def wait_for(self, pred: PredLike | None = None, count: int = 1, timeout: float = 2.0) -> list[Frame]:
        """Wait until at least ``count`` frames match; return them. Raises :class:`WaitTimeout`.

        ``timeout``: seconds, finite, ``0 < timeout <= MAX_TIMEOUT`` (:mod:`pytest_macvlan.wait`)."""
        self._check_open()
        limit = check_timeout(timeout, f"{self.label}: wait_for", positive=True)
        p = as_pred(pred)
        try:
            return wait_until(
                lambda: [f for f in self.frames if p(f)],
                lambda found: len(found) >= count,
                timeout=limit,
                what=f"{self.label}: {count} frame(s) matching {p.desc}",
                pause=self._wait_readable,
            )
        except WaitTimeout:
            found = self.matching(p)
            raise WaitTimeout(
                f"{self.label}: waited {limit:g}s for {count} frame(s) matching {p.desc}, "
                f"saw {len(found)}\n{self.summary()}"
            ) from None

    def assert_none(self, pred: PredLike | None = None, within: float = 0.2) -> None:
        """Fail if any frame matching ``pred`` has been seen or arrives within ``within`` seconds."""
        self._check_open()
        limit = check_timeout(within, f"{self.label}: assert_none (within)")
        p = as_pred(pred)
        try:
            found = wait_until(
                lambda: [f for f in self.frames if p(f)],
                bool,
                timeout=limit,
                what=f"{self.label}: a frame matching {p.desc}",
                pause=self._wait_readable,
            )
        except WaitTimeout:
            return  # none came: what was asserted
        raise AssertionError(f"{self.label}: expected no frame matching {p.desc}, saw {len(found)}\n{self.summary()}")

    def assert_count(
        self, pred: PredLike | None, expected: int, within: float = 0.2, timeout: float = 2.0
    ) -> list[Frame]:
        """Wait for ``expected`` matching frames, then check no more arrive within ``within`` seconds."""
        limit = check_timeout(timeout, f"{self.label}: assert_count (timeout)", positive=True)
        quiet = check_timeout(within, f"{self.label}: assert_count (within)")
        p = as_pred(pred)
        found = self.wait_for(p, expected, limit) if expected else []
        if len(found) == expected:
            try:
                found = wait_until(
                    lambda: self.matching(p),
                    lambda now: len(now) != expected,
                    timeout=quiet,
                    what=f"{self.label}: more frames matching {p.desc}",
                    pause=self._wait_readable,
                )
            except WaitTimeout:
                found = self.matching(p)
        if len(found) != expected:
            raise AssertionError(
                f"{self.label}: expected exactly {expected} frame(s) matching {p.desc}, "
                f"saw {len(found)}\n{self.summary()}"
            )
        return found

    # -- reporting -------------------------------------------------------------------------

    def stats(self) -> tuple[int, int]:
        """``(packets, drops)`` as counted by the kernel for this socket since it was opened."""
        if self._sock is not None:
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            packets, drops = struct.unpack("=II", raw)  # reading resets the kernel's counters
            self._kernel_packets += packets
            self._kernel_drops += drops
        return self._kernel_packets, self._kernel_drops

    @property
    def drops(self) -> int:
        return self.stats()[1]

    def summary(self, frames: Iterable[Frame] | None = None, limit: int = SUMMARY_LIMIT) -> str:
        """Every frame captured so far, one tcpdump-style line each (and the kernel's drops, if any)."""
        shown = list(self.frames if frames is None else frames)
        lines = [f.summary() for f in shown[:limit]]
        if len(shown) > limit:
            lines.append(f"... {len(shown) - limit} more frame(s)")
        drops = self.drops
        if drops:
            lines.append(f"!! the kernel dropped {drops} frame(s) on this capture (socket buffer full)")
        return "\n".join(lines) if lines else f"{self.label}: (no frames)"

    def write_pcap(self, path: str | Path) -> Path:
        """Write the frames as pcapng (directions kept) for ``tcpdump -r`` and Wireshark."""
        return write_pcapng(path, self.frames, self.label, comment=f"pytest-macvlan capture of {self.label}")

    # -- life cycle ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._sock is None

    def _check_open(self) -> None:
        if self._sock is None:
            raise ClosedError(f"capture on {self.label} is closed")

    def close(self) -> None:
        """Stop capturing; the frames seen so far stay readable."""
        if self._sock is None:
            return
        self._drain()
        self.stats()
        self._sock.close()
        self._sock = None
        if self._on_close is not None:
            self._on_close(self)

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Capture {self.label} frames={len(self._frames)}{' closed' if self.closed else ''}>"

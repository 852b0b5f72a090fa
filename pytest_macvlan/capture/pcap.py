"""Write frames as pcapng, keeping each frame's direction (``epb_flags``), for tcpdump and Wireshark."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from pytest_macvlan.capture.frames import Frame

LINKTYPE_ETHERNET = 1
_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("=HH", code, len(value)) + _pad(value)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("=II", btype, total) + body + struct.pack("=I", total)


def pcapng_bytes(frames: Iterable[Frame], ifname: str, comment: str = "") -> bytes:
    """``frames`` as pcapng: one interface ``ifname``, nanosecond timestamps, directions in ``epb_flags``."""
    shb_opts = (_option(1, comment.encode()) if comment else b"") + _option(4, b"pytest-macvlan") + _option(0, b"")
    out = [_block(_SHB, struct.pack("=IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)]
    idb_opts = _option(2, ifname.encode()) + _option(9, bytes([9])) + _option(0, b"")  # if_tsresol: ns
    out.append(_block(_IDB, struct.pack("=HHI", LINKTYPE_ETHERNET, 0, 262144) + idb_opts))
    for f in frames:
        ts = round(f.ts * 1e9)
        flags = 0b10 if f.direction == "out" else 0b01
        body = struct.pack("=IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f.data), max(f.wire_len, len(f.data)))
        body += _pad(f.data) + _option(2, struct.pack("=I", flags)) + _option(0, b"")
        out.append(_block(_EPB, body))
    return b"".join(out)


def write_pcapng(path: str | Path, frames: Iterable[Frame], ifname: str, comment: str = "") -> Path:
    """Write :func:`pcapng_bytes` to ``path`` (its directory is made if need be); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(pcapng_bytes(frames, ifname, comment))
    return p

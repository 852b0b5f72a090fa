"""A small rtnetlink client: batched requests, on sockets pinned to a namespace.

A batch of requests goes to the kernel in as few ``send`` calls as possible (the kernel
processes every message of a buffer in order, synchronously), then all acks are read. Each
request carries the spec entry it realises, so a kernel error names that entry.

Every socket is created inside its namespace by :func:`pytest_macvlan.kernel.nsworker.socket_in` and
its namespace is checked (``SIOCGSKNS``) against the intended one before each batch.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_macvlan.errors import BuildError, KernelFeatureError
from pytest_macvlan.kernel import nsworker as netns
from pytest_macvlan.kernel.featurenames import DESCRIPTIONS

NETLINK_ROUTE = 0
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NETLINK_EXT_ACK = 11
NETLINK_CAP_ACK = 10
SOL_NETLINK = 270
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_HDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFF_LOWER_UP = 0x10000
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_NEWNEIGH = 28
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
CREATE = NLM_F_CREATE | NLM_F_EXCL
IFF_UP = 0x1
IFF_PROMISC = 0x100
NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

# Attribute types (linux/if_link.h, if_addr.h, rtnetlink.h, neighbour.h, veth.h).
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5
IFLA_BR_AGEING_TIME = 4
IFLA_BR_STP_STATE = 5
IFLA_BRPORT_MODE = 4
VETH_INFO_PEER = 1
IFLA_VLAN_ID = 1
IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_MACADDR_MODE = 3
IFLA_MACVLAN_MACADDR = 4
IFLA_MACVLAN_MACADDR_DATA = 5
MACVLAN_MACADDR_SET = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
NDA_DST = 1
NDA_LLADDR = 2

NLA_HDR = struct.Struct("=HH")
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
U32 = struct.Struct("=I")
U16 = struct.Struct("=H")
_CHUNK = 48 * 1024
_GET_CHUNK = 32
_ACK_CHUNK = 128


@dataclass(frozen=True)
class Message:
    """One rtnetlink request, encoded: its type, its flags and its body (all that follows the header)."""

    type: int
    flags: int
    body: bytes


@dataclass
class Request:
    """One netlink message and the spec entry (or action) it realises.

    ``msg`` is a :class:`Message`, encoded by :mod:`.messages` or :mod:`.changes`.
    """

    msg: Message
    entry: str
    feature: str | None = None  # the kernel feature this request needs (a link kind), for errors


@dataclass
class Failure:
    """A request the kernel refused: the spec entry, the errno and its extended-ack text."""

    entry: str
    errno: int
    extack: str
    feature: str | None = None

    def error(self) -> BuildError:
        """The exception to raise: a KernelFeatureError for a feature the kernel lacks, else a BuildError."""
        if self.feature is not None and self.errno == errno_mod.EOPNOTSUPP:
            what = DESCRIPTIONS.get(self.feature, self.feature)
            return KernelFeatureError(
                self.entry, self.errno, f"this kernel does not support {what}: {self.describe()}", self.feature
            )
        return BuildError(self.entry, self.errno, self.describe())

    def describe(self) -> str:
        """``Operation not supported (EOPNOTSUPP): TEXT``: the errno, its name and the kernel's own words."""
        text = f"{os.strerror(self.errno)} ({errno_mod.errorcode.get(self.errno, self.errno)})"
        return f"{text}: {self.extack}" if self.extack else text


@dataclass
class LinkInfo:
    """What a link dump says of one link (the attributes the handles need)."""

    index: int
    name: str
    flags: int
    mac: str = ""
    mtu: int = 0
    kind: str = ""
    mode: int | None = None
    master: int = 0
    parent: int = 0
    operstate: int = 0
    carrier: int | None = None
    vlan_id: int | None = None
    promiscuity: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class RtnlSocket:
    """An rtnetlink socket that lives in, and only ever acts on, one namespace."""

    def __init__(self, ns_fd: int, sock: socket.socket | None = None) -> None:
        """Open a socket in ``ns_fd``, or adopt ``sock`` (made inside it) after checking where it lives."""
        self.ns_ino = netns.ns_inode(ns_fd)
        if sock is None:
            sock = netns.socket_in(ns_fd, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        elif netns.socket_ns_inode(sock) != self.ns_ino:
            sock.close()
            raise RuntimeError("netlink socket is not in its namespace")
        self.sock = sock
        self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def _verify(self) -> None:
        if netns.socket_ns_inode(self.sock) != self.ns_ino:
            raise RuntimeError("netlink socket is not in its namespace; refusing to change anything")

    def apply(self, requests: Sequence[Request]) -> Failure | None:
        """Send every request, read every ack; return the first failure, or None.

        Requests go in chunks of at most ``_ACK_CHUNK`` messages (and ``_CHUNK`` bytes), each
        chunk's acks read before the next is sent: every ack takes about a kilobyte of the
        socket's receive buffer, and a full buffer loses acks (``ENOBUFS``). After a chunk with
        a failure, nothing more is sent.
        """
        if not requests:
            return None
        self._verify()
        start = 0
        while start < len(requests):
            first = self._seq + 1
            buf: list[bytes] = []
            size = 0
            end = start
            while end < len(requests) and end - start < _ACK_CHUNK:
                data = _encode(requests[end].msg, first + end - start)
                if size + len(data) > _CHUNK and buf:
                    break
                buf.append(data)
                size += len(data)
                end += 1
            self._seq = first + end - start - 1
            self.sock.send(b"".join(buf))
            failure = self._acks(requests, start, first, end - start)
            if failure is not None:
                return failure
            start = end
        return None

    def _acks(self, requests: Sequence[Request], start: int, first: int, count: int) -> Failure | None:
        failure: Failure | None = None
        pending = count
        while pending:
            for seq, mtype, flags, payload in self._recv():
                if mtype != NLMSG_ERROR or not first <= seq < first + count:
                    continue
                pending -= 1
                (err,) = struct.unpack_from("=i", payload)
                if err and failure is None:
                    req = requests[start + seq - first]
                    failure = Failure(req.entry, -err, _extack(flags, payload), req.feature)
        return failure

    def apply_or_raise(self, requests: Sequence[Request]) -> None:
        """Send ``requests`` as one batch; raise for the first the kernel refused."""
        failure = self.apply(requests)
        if failure is not None:
            raise failure.error()

    def dump_links(self) -> list[LinkInfo]:
        """Every link of this namespace, as the kernel reports it now (one dump)."""
        self._verify()
        self._seq += 1
        seq = self._seq
        # struct ifinfomsg after the header: family, pad, type, index, flags, change
        body = struct.pack("=BxHiII", 0, 0, 0, 0, 0)
        self.sock.send(
            NLMSG_HDR.pack(NLMSG_HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
        )
        links: list[LinkInfo] = []
        while True:
            for mseq, mtype, _flags, payload in self._recv():
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return links
                if mtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    raise OSError(-err, os.strerror(-err))
                links.append(_parse_link(payload))

    def get_links(self, indexes: Sequence[int]) -> dict[int, LinkInfo]:
        """The links with these interface indexes, as the kernel reports them now (missing ones left out).

        Unlike a dump, ``RTM_GETLINK`` for one link first runs the kernel's pending linkwatch work
        for it (``linkwatch_sync_dev``): a veth end whose carrier just came on is reported with its
        queue activated and its operstate set, instead of whenever the linkwatch worker gets to it.
        """
        self._verify()
        out: dict[int, LinkInfo] = {}
        for start in range(0, len(indexes), _GET_CHUNK):  # each answer is ~1.5 KB: stay within the buffer
            chunk = indexes[start : start + _GET_CHUNK]
            first = self._seq + 1
            msgs = []
            for index in chunk:
                self._seq += 1
                body = IFINFOMSG.pack(0, 0, index, 0, 0)
                msgs.append(NLMSG_HDR.pack(NLMSG_HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, self._seq, 0) + body)
            self.sock.send(b"".join(msgs))
            pending = len(chunk)
            while pending:
                for seq, mtype, _flags, payload in self._recv():
                    if not first <= seq <= self._seq:
                        continue
                    if mtype == NLMSG_ERROR:
                        pending -= 1
                        (err,) = struct.unpack_from("=i", payload)
                        if err and -err != errno_mod.ENODEV:
                            raise OSError(-err, os.strerror(-err))
                    elif mtype == RTM_NEWLINK:
                        pending -= 1
                        info = _parse_link(payload)
                        out[info.index] = info
        return out

    def _recv(self) -> Iterator[tuple[int, int, int, bytes]]:
        data = self.sock.recv(1 << 20)
        off = 0
        while off + NLMSG_HDR.size <= len(data):
            length, mtype, flags, seq, _pid = NLMSG_HDR.unpack_from(data, off)
            if length < NLMSG_HDR.size:
                break
            yield seq, mtype, flags, data[off + NLMSG_HDR.size : off + length]
            off += (length + 3) & ~3


def _encode(msg: Message | Any, seq: int) -> bytes:
    """The bytes of ``msg`` with sequence number ``seq``. A pyroute2 message is taken too: the
    tests encode their reference with it (tests/unit/test_requests.py); the package never does."""
    if isinstance(msg, Message):
        flags = msg.flags | NLM_F_REQUEST | NLM_F_ACK
        return NLMSG_HDR.pack(NLMSG_HDR.size + len(msg.body), msg.type, flags, seq, 0) + msg.body
    hdr = msg["header"]  # a pyroute2 message
    hdr["sequence_number"] = seq
    hdr["flags"] = hdr.get("flags", 0) | NLM_F_REQUEST | NLM_F_ACK
    msg.encode()
    return bytes(msg.data)


def _attrs(data: bytes, off: int = 0) -> Iterator[tuple[int, bytes]]:
    while off + 4 <= len(data):
        length, atype = struct.unpack_from("=HH", data, off)
        if length < 4:
            return
        yield atype & 0x3FFF, data[off + 4 : off + length]
        off += (length + 3) & ~3


def _extack(flags: int, payload: bytes) -> str:
    if not flags & NLM_F_ACK_TLVS:
        return ""
    for atype, value in _attrs(payload, 4 + NLMSG_HDR.size):  # error code + the capped original header
        if atype == NLMSGERR_ATTR_MSG:
            return value.rstrip(b"\0").decode(errors="replace")
    return ""


def _u32(value: bytes) -> int:
    return int(struct.unpack_from("=I", value)[0])


NLA_HDR = struct.Struct("=HH")
U32 = struct.Struct("=I")
_U8_ATTRS = {16: "operstate", 33: "carrier"}  # IFLA_OPERSTATE, IFLA_CARRIER
_U32_ATTRS = {4: "mtu", 10: "master", 5: "parent", 30: "promiscuity"}  # IFLA_MTU, _MASTER, _LINK, _PROMISCUITY


def _parse_link(payload: bytes) -> LinkInfo:
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    info = LinkInfo(index=index, name="", flags=flags)
    # A plain loop over the attributes, decoding only the few the handles use: a link carries
    # about 50 attributes (statistics, queues, ...), and a 1,000-link topology is parsed often.
    nla, u32 = NLA_HDR.unpack_from, U32.unpack_from
    off, end = 16, len(payload)
    while off + 4 <= end:
        length, atype = nla(payload, off)
        if length < 4:
            break
        atype &= 0x3FFF
        if atype == 3:  # IFLA_IFNAME
            info.name = payload[off + 4 : off + length].rstrip(b"\0").decode()
        elif atype == 1:  # IFLA_ADDRESS
            info.mac = payload[off + 4 : off + length].hex(":")
        elif atype in _U32_ATTRS:
            setattr(info, _U32_ATTRS[atype], u32(payload, off + 4)[0])
        elif atype in _U8_ATTRS:
            setattr(info, _U8_ATTRS[atype], payload[off + 4])
        elif atype == 18:  # IFLA_LINKINFO
            _parse_linkinfo(info, payload[off + 4 : off + length])
        off += (length + 3) & ~3
    return info


def _parse_linkinfo(info: LinkInfo, value: bytes) -> None:
    for itype, ivalue in _attrs(value):
        if itype == 1:  # IFLA_INFO_KIND
            info.kind = ivalue.rstrip(b"\0").decode()
        elif itype == 2:  # IFLA_INFO_DATA
            for dtype, dvalue in _attrs(ivalue):
                if info.kind == "macvlan" and dtype == 1:  # IFLA_MACVLAN_MODE
                    info.mode = _u32(dvalue)
                elif info.kind == "vlan" and dtype == 1:  # IFLA_VLAN_ID
                    info.vlan_id = struct.unpack_from("=H", dvalue)[0]

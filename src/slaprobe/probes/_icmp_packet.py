"""ICMP echo packets as pure functions: build requests, parse replies.

No sockets here, so every byte rule has a table test. The socket side lives
in `icmp.py`. Rules the functions follow:

1. IPv4 echo is type 8 (request) / 0 (reply); IPv6 is 128 / 129.
2. The IPv4 checksum is the RFC 1071 ones' complement sum, filled in here.
   The ICMPv6 checksum covers a pseudo-header with both addresses, which the
   kernel computes for ICMPv6 sockets (RFC 3542), so it is left zero.
3. A raw IPv4 socket hands up the IP header too; a Linux ping socket and every
   IPv6 socket do not. An ICMP packet never starts with 0x4_ (types 64-79 are
   unassigned), so a leading version nibble of 4 means "strip IHL words".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ECHO_REQUEST_V4 = 8
ECHO_REPLY_V4 = 0
ECHO_REQUEST_V6 = 128
ECHO_REPLY_V6 = 129

_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence


@dataclass(frozen=True, slots=True)
class EchoReply:
    ident: int
    seq: int
    payload: bytes


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of `data` (odd lengths padded with a zero byte)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def encode_echo(icmp_type: int, ident: int, seq: int, payload: bytes, *, v6: bool = False) -> bytes:
    """An echo message of `icmp_type`; the checksum is set for IPv4 only (rule 2)."""
    header = _HEADER.pack(icmp_type, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    if v6:
        return header + payload
    packet = header + payload
    return _HEADER.pack(icmp_type, 0, checksum(packet), ident & 0xFFFF, seq & 0xFFFF) + payload


def build_echo_request(ident: int, seq: int, payload: bytes, *, v6: bool = False) -> bytes:
    """The echo request to send; a ping socket replaces `ident` with its own."""
    return encode_echo(ECHO_REQUEST_V6 if v6 else ECHO_REQUEST_V4, ident, seq, payload, v6=v6)


def parse_echo_reply(data: bytes, *, v6: bool = False) -> EchoReply | None:
    """The echo reply in `data`, or None for anything else (other types, short, corrupt).

    `data` is what the socket returned: for IPv4 with or without the IP header
    (rule 3). IPv4 checksums are verified, because raw sockets get packets
    before the kernel's ICMP layer has checked them.
    """
    if not v6 and data and data[0] >> 4 == 4:
        data = data[(data[0] & 0x0F) * 4 :]
    if len(data) < _HEADER.size:
        return None
    icmp_type, code, csum, ident, seq = _HEADER.unpack_from(data)
    if icmp_type != (ECHO_REPLY_V6 if v6 else ECHO_REPLY_V4) or code != 0:
        return None
    if not v6 and csum and checksum(data) != 0:
        return None
    return EchoReply(ident, seq, bytes(data[_HEADER.size :]))

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
# an echo whose payload is an 8-byte token and a 64-bit counter (what icmp.py sends)
_TOKEN_ECHO = struct.Struct("!BBHHH8sQ")
TOKEN_ECHO_SIZE = _TOKEN_ECHO.size


@dataclass(frozen=True, slots=True)
class EchoReply:
    ident: int
    seq: int
    payload: bytes


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of `data` (odd lengths padded with a zero byte).

    The ones' complement sum of 16-bit words is the number the bytes spell modulo 0xFFFF
    (2**16 = 1 mod 0xFFFF), folded so that a non-zero sum is never 0: one C-level
    operation instead of unpacking words."""
    if len(data) % 2:
        data += b"\x00"
    total = int.from_bytes(data, "big")
    folded = total % 0xFFFF or (0xFFFF if total else 0)
    return ~folded & 0xFFFF


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


class TokenEchoRequests:
    """Echo requests whose payload is `token` (8 bytes) then a 64-bit counter, built with
    one struct call each: the checksum of the constant part (type, identifier, token) is
    summed once, and each request adds only its sequence and counter (ones' complement
    sums are sums modulo 0xFFFF). Byte for byte what `build_echo_request` gives."""

    __slots__ = ("_ident", "_sum", "_token", "_type", "_v6")

    def __init__(self, ident: int, token: bytes, *, v6: bool = False) -> None:
        if len(token) != 8:
            raise ValueError("the token must be 8 bytes")
        self._ident, self._token, self._v6 = ident & 0xFFFF, token, v6
        self._type = ECHO_REQUEST_V6 if v6 else ECHO_REQUEST_V4
        self._sum = (self._type << 8) + self._ident + int.from_bytes(token, "big")

    def build(self, seq: int, counter: int) -> bytes:
        seq &= 0xFFFF
        if self._v6:  # rule 2: the kernel fills the checksum in
            return _TOKEN_ECHO.pack(self._type, 0, 0, self._ident, seq, self._token, counter)
        folded = (self._sum + seq + counter) % 0xFFFF  # never all zero: the type is 8
        return _TOKEN_ECHO.pack(self._type, 0, 0xFFFF - folded if folded else 0, self._ident,
                                seq, self._token, counter)


def parse_token_echo_reply(data: bytes, *, v6: bool = False) -> tuple[int, int, bytes, int] | None:
    """(identifier, sequence, token, counter) of an echo reply in `data` whose payload is
    exactly an 8-byte token and a 64-bit counter (what `TokenEchoRequests` sends), else None.
    The same rules as `parse_echo_reply` (IP header stripped, IPv4 checksum verified), in
    fewer steps: the daemon runs it for every reply."""
    offset = (data[0] & 0x0F) * 4 if not v6 and data and data[0] >> 4 == 4 else 0
    if len(data) - offset != TOKEN_ECHO_SIZE:
        return None
    icmp_type, code, csum, ident, seq, token, counter = _TOKEN_ECHO.unpack_from(data, offset)
    if icmp_type != (ECHO_REPLY_V6 if v6 else ECHO_REPLY_V4) or code != 0:
        return None
    # a non-zero sum (csum is) that is a multiple of 0xFFFF folds to 0xFFFF: checksum 0
    if not v6 and csum and int.from_bytes(data[offset:], "big") % 0xFFFF:
        return None
    return ident, seq, token, counter

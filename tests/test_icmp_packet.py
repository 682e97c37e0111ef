"""ICMP echo encoding and parsing: pure byte rules, as tables."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaprobe.probes._icmp_packet import (
    ECHO_REPLY_V4,
    ECHO_REPLY_V6,
    ECHO_REQUEST_V4,
    ECHO_REQUEST_V6,
    EchoReply,
    TokenEchoRequests,
    build_echo_request,
    checksum,
    encode_echo,
    parse_echo_reply,
    parse_token_echo_reply,
)


def ipv4_header(payload_len: int, options: bytes = b"") -> bytes:
    """A minimal IPv4 header (protocol 1) as a raw socket hands it up."""
    ihl = 5 + len(options) // 4
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len, 0, 0, 64, 1, 0,
                       bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + options


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes.fromhex("0001f203f4f5f6f7"), 0x220D),  # RFC 1071 section 3 example
        (b"", 0xFFFF),
        (b"\x00\x00", 0xFFFF),
        (b"\xff\xff", 0x0000),
        (b"\x01", 0xFEFF),  # odd length: padded with a zero byte
        (b"\x80\x00\x80\x00", 0xFFFE),  # the carry folds back in
    ],
)
def test_checksum_matches_rfc1071(data: bytes, expected: int) -> None:
    assert checksum(data) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected_hex"),
    [
        ({"ident": 0x1234, "seq": 1, "payload": b"ab"}, "08008468123400016162"),
        ({"ident": 0x1234, "seq": 1, "payload": b"ab", "v6": True}, "80000000123400016162"),
        ({"ident": 0x1_0001, "seq": 0x1_0002, "payload": b""}, "0800f7fc00010002"),  # 16-bit wrap
    ],
)
def test_build_echo_request_bytes(kwargs: dict, expected_hex: str) -> None:
    assert build_echo_request(**kwargs).hex() == expected_hex


def test_ipv4_request_checksum_verifies_to_zero() -> None:
    assert checksum(build_echo_request(7, 9, b"odd")) == 0


REPLY_V4 = encode_echo(ECHO_REPLY_V4, 0x1234, 7, b"payload")
REPLY_V6 = encode_echo(ECHO_REPLY_V6, 0x1234, 7, b"payload", v6=True)
EXPECTED = EchoReply(0x1234, 7, b"payload")
CORRUPT_V4 = REPLY_V4[:2] + bytes([REPLY_V4[2] ^ 0xFF]) + REPLY_V4[3:]
ZERO_SUM_V4 = REPLY_V4[:2] + b"\x00\x00" + REPLY_V4[4:]


@pytest.mark.parametrize(
    ("data", "v6", "expected"),
    [
        (REPLY_V4, False, EXPECTED),  # ping socket: no IP header
        (ipv4_header(len(REPLY_V4)) + REPLY_V4, False, EXPECTED),  # raw socket
        (ipv4_header(len(REPLY_V4), b"\x01\x01\x01\x00") + REPLY_V4, False, EXPECTED),  # IHL 6
        (REPLY_V6, True, EXPECTED),
        (ZERO_SUM_V4, False, EXPECTED),  # a zero checksum means "not computed"
        (CORRUPT_V4, False, None),
        (build_echo_request(0x1234, 7, b"x"), False, None),  # our own request, seen on lo
        (build_echo_request(0x1234, 7, b"x", v6=True), True, None),
        (REPLY_V4, True, None),  # type 0 is not an ICMPv6 echo reply
        (encode_echo(ECHO_REPLY_V4, 1, 2, b"") [:4], False, None),  # truncated header
        (b"", False, None),
        (ipv4_header(0), False, None),  # IP header, nothing after it
        (bytes([3, 1]) + REPLY_V4[2:], False, None),  # destination unreachable
        (bytes([0, 1]) + REPLY_V4[2:], False, None),  # reply type, nonzero code
    ],
)
def test_parse_echo_reply(data: bytes, v6: bool, expected: EchoReply | None) -> None:
    assert parse_echo_reply(data, v6=v6) == expected


@given(ident=st.integers(0, 0xFFFF), seq=st.integers(0, 0xFFFF), payload=st.binary(max_size=64),
       v6=st.booleans())
def test_encode_then_parse_round_trips(ident: int, seq: int, payload: bytes, v6: bool) -> None:
    reply_type = ECHO_REPLY_V6 if v6 else ECHO_REPLY_V4
    packet = encode_echo(reply_type, ident, seq, payload, v6=v6)
    assert parse_echo_reply(packet, v6=v6) == EchoReply(ident, seq, payload)
    if not v6:
        assert checksum(packet) == 0
        assert parse_echo_reply(ipv4_header(len(packet)) + packet) == EchoReply(ident, seq, payload)


@given(data=st.binary(max_size=80), v6=st.booleans())
def test_parse_never_raises_on_garbage(data: bytes, v6: bool) -> None:
    result = parse_echo_reply(data, v6=v6)
    assert result is None or isinstance(result, EchoReply)


def test_request_types_are_the_echo_requests() -> None:
    assert build_echo_request(1, 1, b"")[0] == ECHO_REQUEST_V4
    assert build_echo_request(1, 1, b"", v6=True)[0] == ECHO_REQUEST_V6


# --- the daemon's request template and reply parser ----------------------------------


def _rfc1071(data: bytes) -> int:
    """The textbook word-by-word sum, to check the modulo shortcut against."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(st.binary(max_size=64))
def test_checksum_equals_the_word_by_word_sum(data: bytes) -> None:
    assert checksum(data) == _rfc1071(data)


@pytest.mark.parametrize("data", [b"\xff\xff" * 3, b"\x00\x00" * 3, b"\xff\xfe\x00\x01"])
def test_checksum_of_sums_that_are_multiples_of_0xffff(data: bytes) -> None:
    assert checksum(data) == _rfc1071(data)


@given(ident=st.integers(0, 0x1FFFF), seq=st.integers(0, 0x1FFFF),
       counter=st.integers(0, 2**64 - 1), token=st.binary(min_size=8, max_size=8),
       v6=st.booleans())
def test_token_echo_request_is_build_echo_request(ident: int, seq: int, counter: int,
                                                  token: bytes, v6: bool) -> None:
    expected = build_echo_request(ident, seq, token + struct.pack("!Q", counter), v6=v6)
    assert TokenEchoRequests(ident, token, v6=v6).build(seq, counter) == expected


def test_token_echo_request_checksum_that_sums_to_zero() -> None:
    # ident chosen so that the one's complement sum is 0xFFFF: the checksum is 0
    token = bytes(8)
    for ident in range(0x10000):
        packet = build_echo_request(ident, 0, token + bytes(8))
        if packet[2:4] == b"\x00\x00":
            break
    assert TokenEchoRequests(ident, token).build(0, 0) == packet


def _reply(ident: int, seq: int, token: bytes, counter: int, *, v6: bool = False) -> bytes:
    return encode_echo(ECHO_REPLY_V6 if v6 else ECHO_REPLY_V4, ident, seq,
                       token + struct.pack("!Q", counter), v6=v6)


TOKEN = b"\x01\x02\x03\x04\x05\x06\x07\x08"
GOOD = _reply(0x1234, 7, TOKEN, 99)


@pytest.mark.parametrize(
    ("data", "v6", "expected"),
    [
        (GOOD, False, (0x1234, 7, TOKEN, 99)),
        (ipv4_header(len(GOOD)) + GOOD, False, (0x1234, 7, TOKEN, 99)),
        (ipv4_header(len(GOOD), b"\x01\x01\x01\x00") + GOOD, False, (0x1234, 7, TOKEN, 99)),
        (_reply(0x1234, 7, TOKEN, 99, v6=True), True, (0x1234, 7, TOKEN, 99)),
        (GOOD[:2] + b"\x00\x00" + GOOD[4:], False, (0x1234, 7, TOKEN, 99)),  # not computed
        (GOOD[:2] + bytes([GOOD[2] ^ 0xFF]) + GOOD[3:], False, None),  # corrupt
        (GOOD + b"x", False, None),  # not our payload size
        (GOOD[:-1], False, None),
        (TokenEchoRequests(0x1234, TOKEN).build(7, 99), False, None),  # our own request
        (GOOD, True, None),  # type 0 is not an ICMPv6 echo reply
        (b"", False, None),
    ],
)
def test_parse_token_echo_reply(data: bytes, v6: bool, expected: tuple | None) -> None:
    assert parse_token_echo_reply(data, v6=v6) == expected


@given(st.binary(max_size=40), st.booleans())
def test_parse_token_echo_reply_agrees_with_parse_echo_reply(data: bytes, v6: bool) -> None:
    general = parse_echo_reply(data, v6=v6)
    fast = parse_token_echo_reply(data, v6=v6)
    if general is None or len(general.payload) != 16:
        assert fast is None
    else:
        assert fast == (general.ident, general.seq, general.payload[:8],
                        struct.unpack("!Q", general.payload[8:])[0])

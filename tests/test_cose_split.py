"""``pos.cose.parse_sign1`` slices the usual ``[bstr, {}, bstr, bstr]`` itself instead of
decoding it; its answer must be the general decoder's, byte for byte, on every input: the
same envelope and payload, or a ``CborError`` of the same class."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos import cose
from pos.errors import CborError
from tests.conftest import Demo


def _general(data: bytes) -> Any:
    saved = cose._split
    cose._split = lambda data: None  # type: ignore[assignment]
    try:
        return _outcome(data)
    finally:
        cose._split = saved


def _outcome(data: bytes) -> Any:
    try:
        env, body = cose.parse_sign1(data)
    except CborError as exc:
        return type(exc)
    return env, body


def _same(data: bytes) -> None:
    assert _outcome(data) == _general(data), data.hex()


@pytest.fixture
def tokens(demo: Demo) -> list[bytes]:
    wallet = demo.wallet()
    qr = wallet.token(max_amount=500, now=demo.now)
    nfc = wallet.token(amount=120, challenge=bytes(range(16)), terminal_id="T-1", now=demo.now)
    return [qr, nfc, b"\xd2" + qr, wallet.cert]


def test_sliced_envelopes_equal_the_decoders_on_tokens_and_every_one_byte_change(tokens: list[bytes]) -> None:
    for tok in tokens:
        _same(tok)
        for i in range(min(len(tok), 40)):  # the heads: the tag, the array, protected, map, payload
            for b in (0x00, 0x18, 0x19, 0x40, 0x58, 0x59, 0x80, 0x84, 0xA0, 0xA1, 0xD2, 0xFF, tok[i] ^ 1):
                _same(tok[:i] + bytes([b]) + tok[i + 1 :])
        for cut in range(len(tok) - 70, len(tok) + 1):  # the signature's head and end
            _same(tok[:cut])
        _same(tok + b"\x00")


def test_non_shortest_heads_and_a_non_empty_unprotected_map_go_to_the_decoder(tokens: list[bytes]) -> None:
    tok = tokens[0]
    assert cose._split(tok) is not None
    assert cose._split(bytearray(tok)) is None  # type: ignore[arg-type]
    long_head = b"\x84\x58\x03" + tok[2:5]  # a 3-byte protected bstr with a two-byte head
    assert cose._split(long_head + b"\xa0\x40\x40") is None
    assert cose._split(b"\x84\x40\xa1\x04\x40\x40\x40") is None
    _same(long_head + b"\xa0\x40\x40")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_sliced_envelopes_equal_the_decoders_on_any_bytes(data: bytes) -> None:
    for prefix in (b"", b"\x84", b"\xd2\x84", b"\x84\x43\xa1\x01\x27\xa0"):
        _same(prefix + data)

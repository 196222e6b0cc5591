"""``pos.cbor.loads(..., fast=True)`` takes cbor2's C decoder when the bytes are exactly what
cbor2 encodes back for plain items; everything else goes to the strict decoder. Either way the
answer must be the strict decoder's: the same value, or a ``CborError`` for what SPEC 3.2
forbids."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos import cbor
from pos.errors import CborError


def _strict(data: bytes, max_depth: int = cbor.DEFAULT_MAX_DEPTH) -> Any:
    dec = cbor._Decoder(data, max_depth, False)
    value = dec.item(0)
    if dec.pos != len(data):
        raise CborError("trailing bytes")
    return value


def _same(data: bytes, max_depth: int = cbor.DEFAULT_MAX_DEPTH) -> None:
    try:
        want: Any = _strict(data, max_depth)
    except CborError:
        with pytest.raises(CborError):
            cbor.loads(data, max_depth=max_depth, fast=True)
        return
    got = cbor.loads(data, max_depth=max_depth, fast=True)
    assert got == want and type(got) is type(want), data.hex()


@pytest.mark.parametrize(
    "hexdata",
    [
        "c249010000000000000000",  # bignum tag 2 of 2**64: stays a tag, never an int
        "c2420100",  # bignum tag 2 below 2**64
        "a201010102",  # duplicate map key
        "9f01ff",  # indefinite-length array
        "5f4101ff",  # indefinite-length byte string
        "0101",  # trailing byte
        "f5",  # true: a Simple, not a bool
        "f6",  # null
        "f93c00",  # half float
        "d9d9f783010203",  # self-described CBOR tag 55799
        "d81c8101",  # shareable tag 28
        "d825" + "50" + "00" * 16,  # UUID tag 37
        "c11a5f5e1000",  # epoch datetime tag 1
        "1800",  # non-shortest head
        "a1f501",  # a map key that is not int, text or bytes
        "a1820101" + "01",  # an array as a map key
        "62c328",  # text that is not UTF-8
        "1bffffffffffffffff",  # 2**64 - 1
        "3bffffffffffffffff",  # -(2**64)
    ],
)
def test_every_special_case_decodes_as_the_strict_decoder_does(hexdata: str) -> None:
    _same(bytes.fromhex(hexdata))


def test_nesting_past_the_limit_is_refused_on_both_paths() -> None:
    deep = b"\x81" * 17 + b"\x01"
    with pytest.raises(CborError, match="nesting too deep"):
        cbor.loads(deep, fast=True)
    assert cbor.loads(b"\x81" * 16 + b"\x01", fast=True) == _strict(b"\x81" * 16 + b"\x01")
    _same(cbor2.dumps({1: [[1]]}), max_depth=2)


_items = st.recursive(
    st.integers(min_value=-(2**65), max_value=2**65) | st.binary(max_size=20) | st.text(max_size=10)
    | st.booleans() | st.none() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.integers(-30, 30) | st.text(max_size=4), inner, max_size=4)
    | st.builds(cbor2.CBORTag, st.sampled_from([2, 3, 18, 24, 28, 258, 55799, 1000]), inner),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_items, st.integers(0, 40), st.integers(0, 255))
def test_any_document_and_any_one_byte_edit_of_it_decode_as_the_strict_decoder_does(
    item: Any, at: int, byte: int
) -> None:
    try:
        data = cbor2.dumps(item)
    except (ValueError, TypeError, cbor2.CBOREncodeError):
        return
    _same(data)
    if data:
        edited = bytearray(data)
        edited[at % len(edited)] = byte
        _same(bytes(edited))
        _same(data + bytes([byte]))


def test_protected_headers_are_memoised_within_a_bound_and_decode_the_same() -> None:
    from pos import cose

    for kid in range(200):
        raw = cbor2.dumps({1: -8, 4: kid.to_bytes(8, "big")})
        assert cose._protected(raw) == {1: -8, 4: kid.to_bytes(8, "big")}
        assert cose._protected(raw) == {1: -8, 4: kid.to_bytes(8, "big")}
        assert len(cose._PROTECTED_CACHE) <= cose._PROTECTED_CACHE_SIZE
    with pytest.raises(CborError):
        cose._protected(b"\xa1\x01")  # a map missing its value: an error, never cached
    assert b"\xa1\x01" not in cose._PROTECTED_CACHE

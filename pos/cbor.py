"""Strict CBOR decoding (RFC 8949) under SPEC 3.2's parsing rules.

Why not cbor2's decoder: ``cbor2.loads`` ignores trailing bytes, turns bignum tags (2, 3) into
plain ints indistinguishable from major type 0, and gives meaning to semantic tags (shared
references, sets, dates) that an OWT1 document must never carry. SPEC 3.2 wants definite
lengths only, no duplicate map keys, no trailing bytes and exact types, so this decoder reports
what the bytes are and nothing more: tags stay ``Tag``, simple values stay ``Simple``, floats
stay ``Float``, and the callers' type checks (``type(v) is int``) see them as the wrong type.

Limits are checked before work: a length or count larger than the bytes left is refused before
anything is allocated, nesting is capped, and map keys must be int, text or bytes.

``loads(..., fast=True)`` (COSE documents: ``pos.cose``) first lets cbor2's C decoder read the
bytes and keeps its result only if encoding it again gives exactly those bytes and it holds
nothing but plain items; anything else is decoded here, so the answer (value or error) is this
decoder's in every case, at a third of the cost for a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from pos.errors import CborError

DEFAULT_MAX_DEPTH = 16
_ID_LEN = 8
_ID_HEAD = 0x40 | _ID_LEN  # bstr of length 8


@dataclass(frozen=True, slots=True)
class Tag:
    tag: int
    value: Any


@dataclass(frozen=True, slots=True)
class Simple:
    value: int  # 20 false, 21 true, 22 null, 23 undefined, others unassigned


@dataclass(frozen=True, slots=True)
class Float:
    raw: bytes  # never interpreted: no OWT1 field is a float


class PackedIds:
    """A CBOR array of 8-byte byte strings kept as its raw 9-byte records.

    Used for deny lists of a million ids: one bytes object instead of a million Python objects.
    Record ``i`` is ``buf[9*i : 9*i+9]``: the 0x48 head byte, then the id.
    """

    __slots__ = ("buf", "count")

    def __init__(self, buf: bytes, count: int) -> None:
        self.buf = buf
        self.count = count

    def __len__(self) -> int:
        return self.count

    def id_at(self, i: int) -> bytes:
        o = 9 * i + 1
        return self.buf[o : o + _ID_LEN]


def encode_head(major: int, n: int) -> bytes:
    """The shortest CBOR head of major type ``major`` with argument ``n`` (RFC 8949 3):
    the one encoder of heads for the hand-built documents (Sig_structure, deny lists)."""
    mt = major << 5
    if n < 24:
        return bytes([mt | n])
    if n < 0x100:
        return bytes([mt | 24, n])
    if n < 0x10000:
        return bytes([mt | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes([mt | 26]) + n.to_bytes(4, "big")
    return bytes([mt | 27]) + n.to_bytes(8, "big")


def loads(
    data: bytes,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    packed_ids: bool = False,
    fast: bool = False,
) -> Any:
    """Decode exactly one CBOR item that spans all of ``data``; raise ``CborError`` otherwise.

    ``fast``: try cbor2's C decoder first (``_canonical``), for the COSE documents parsed by
    the thousand (tokens, certificates); the answer is the same either way."""
    if not isinstance(data, bytes):
        data = bytes(data)
    if fast and not packed_ids:
        fast = _canonical(data, max_depth)
        if fast is not _MISS:
            return fast
    dec = _Decoder(data, max_depth, packed_ids)
    value = dec.item(0)
    if dec.pos != len(data):
        raise CborError(f"{len(data) - dec.pos} trailing bytes")
    return value


_MISS: Any = object()
_INT_MIN, _INT_MAX = -(1 << 64), (1 << 64) - 1


def _canonical(data: bytes, max_depth: int) -> Any:
    """The fast path: ``data`` decoded by cbor2's C decoder, kept only when it is exactly the
    encoding cbor2 gives back for a tree of plain items (ints within 64 bits, byte and text
    strings, arrays, maps with int, text or bytes keys, tags), nested no deeper than
    ``max_depth``; else ``_MISS`` and the strict decoder decides (and says what is wrong).

    Re-encoding to the same bytes rules out everything ``loads`` refuses (indefinite lengths,
    duplicate map keys, trailing bytes; cbor2's semantic tags turn into other types or lose
    their tag, bignums into ints), and what it accepts comes out as the strict decoder gives it.
    """
    try:
        obj = cbor2.loads(data)
        if cbor2.dumps(obj) != data:
            return _MISS
    except Exception:  # noqa: BLE001 - anything cbor2 cannot do is the strict decoder's to judge
        return _MISS
    return _plain(obj, 0, max_depth)


def _plain(v: Any, depth: int, max_depth: int) -> Any:
    """``v`` as the strict decoder gives it (tags as ``Tag``), or ``_MISS``; cbor2's fresh
    containers are updated in place."""
    t = type(v)
    if t is bytes or t is str:
        return v
    if t is int:
        return v if _INT_MIN <= v <= _INT_MAX else _MISS
    if depth >= max_depth:
        return _MISS  # a container or tag this deep: the strict decoder refuses it
    if t is dict:
        for k, x in v.items():
            kt, xt = type(k), type(x)
            if kt is int:
                if not _INT_MIN <= k <= _INT_MAX:
                    return _MISS
            elif kt is not str and kt is not bytes:
                return _MISS
            if xt is int:
                if not _INT_MIN <= x <= _INT_MAX:
                    return _MISS
            elif xt is not bytes and xt is not str:
                y = _plain(x, depth + 1, max_depth)
                if y is _MISS:
                    return _MISS
                if y is not x:
                    v[k] = y  # same key: the dict's size and order do not change
        return v
    if t is list:
        for i, x in enumerate(v):
            xt = type(x)
            if xt is int:
                if not _INT_MIN <= x <= _INT_MAX:
                    return _MISS
            elif xt is not bytes and xt is not str:
                y = _plain(x, depth + 1, max_depth)
                if y is _MISS:
                    return _MISS
                v[i] = y
        return v
    if t is cbor2.CBORTag:
        inner = _plain(v.value, depth + 1, max_depth)
        return _MISS if inner is _MISS else Tag(v.tag, inner)
    return _MISS


class _Decoder:
    __slots__ = ("data", "end", "max_depth", "packed_ids", "pos")

    def __init__(self, data: bytes, max_depth: int, packed_ids: bool) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.max_depth = max_depth
        self.packed_ids = packed_ids

    def item(self, depth: int) -> Any:
        # The head is parsed inline: this is the hot loop of every token (~60 items).
        data, pos, end = self.data, self.pos, self.end
        if pos >= end:
            raise CborError("unexpected end of data")
        ib = data[pos]
        mt, ai = ib >> 5, ib & 0x1F
        pos += 1
        if ai < 24:
            arg = ai
        elif ai < 28:
            n = 1 << (ai - 24)
            if pos + n > end:
                raise CborError("unexpected end of data in a head")
            arg = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        elif ai == 31:
            raise CborError("indefinite length or break is not allowed")
        else:
            raise CborError(f"reserved additional information {ai}")
        if mt == 0:
            self.pos = pos
            return arg
        if mt == 2 or mt == 3:
            if arg > end - pos:
                raise CborError("string longer than the data left")
            self.pos = pos + arg
            if mt == 2:
                return data[pos : pos + arg]
            try:
                return data[pos : pos + arg].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CborError("text string is not UTF-8") from exc
        self.pos = pos
        if mt == 1:
            return -1 - arg
        if mt == 7:
            return self._simple(ai, arg)
        if depth >= self.max_depth:
            raise CborError("nesting too deep")
        if mt == 5:
            return self._map(arg, depth + 1)
        if mt == 4:
            return self._array(arg, depth + 1)
        return Tag(arg, self.item(depth + 1))  # mt == 6

    def _simple(self, ai: int, arg: int) -> Simple | Float:
        if ai >= 25:
            return Float(self.data[self.pos - (1 << (ai - 24)) : self.pos])
        if ai == 24 and arg < 32:
            raise CborError("two-byte simple value below 32")
        return Simple(arg)

    def _array(self, count: int, depth: int) -> list[Any] | PackedIds:
        if count > self.end - self.pos:
            raise CborError("array longer than the data left")
        if self.packed_ids and count and self.data[self.pos] == _ID_HEAD:
            packed = self._packed(count)
            if packed is not None:
                return packed
        return [self.item(depth) for _ in range(count)]

    def _packed(self, count: int) -> PackedIds | None:
        size = 9 * count
        buf = self.data[self.pos : self.pos + size]
        if len(buf) != size or buf[0::9] != bytes([_ID_HEAD]) * count:
            return None  # not uniform: decode item by item, which reports what is wrong
        self.pos += size
        return PackedIds(buf, count)

    def _map(self, count: int, depth: int) -> dict[Any, Any]:
        if 2 * count > self.end - self.pos:
            raise CborError("map longer than the data left")
        out: dict[Any, Any] = {}
        for _ in range(count):
            key = self.item(depth)
            if type(key) not in (int, str, bytes):
                raise CborError(f"map key of type {type(key).__name__}")
            if key in out:
                raise CborError(f"duplicate map key {key!r}")
            out[key] = self.item(depth)
        return out

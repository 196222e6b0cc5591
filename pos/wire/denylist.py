"""Deny lists as deltas: a few kilobytes instead of 9 MB per refresh for a million ids.

Random 64-bit wallet ids do not compress (gzip saves about the one head byte in nine), so a
large deny list travels as a *delta from a base seq*: the ids added and removed since the list
the terminal holds, plus the new list's ``iat``, ``next_update``, ``seq`` and the root key's
protected header and signature over the *full* new list. The terminal rebuilds the full payload
in the one deterministic encoding both ends use (``encode_payload``), puts the signature back on
and installs the result through ``KeyStore.install_deny_list``, which verifies it against the
pinned root exactly like a downloaded list. A delta needs no signature of its own: if anything
in it is wrong, the rebuilt list fails the root signature and the terminal fetches the full list.

Ids stay one bytes object of 9-byte CBOR records (``0x48`` + id) from parse to rebuild: applying
a delta is binary searches plus slicing, never a million Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pos import cbor
from pos.errors import CborError, ListError
from pos.tokens import TYP_DENY_LIST, WALLET_ID_LEN

_REC = 9
_ID_HEAD = b"\x48"
MAX_DELTA_BYTES = 64 << 20


def _uint(n: int) -> bytes:
    return cbor.encode_head(0, n)


def pack_ids(ids: Iterable[bytes]) -> tuple[bytes, int]:
    """Sorted, unique 8-byte ids as the 9-byte records of a CBOR array's body."""
    uniq = sorted(set(ids))
    for wid in uniq:
        if len(wid) != WALLET_ID_LEN:
            raise ValueError("wallet ids are 8 bytes")
    return _ID_HEAD + _ID_HEAD.join(uniq) if uniq else b"", len(uniq)


def encode_payload(iat: int, next_update: int, seq: int, records: bytes, count: int) -> bytes:
    """The typ-2 payload ``{0: 2, 1: iat, 2: next_update, 3: seq, 5: [ids]}``, canonical CBOR."""
    return b"".join(
        (
            b"\xa5",
            _uint(0), _uint(TYP_DENY_LIST),
            _uint(1), _uint(iat),
            _uint(2), _uint(next_update),
            _uint(3), _uint(seq),
            _uint(5), cbor.encode_head(4, count), records,
        )
    )  # fmt: skip


def deny_payload(ids: Iterable[bytes], iat: int, next_update: int, seq: int) -> bytes:
    """The one deny-list payload builder (collector, demo scheme): sorted, deduplicated ids."""
    records, count = pack_ids(ids)
    return encode_payload(iat, next_update, seq, records, count)


def encode_sign1(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    """``[protected, {}, payload, signature]``: a COSE_Sign1 with an empty unprotected map."""
    return b"".join(
        (
            b"\x84",
            cbor.encode_head(2, len(protected)), protected,
            b"\xa0",
            cbor.encode_head(2, len(payload)), payload,
            cbor.encode_head(2, len(signature)), signature,
        )
    )  # fmt: skip


def _find(records: bytes, count: int, wid: bytes) -> tuple[int, bool]:
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) >> 1
        o = _REC * mid + 1
        probe = records[o : o + WALLET_ID_LEN]
        if probe < wid:
            lo = mid + 1
        elif probe > wid:
            hi = mid
        else:
            return mid, True
    return lo, False


def apply(records: bytes, count: int, add: Iterable[bytes], remove: Iterable[bytes]) -> tuple[bytes, int]:
    """The base records with ``add`` inserted and ``remove`` taken out, still sorted and unique."""
    cuts: list[tuple[int, int, bytes]] = []  # (position, 0 = delete / 1 = insert, id)
    for wid in set(remove):
        pos, found = _find(records, count, wid)
        if found:
            cuts.append((pos, 0, wid))
    for wid in add:
        if len(wid) != WALLET_ID_LEN:
            raise ListError("deny delta: wallet ids are 8 bytes")
        pos, found = _find(records, count, wid)
        if not found:
            cuts.append((pos, 1, wid))
    if not cuts:
        return records, count
    cuts.sort()
    out: list[bytes] = []
    at, n = 0, count
    last_insert: bytes | None = None
    for pos, op, wid in cuts:
        if pos > at:
            out.append(records[_REC * at : _REC * pos])
            at = pos
        if op == 0:
            at = pos + 1
            n -= 1
        elif wid != last_insert:
            out.append(_ID_HEAD + wid)
            last_insert = wid
            n += 1
    out.append(records[_REC * at :])
    return b"".join(out), n


@dataclass(frozen=True, slots=True)
class Delta:
    base: int
    seq: int
    iat: int
    next_update: int
    count: int
    add: bytes  # records
    add_count: int
    remove: list[bytes]
    protected: bytes
    signature: bytes


def encode_delta(
    *,
    base: int,
    seq: int,
    iat: int,
    next_update: int,
    count: int,
    add: list[bytes],
    remove: list[bytes],
    protected: bytes,
    signature: bytes,
) -> bytes:
    add_records, add_count = pack_ids(add)
    del_records, del_count = pack_ids(remove)
    items = [
        ("base", _uint(base)), ("seq", _uint(seq)), ("iat", _uint(iat)), ("next", _uint(next_update)),
        ("count", _uint(count)), ("add", cbor.encode_head(4, add_count) + add_records),
        ("del", cbor.encode_head(4, del_count) + del_records),
        ("protected", cbor.encode_head(2, len(protected)) + protected),
        ("sig", cbor.encode_head(2, len(signature)) + signature),
    ]  # fmt: skip
    parts = [cbor.encode_head(5, len(items))]
    for key, value in items:
        k = key.encode()
        parts += [cbor.encode_head(3, len(k)), k, value]
    return b"".join(parts)


def _ids(v: Any, what: str) -> tuple[bytes, int]:
    if type(v) is list and not v:
        return b"", 0
    if not isinstance(v, cbor.PackedIds):
        raise ListError(f"deny delta: {what} must be an array of 8-byte ids")
    return v.buf, v.count


def _field(doc: dict[str, Any], key: str) -> int:
    v = doc.get(key)
    if type(v) is not int or v < 0:
        raise ListError(f"deny delta: {key} must be an unsigned integer")
    return v


def parse_delta(raw: bytes) -> Delta:
    if len(raw) > MAX_DELTA_BYTES:
        raise ListError("deny delta too large")
    try:
        doc = cbor.loads(raw, max_depth=3, packed_ids=True)
    except CborError as exc:
        raise ListError(f"deny delta is not CBOR: {exc}") from None
    if type(doc) is not dict:
        raise ListError("deny delta must be a map")
    add, add_count = _ids(doc.get("add"), "add")
    del_buf, del_count = _ids(doc.get("del"), "del")
    protected, sig = doc.get("protected"), doc.get("sig")
    if type(protected) is not bytes or type(sig) is not bytes:
        raise ListError("deny delta: protected and sig must be byte strings")
    remove = [del_buf[_REC * i + 1 : _REC * i + _REC] for i in range(del_count)]
    return Delta(
        base=_field(doc, "base"),
        seq=_field(doc, "seq"),
        iat=_field(doc, "iat"),
        next_update=_field(doc, "next"),
        count=_field(doc, "count"),
        add=add,
        add_count=add_count,
        remove=remove,
        protected=protected,
        signature=sig,
    )


def rebuild(base_records: bytes, base_count: int, delta: Delta) -> bytes:
    """The full signed deny list the delta describes (its root signature is checked on install)."""
    adds = (delta.add[_REC * i + 1 : _REC * i + _REC] for i in range(delta.add_count))
    records, count = apply(base_records, base_count, adds, delta.remove)
    if count != delta.count:
        raise ListError(f"deny delta: rebuilt {count} ids, the collector said {delta.count}")
    payload = encode_payload(delta.iat, delta.next_update, delta.seq, records, count)
    return encode_sign1(delta.protected, payload, delta.signature)

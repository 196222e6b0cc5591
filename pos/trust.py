"""Trust lists (typ 1) and deny lists (typ 2): SPEC 1 and 3.1.

Both are signed by the pinned scheme root key. Parsing and verification are pure; installing and
caching them is ``pos.keystore``. A deny list of a million ids stays one bytes object: ids are
found by binary search over its sorted 9-byte CBOR records, so loading costs one pass of C-speed
slicing plus one pass that checks the order.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from pos import cbor, cose, sigs
from pos.errors import CborError, ListError
from pos.tokens import (
    KID_LEN,
    L_IAT,
    TYP_DENY_LIST,
    TYP_TRUST_LIST,
    WALLET_ID_LEN,
)

L_NEXT_UPDATE, L_SEQ, L_ISSUERS, L_DENIED = 2, 3, 4, 5
I_KID, I_ALG, I_KEY, I_NBF, I_EXP, I_NAME = 1, 2, 3, 4, 5, 6

MAX_TRUST_LIST_BYTES = 1 << 20
MAX_DENY_LIST_BYTES = 64 << 20
_ORDER_CHUNK = 1 << 16
_REC = struct.Struct(">xQ")
_ID_HEAD = b"\x48"  # bstr of 8 bytes: the first byte of every record
# Every 16th id goes into an index searched by C bisect; the 16 records after it are scanned with
# one bytes.find, so a lookup costs about a microsecond instead of 20 Python bisection steps.
_STRIDE = 16


@dataclass(frozen=True, slots=True)
class IssuerKey:
    kid: bytes
    alg: int
    key: sigs.PublicKey | None  # None when alg is not one this terminal supports
    raw_key: bytes
    nbf: int
    exp: int
    name: str

    def valid_at(self, now: int) -> bool:
        return self.nbf <= now <= self.exp


@dataclass(frozen=True, slots=True)
class SignedList:
    typ: int
    digest: bytes  # SHA-256 of the signed bytes: a reinstall compares it, and 9 MB are not kept twice
    iat: int
    next_update: int
    seq: int

    def stale_in(self, now: int, grace: int) -> int:
        """Seconds of use left (SPEC 3.1: usable until ``next_update + grace``); negative once past."""
        return self.next_update + grace - now

    def stale_at(self, now: int, grace: int) -> bool:
        """The one staleness rule: the verifier, ``pos queue status`` and the status bar read it."""
        return self.stale_in(now, grace) < 0


@dataclass(frozen=True, slots=True)
class TrustList(SignedList):
    issuers: dict[bytes, IssuerKey] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DenyList(SignedList):
    ids: cbor.PackedIds | None = None
    index: array[int] = field(default_factory=lambda: array("Q"))  # ids[0], ids[16], ... as integers

    def __len__(self) -> int:
        return len(self.ids) if self.ids is not None else 0

    def contains(self, wallet_id: bytes) -> bool:
        ids = self.ids
        if ids is None or len(wallet_id) != WALLET_ID_LEN:
            return False
        block = bisect_right(self.index, int.from_bytes(wallet_id, "big")) - 1
        if block < 0:
            return False
        start = 9 * _STRIDE * block
        seg = ids.buf[start : start + 9 * _STRIDE]
        probe = _ID_HEAD + wallet_id
        at = seg.find(probe)
        while at > 0 and at % 9:  # a match must start on a record
            at = seg.find(probe, at + 1)
        return at >= 0


def _field_uint(body: dict[Any, Any], label: int, what: str) -> int:
    v = body.get(label)
    if type(v) is not int or v < 0:
        raise ListError(f"{what}: label {label} must be an unsigned integer")
    return v


def _open(raw: bytes, root: sigs.PublicKey, typ: int, what: str, cap: int) -> tuple[Any, dict[Any, Any]]:
    if len(raw) > cap:
        raise ListError(f"{what}: {len(raw)} bytes is over the {cap}-byte cap")
    try:
        env, body = cose.parse_sign1(raw, packed_ids=typ == TYP_DENY_LIST)
    except CborError as exc:
        raise ListError(f"{what}: not a well-formed COSE_Sign1: {exc}") from None
    if env.alg != sigs.alg_of(root):
        raise ListError(f"{what}: alg {env.alg} does not fit the pinned root key")
    if not sigs.verify(root, env.signature, env.to_be_signed()):
        raise ListError(f"{what}: signature does not verify with the pinned root key")
    if type(body) is not dict or any(type(k) is not int for k in body):
        raise ListError(f"{what}: payload is not a map with integer labels")
    if body.get(0) != typ or type(body.get(0)) is not int:
        raise ListError(f"{what}: payload typ is not {typ}")
    return env, body


def _header(raw: bytes, body: dict[Any, Any], typ: int, what: str) -> dict[str, Any]:
    iat = _field_uint(body, L_IAT, what)
    nxt = _field_uint(body, L_NEXT_UPDATE, what)
    if nxt < iat:
        raise ListError(f"{what}: next_update before iat")
    seq = _field_uint(body, L_SEQ, what)
    return {"typ": typ, "digest": hashlib.sha256(raw).digest(), "iat": iat, "next_update": nxt, "seq": seq}


def parse_trust_list(raw: bytes, root: sigs.PublicKey) -> TrustList:
    what = "trust list"
    _env, body = _open(raw, root, TYP_TRUST_LIST, what, MAX_TRUST_LIST_BYTES)
    entries = body.get(L_ISSUERS)
    if type(entries) is not list:
        raise ListError(f"{what}: label 4 must be an array of issuer keys")
    issuers: dict[bytes, IssuerKey] = {}
    for n, entry in enumerate(entries):
        issuer = _issuer(entry, f"{what}: issuer #{n}")
        if issuer.kid in issuers:
            raise ListError(f"{what}: kid {issuer.kid.hex()} appears twice")
        issuers[issuer.kid] = issuer
    return TrustList(issuers=issuers, **_header(raw, body, TYP_TRUST_LIST, what))


def _issuer(entry: Any, what: str) -> IssuerKey:
    if type(entry) is not dict or any(type(k) is not int for k in entry):
        raise ListError(f"{what}: not a map with integer labels")
    kid, alg, raw_key, name = entry.get(I_KID), entry.get(I_ALG), entry.get(I_KEY), entry.get(I_NAME)
    if type(kid) is not bytes or len(kid) != KID_LEN:
        raise ListError(f"{what}: kid must be 8 bytes")
    if type(alg) is not int or type(raw_key) is not bytes or type(name) is not str:
        raise ListError(f"{what}: alg, key and name must be int, bstr and tstr")
    nbf, exp = _field_uint(entry, I_NBF, what), _field_uint(entry, I_EXP, what)
    key: sigs.PublicKey | None = None
    if alg in sigs.SUPPORTED_ALGS:
        try:
            key = sigs.load_raw_key(alg, raw_key)
        except CborError as exc:
            raise ListError(f"{what}: {exc}") from None
    # An issuer under an algorithm this terminal lacks is kept but can verify nothing
    # (alg_mismatch): refusing the whole list would strand terminals on an old one.
    return IssuerKey(kid=kid, alg=alg, key=key, raw_key=raw_key, nbf=nbf, exp=exp, name=name)


def parse_deny_list(raw: bytes, root: sigs.PublicKey) -> DenyList:
    what = "deny list"
    _env, body = _open(raw, root, TYP_DENY_LIST, what, MAX_DENY_LIST_BYTES)
    ids = body.get(L_DENIED)
    if type(ids) is list and not ids:
        ids = cbor.PackedIds(b"", 0)
    if not isinstance(ids, cbor.PackedIds):
        raise ListError(f"{what}: label 5 must be an array of 8-byte byte strings")
    index = _check_ascending(ids, what)
    return DenyList(ids=ids, index=index, **_header(raw, body, TYP_DENY_LIST, what))


def _check_ascending(ids: cbor.PackedIds, what: str) -> array[int]:
    """Binary search needs the order SPEC promises; check it in bounded chunks (flat memory)."""
    prev = -1
    step = 9 * _ORDER_CHUNK  # a multiple of the stride: every chunk starts on an indexed id
    index = array("Q")
    for start in range(0, len(ids.buf), step):
        values = [v for (v,) in _REC.iter_unpack(ids.buf[start : start + step])]
        if values[0] < prev or any(a > b for a, b in itertools.pairwise(values)):
            raise ListError(f"{what}: wallet ids are not sorted ascending")
        prev = values[-1]
        index.extend(values[::_STRIDE])
    return index

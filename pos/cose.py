"""COSE_Sign1 (RFC 9052 section 4.2) as OWT1 uses it: structure, headers, Sig_structure.

Only what SPEC section 1 needs: tag 18 optional, protected header as a bstr-wrapped map, the
unprotected map ignored except that a label in both buckets is malformed, ``crit`` refused,
external_aad empty. Keys and algorithms live in ``pos.sigs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pos import cbor
from pos.errors import CborError
from pos.frozen import quick_init

TAG_SIGN1 = 18
HDR_ALG = 1
HDR_CRIT = 2
HDR_KID = 4

_SIG1_CONTEXT = b"\x6aSignature1"


class CoseError(CborError):
    """A COSE_Sign1 that is not well formed under SPEC 1 and 3.2."""


@quick_init
@dataclass(frozen=True, slots=True)
class Sign1:
    protected: bytes  # the exact bstr contents, as signed
    headers: dict[Any, Any]  # the decoded protected map
    payload: bytes
    signature: bytes

    @property
    def alg(self) -> Any:
        return self.headers.get(HDR_ALG)

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """``["Signature1", protected, h'', payload]`` in CBOR, built without a general encoder."""
    return b"".join(
        (
            b"\x84",
            _SIG1_CONTEXT,
            cbor.encode_head(2, len(protected)),
            protected,
            b"\x40",
            cbor.encode_head(2, len(payload)),
            payload,
        )
    )


def parse_sign1(data: bytes, *, packed_ids: bool = False) -> tuple[Sign1, Any]:
    """Parse a COSE_Sign1 and its payload; return the envelope and the decoded payload.

    Raises ``CborError`` (or its subclass ``CoseError``) for anything malformed.
    """
    split = _split(data)
    if split is not None:  # the usual shape: no unprotected header, every item a bstr
        protected, payload, signature = split
        headers = _protected(protected)
        _check_protected(headers)
        body = cbor.loads(payload, packed_ids=packed_ids, fast=True)
        return Sign1(protected, headers, payload, signature), body
    obj = cbor.loads(data, fast=True)
    if isinstance(obj, cbor.Tag):
        if obj.tag != TAG_SIGN1:
            raise CoseError(f"tag {obj.tag} is not COSE_Sign1")
        obj = obj.value
    if type(obj) is not list or len(obj) != 4:
        raise CoseError("COSE_Sign1 must be an array of four items")
    protected, unprotected, payload, signature = obj
    if type(protected) is not bytes or type(payload) is not bytes or type(signature) is not bytes:
        raise CoseError("protected, payload and signature must be byte strings")
    if type(unprotected) is not dict:
        raise CoseError("unprotected header must be a map")
    headers = _protected(protected)
    _check_protected(headers, unprotected)
    body = cbor.loads(payload, packed_ids=packed_ids, fast=True)
    return Sign1(protected, headers, payload, signature), body


def _check_protected(headers: Any, unprotected: dict[Any, Any] | None = None) -> None:
    """The protected header's rules, in this order; ``unprotected`` None: the empty map."""
    if type(headers) is not dict:
        raise CoseError("protected header must be a map")
    if HDR_CRIT in headers:
        raise CoseError("crit header: no critical extension is defined")
    if unprotected:
        both = headers.keys() & unprotected.keys()
        if both:
            raise CoseError(f"header label {sorted(both, key=repr)[0]!r} in both buckets")
    if type(headers.get(HDR_ALG)) is not int:
        raise CoseError("protected alg missing or not an integer")


def _bstr(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """The byte string whose shortest head starts at ``pos``, and where it ends; None for
    anything else (another type, a longer head than needed, past the end)."""
    if pos >= len(data):
        return None
    ib = data[pos]
    if ib >> 5 != 2:
        return None
    ai = ib & 0x1F
    if ai < 24:
        n, pos = ai, pos + 1
    elif ai == 24 and pos + 1 < len(data) and data[pos + 1] >= 24:
        n, pos = data[pos + 1], pos + 2
    elif ai == 25 and pos + 2 < len(data) and data[pos + 1] > 0:
        n, pos = (data[pos + 1] << 8) | data[pos + 2], pos + 3
    else:
        return None
    end = pos + n
    return (data[pos:end], end) if end <= len(data) else None


def _split(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The protected header, payload and signature of the usual COSE_Sign1, ``[bstr, {}, bstr,
    bstr]`` with shortest heads (tag 18 optional), exactly as ``cbor.loads`` decodes them, by
    slicing; None for any other shape, which ``cbor.loads`` then decodes or refuses (tokens are
    parsed by the thousand)."""
    if type(data) is not bytes:
        return None
    tagged = data[:1] == b"\xd2"
    pos = 1 if tagged else 0
    if data[pos : pos + 1] != b"\x84":
        return None
    got = _bstr(data, pos + 1)
    if got is None or data[got[1] : got[1] + 1] != b"\xa0":
        return None
    protected = got[0]
    got = _bstr(data, got[1] + 1)
    if got is None:
        return None
    payload = got[0]
    got = _bstr(data, got[1])
    if got is None or got[1] != len(data):
        return None
    return protected, payload, got[0]


_PROTECTED_CACHE: dict[bytes, Any] = {}
_PROTECTED_CACHE_SIZE = 64


def _protected(raw: bytes) -> Any:
    """The protected header decoded; memoised by its exact bytes (a pure function of them, and
    every wallet's tokens carry the same few): only decodes that succeeded, read-only after."""
    if not raw:
        return {}
    headers = _PROTECTED_CACHE.get(raw)
    if headers is None:
        headers = cbor.loads(raw, fast=True)
        if len(raw) <= 64:
            if len(_PROTECTED_CACHE) >= _PROTECTED_CACHE_SIZE:
                _PROTECTED_CACHE.clear()  # atomic: safe with verify threads parsing at once
            _PROTECTED_CACHE[raw] = headers
    return headers

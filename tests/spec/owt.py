"""An independent OWT1 document factory, written from SPEC.md only (cbor2 + cryptography).

Everything a conformance test may want to break is a parameter: payload labels (``changes``, with
``DROP`` to remove one), protected header contents or raw bytes, unprotected header, the signature
(raw bytes or a function of the real one), the signing key, the Sig_structure's protected bytes,
tag 18 or not. ``Raw`` embeds hand-made CBOR anywhere cbor2 is used; ``cbor_*`` functions build
what cbor2 cannot (duplicate keys, indefinite lengths, odd tags, deep nesting).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALG_EDDSA = -8
ALG_ES256 = -7
# Order of the P-256 group (SEC 2) and of the Ed25519 prime-order subgroup (RFC 8032).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_L = 2**252 + 27742317777372353535851937790883648493

TYP_TRUST_LIST, TYP_DENY_LIST, TYP_CERT, TYP_TOKEN = 1, 2, 3, 4
HDR_ALG, HDR_CRIT, HDR_KID = 1, 2, 4
DAY = 86400


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()  # as a value in ``changes``: remove the label


@dataclass(frozen=True)
class Raw:
    """Pre-encoded CBOR, spliced verbatim wherever it appears in an encoded structure."""

    data: bytes


def _raw_default(encoder: Any, value: Any) -> None:
    if isinstance(value, Raw):
        encoder.write(value.data)
        return
    raise TypeError(f"cannot encode {type(value).__name__}")


def enc(obj: Any) -> bytes:
    """cbor2 encoding (insertion order, shortest heads) that understands ``Raw``."""
    return cbor2.dumps(obj, default=_raw_default)


def apply(base: dict[Any, Any], changes: dict[Any, Any] | None) -> dict[Any, Any]:
    out = dict(base)
    for k, v in (changes or {}).items():
        if v is DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


# --- hand-made CBOR (RFC 8949 section 3) -------------------------------------------------------


def cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | ai]) + value.to_bytes(size, "big")
    raise ValueError(value)


def cbor_map_pairs(pairs: Iterable[tuple[Any, Any]]) -> bytes:
    """A definite map from (key, value) pairs as given: duplicates allowed."""
    items = list(pairs)
    return cbor_head(5, len(items)) + b"".join(enc(k) + enc(v) for k, v in items)


def cbor_indef_map(pairs: Iterable[tuple[Any, Any]]) -> bytes:
    return b"\xbf" + b"".join(enc(k) + enc(v) for k, v in pairs) + b"\xff"


def cbor_indef_array(items: Iterable[Any]) -> bytes:
    return b"\x9f" + b"".join(enc(i) for i in items) + b"\xff"


def cbor_indef_bstr(*chunks: bytes) -> bytes:
    return b"\x5f" + b"".join(enc(c) for c in chunks) + b"\xff"


def cbor_indef_tstr(*chunks: str) -> bytes:
    return b"\x7f" + b"".join(enc(c) for c in chunks) + b"\xff"


def cbor_tag(tag: int, item: Any) -> bytes:
    return cbor_head(6, tag) + enc(item)


def cbor_deep_array(depth: int) -> bytes:
    return b"\x81" * depth + b"\x00"


def cbor_uint_long(value: int, size: int) -> bytes:
    """A non-shortest head (e.g. 1 in 8 bytes); still a valid, definite unsigned integer."""
    ai = {1: 24, 2: 25, 4: 26, 8: 27}[size]
    return bytes([ai]) + value.to_bytes(size, "big")


# --- keys ----------------------------------------------------------------------------------------


@dataclass
class Key:
    """A signing key: ``kind`` is "ed" (Ed25519, alg -8) or "p256" (P-256, alg -7)."""

    kind: str
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = (
                ed25519.Ed25519PrivateKey.generate()
                if self.kind == "ed"
                else ec.generate_private_key(ec.SECP256R1())
            )

    @property
    def alg(self) -> int:
        return ALG_EDDSA if self.kind == "ed" else ALG_ES256

    def sign(self, data: bytes) -> bytes:
        if self.kind == "ed":
            sig: bytes = self.private.sign(data)
            return sig
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    @property
    def public_raw(self) -> bytes:
        pub = self.private.public_key()
        if self.kind == "ed":
            fmt = serialization.PublicFormat.Raw
            return bytes(pub.public_bytes(serialization.Encoding.Raw, fmt))
        return bytes(
            pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )

    def cose_key(self) -> dict[int, Any]:
        raw = self.public_raw
        if self.kind == "ed":
            return {1: 1, -1: 6, -2: raw}
        return {1: 2, -1: 1, -2: raw[1:33], -3: raw[33:]}

    def pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def es256_high_s_twin(sig: bytes) -> bytes:
    """(r, s) -> (r, n - s): the other valid ECDSA signature of the same message."""
    r, s = sig[:32], int.from_bytes(sig[32:], "big")
    return r + (P256_N - s).to_bytes(32, "big")


def ed25519_s_plus_l(sig: bytes) -> bytes:
    """R || S -> R || (S + L): non-canonical, rejected by RFC 8032 section 5.1.7 (S >= L)."""
    s = int.from_bytes(sig[32:], "little") + ED25519_L
    return sig[:32] + s.to_bytes(32, "little")


# --- COSE_Sign1 (RFC 9052 section 4.2) -------------------------------------------------------------


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return enc(["Signature1", protected, b"", payload])


def sign1(
    payload: dict[Any, Any] | bytes,
    key: Key,
    *,
    alg: Any = None,
    kid: bytes | None = None,
    protected: dict[Any, Any] | None = None,
    protected_bytes: bytes | None = None,
    unprotected: dict[Any, Any] | bytes | None = None,
    signature: bytes | Callable[[bytes], bytes] | None = None,
    signed_protected: bytes | None = None,
    signed_payload: bytes | None = None,
    tag: bool | int = False,
    trailing: bytes = b"",
    array: Callable[[list[Any]], bytes] | None = None,
) -> bytes:
    """A COSE_Sign1 over ``payload`` (a dict, encoded with cbor2, or the exact payload bytes).

    Protected header: ``{1: alg}`` (alg defaults to the key's) plus ``{4: kid}`` when a kid is given,
    then ``protected`` changes; or exactly ``protected_bytes``. ``signature`` replaces the signature,
    or maps the real one to a forged one. ``signed_protected`` / ``signed_payload`` change what the
    signature is computed over (but not what is sent). ``tag``: True for tag 18, or another tag
    number. ``array`` encodes the four items instead of cbor2 (to drop, add or chunk some).
    """
    payload_bytes = payload if isinstance(payload, bytes) else enc(payload)
    if protected_bytes is None:
        hdr: dict[Any, Any] = {HDR_ALG: key.alg if alg is None else alg}
        if kid is not None:
            hdr[HDR_KID] = kid
        hdr = apply(hdr, protected)
        protected_bytes = enc(hdr) if hdr else b""
    tbs = sig_structure(
        protected_bytes if signed_protected is None else signed_protected,
        payload_bytes if signed_payload is None else signed_payload,
    )
    real = key.sign(tbs)
    sig = real if signature is None else signature(real) if callable(signature) else signature
    unprot: Any = {} if unprotected is None else unprotected
    if isinstance(unprot, bytes):
        unprot = Raw(unprot)
    arr: list[Any] = [protected_bytes, unprot, payload_bytes, sig]
    body = enc(arr) if array is None else array(arr)
    if tag is not False:
        body = cbor_head(6, 18 if tag is True else int(tag)) + body
    return body + trailing


# --- base45 (RFC 9285) and the QR text -------------------------------------------------------------

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [B45[n % 45], B45[n // 45 % 45], B45[n // 2025]]
    if len(data) % 2:
        n = data[-1]
        out += [B45[n % 45], B45[n // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Only for self-checks of the encoder (RFC 9285 section 4.2 examples)."""
    vals = [B45.index(c) for c in text]
    out = bytearray()
    for i in range(0, len(vals), 3):
        chunk = vals[i : i + 3]
        n = sum(v * 45**j for j, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


def qr_text(token: bytes, prefix: str = "OWT1:") -> str:
    return prefix + b45encode(token)


# --- scheme, issuers, wallets ----------------------------------------------------------------------


@dataclass
class Issuer:
    name: str
    key: Key
    kid: bytes
    nbf: int
    exp: int
    alg: int

    def entry(self, changes: dict[Any, Any] | None = None) -> dict[int, Any]:
        base = {1: self.kid, 2: self.alg, 3: self.key.public_raw, 4: self.nbf, 5: self.exp, 6: self.name}
        return apply(base, changes)


@dataclass
class Scheme:
    """The scheme root and its issuers; builds trust lists (typ 1) and deny lists (typ 2)."""

    now: int
    root: Key = field(default_factory=lambda: Key("ed"))
    issuers: dict[str, Issuer] = field(default_factory=dict)

    def add_issuer(
        self,
        name: str,
        kind: str = "ed",
        *,
        kid: bytes | None = None,
        nbf: int | None = None,
        exp: int | None = None,
    ) -> Issuer:
        key = Key(kind)
        iss = Issuer(
            name,
            key,
            kid if kid is not None else os.urandom(8),
            self.now - 365 * DAY if nbf is None else nbf,
            self.now + 365 * DAY if exp is None else exp,
            key.alg,
        )
        self.issuers[name] = iss
        return iss

    def _list(self, typ: int, body: dict[int, Any], iat: int | None, next_update: int | None, seq: int,
              changes: dict[Any, Any] | None, cose: dict[str, Any] | None) -> bytes:  # fmt: skip
        iat = self.now - 60 if iat is None else iat
        nu = iat + DAY if next_update is None else next_update
        payload = apply({0: typ, 1: iat, 2: nu, 3: seq, **body}, changes)
        opts = dict(cose or {})
        key = opts.pop("key", self.root)
        return sign1(payload, key, **opts)

    def trust_list(
        self,
        *,
        iat: int | None = None,
        next_update: int | None = None,
        seq: int = 1,
        entries: list[Any] | None = None,
        changes: dict[Any, Any] | None = None,
        cose: dict[str, Any] | None = None,
    ) -> bytes:
        if entries is None:
            entries = [i.entry() for i in self.issuers.values()]
        return self._list(TYP_TRUST_LIST, {4: entries}, iat, next_update, seq, changes, cose)

    def deny_list(
        self,
        *,
        iat: int | None = None,
        next_update: int | None = None,
        seq: int = 1,
        denied: Iterable[bytes] = (),
        changes: dict[Any, Any] | None = None,
        cose: dict[str, Any] | None = None,
    ) -> bytes:
        ids = sorted(denied)
        return self._list(TYP_DENY_LIST, {5: ids}, iat, next_update, seq, changes, cose)


@dataclass
class Nfc:
    """The NFC request a token answers: exact amount, 16-byte challenge, terminal id."""

    amount: int
    challenge: bytes = field(default_factory=lambda: os.urandom(16))
    terminal_id: str = "T-0001"


@dataclass
class Wallet:
    """A wallet: key, id and certificate parameters (typ 3); makes payment tokens (typ 4)."""

    issuer: Issuer
    kind: str = "ed"
    wallet_id: bytes = field(default_factory=lambda: os.urandom(8))
    iat: int = 0
    exp: int = 0
    currency: str = "EUR"
    limit: int = 10_000
    cumulative: int = 50_000
    key: Key = field(init=False)
    next_counter: int = 1

    def __post_init__(self) -> None:
        self.key = Key(self.kind)

    def cert_payload(self, changes: dict[Any, Any] | None = None) -> dict[Any, Any]:
        base = {
            0: TYP_CERT,
            1: self.iat,
            2: self.exp,
            6: self.wallet_id,
            7: self.key.cose_key(),
            8: self.currency,
            9: self.limit,
            10: self.cumulative,
        }
        return apply(base, changes)

    def cert(
        self,
        changes: dict[Any, Any] | None = None,
        *,
        payload: bytes | None = None,
        cose: dict[str, Any] | None = None,
    ) -> bytes:
        """The wallet certificate; ``cose`` goes to ``sign1`` (``key`` replaces the issuer key)."""
        opts = {"alg": self.issuer.alg, "kid": self.issuer.kid, **(cose or {})}
        key = opts.pop("key", self.issuer.key)
        return sign1(self.cert_payload(changes) if payload is None else payload, key, **opts)

    def token_payload(
        self,
        now: int,
        *,
        amount: int = 1000,
        nfc: Nfc | None = None,
        counter: int | None = None,
        iat: int | None = None,
        exp: int | None = None,
        cert: bytes | None = None,
        changes: dict[Any, Any] | None = None,
    ) -> dict[Any, Any]:
        if counter is None:
            counter = self.next_counter
        self.next_counter = max(self.next_counter, counter + 1)
        iat = now if iat is None else iat
        base: dict[Any, Any] = {
            0: TYP_TOKEN,
            1: iat,
            2: iat + 60 if exp is None else exp,
            6: self.wallet_id,
            8: self.currency,
            11: counter,
        }
        if nfc is None:
            base[12] = amount
        else:
            base.update({13: nfc.amount, 14: nfc.challenge, 15: nfc.terminal_id})
        base[16] = self.cert() if cert is None else cert
        return apply(base, changes)

    def token(
        self,
        now: int,
        *,
        payload: bytes | None = None,
        cose: dict[str, Any] | None = None,
        **kw: Any,
    ) -> bytes:
        """A payment token at ``now``; keyword arguments as ``token_payload``."""
        opts = dict(cose or {})
        key = opts.pop("key", self.key)
        return sign1(self.token_payload(now, **kw) if payload is None else payload, key, **opts)

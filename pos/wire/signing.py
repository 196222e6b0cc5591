"""Making COSE_Sign1 documents: the signing side of lists (the collector, the demo scheme), wallets
and certificates (the simulators). The terminal itself only verifies (``pos.cose``, ``pos.sigs``)."""

from __future__ import annotations

from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pos.cose import sig_structure
from pos.sigs import ALG_EDDSA, ALG_ES256

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
ALG_NAMES = {"ed25519": ALG_EDDSA, "es256": ALG_ES256}


def new_key(alg: int) -> PrivateKey:
    return (
        ed25519.Ed25519PrivateKey.generate() if alg == ALG_EDDSA else ec.generate_private_key(ec.SECP256R1())
    )


def alg_of(key: PrivateKey) -> int:
    return ALG_EDDSA if isinstance(key, ed25519.Ed25519PrivateKey) else ALG_ES256


def raw_sign(key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign1(
    payload: dict[int, Any],
    key: PrivateKey,
    *,
    kid: bytes | None = None,
    alg: int | None = None,
    unprotected: dict[Any, Any] | None = None,
    tag: bool = False,
) -> bytes:
    headers: dict[int, Any] = {1: alg if alg is not None else alg_of(key)}
    if kid is not None:
        headers[4] = kid
    protected = cbor2.dumps(headers)
    body = cbor2.dumps(payload)
    sig = raw_sign(key, sig_structure(protected, body))
    msg = [protected, unprotected or {}, body, sig]
    return cbor2.dumps(cbor2.CBORTag(18, msg) if tag else msg)


def sign_payload(payload: bytes, key: PrivateKey) -> bytes:
    """A COSE_Sign1 ``[{1: alg}, {}, payload, sig]`` over already-encoded payload bytes (lists)."""
    from pos.wire.denylist import encode_sign1

    protected = cbor2.dumps({1: alg_of(key)})
    return encode_sign1(protected, payload, raw_sign(key, sig_structure(protected, payload)))


def public_raw(key: PrivateKey) -> bytes:
    """Trust-list form: 32 raw bytes (Ed25519) or 65-byte uncompressed SEC1 point (P-256)."""
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def cose_key(key: PrivateKey) -> dict[int, Any]:
    raw = public_raw(key)
    if len(raw) == 32:
        return {1: 1, -1: 6, -2: raw}
    return {1: 2, -1: 1, -2: raw[1:33], -3: raw[33:]}


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError("not an Ed25519 or P-256 private key")
    return key

"""Signature algorithms of SPEC section 1: EdDSA/Ed25519 (-8) and ES256/P-256 (-7).

On pyca/cryptography (OpenSSL): ES256's COSE signature is the 64-byte r||s, turned into DER
here. OpenSSL refuses r or s equal to 0 or at least n, so the CVE-2022-21449 forgeries fail like
any bad signature. Key material never comes from a document's own headers.

An Ed25519 signature is tried first with libsodium, which verifies in half the CPU time of
OpenSSL on the machines measured (59 us against 120 us here): it is most of the collector's work
per payment, and of a gate's per tap. libsodium is the stricter of the two (it also refuses
small-order and non-canonical points, ``tests/test_sigs_agree.py``), so what it accepts OpenSSL
accepts; what it refuses is decided by OpenSSL. The answer is OpenSSL's in every case; only the
cost differs (a bad signature costs both).

Which libsodium: Debian's (``libsodium23``, installed by ``scripts/setup``) through ``ctypes``
when the system has it, else the one inside PyNaCl's wheel. Measured here, a token's verify
costs 4 us less through the first (``crypto_sign_verify_detached``: no copy of the signed
message into and out of a buffer, and that build is 2 us faster on this CPU); the agreement
tests run against both.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any, TypeGuard, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from pos.errors import CborError

ALG_EDDSA = -8
ALG_ES256 = -7
SUPPORTED_ALGS = (ALG_EDDSA, ALG_ES256)

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_P256_ORDER_BYTES = 32
ED25519_SIG_LEN = 64

# COSE_Key labels (RFC 9052 section 7, RFC 9053)
KTY, CRV, X, Y = 1, -1, -2, -3
KTY_OKP, KTY_EC2 = 1, 2
CRV_P256, CRV_ED25519 = 1, 6


class KeyFormatError(CborError):
    """Key bytes or a COSE_Key that is not an Ed25519 or P-256 public key."""


def _is_ed25519(key: PublicKey) -> TypeGuard[ed25519.Ed25519PublicKey]:
    """``isinstance(key, Ed25519PublicKey)``, answered for OpenSSL's own key class without the
    abstract class's subclass check (twice per token verified)."""
    return type(key) is _ED25519_TYPE or isinstance(key, ed25519.Ed25519PublicKey)


_ED25519_TYPE = type(ed25519.Ed25519PublicKey.from_public_bytes(bytes(32)))  # the class, not a key


def alg_of(key: PublicKey) -> int:
    return ALG_EDDSA if _is_ed25519(key) else ALG_ES256


def load_raw_key(alg: int, raw: bytes) -> PublicKey:
    """A trust-list key: 32 raw bytes for Ed25519, a 65-byte uncompressed SEC1 point for P-256."""
    try:
        if alg == ALG_EDDSA and len(raw) == 32:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if alg == ALG_ES256 and len(raw) == 65 and raw[0] == 4:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise KeyFormatError(f"not a valid key for alg {alg}") from exc
    raise KeyFormatError(f"key of {len(raw)} bytes does not fit alg {alg}")


def load_cose_key(obj: Any) -> PublicKey:
    """A wallet key as a COSE_Key map: ``{1: 1, -1: 6, -2: x}`` or ``{1: 2, -1: 1, -2: x, -3: y}``."""
    if type(obj) is not dict or any(type(k) is not int for k in obj):
        raise KeyFormatError("COSE_Key must be a map with integer labels")
    kty, crv, x = obj.get(KTY), obj.get(CRV), obj.get(X)
    if type(kty) is not int or type(crv) is not int or type(x) is not bytes:
        raise KeyFormatError("COSE_Key needs integer kty and crv and a bstr x")
    if kty == KTY_OKP and crv == CRV_ED25519 and len(x) == 32:
        return load_raw_key(ALG_EDDSA, x)
    y = obj.get(Y)
    if kty == KTY_EC2 and crv == CRV_P256 and type(y) is bytes:
        if len(x) == _P256_ORDER_BYTES and len(y) == _P256_ORDER_BYTES:
            return load_raw_key(ALG_ES256, b"\x04" + x + y)
    raise KeyFormatError("wallet key is neither Ed25519 nor P-256")


def verify(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """True only for a valid signature; never raises for bad signature bytes."""
    if _is_ed25519(key):
        return _verify_ed25519(key, signature, message)
    try:
        if len(signature) != 2 * _P256_ORDER_BYTES:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        cast(ec.EllipticCurvePublicKey, key).verify(encode_dss_signature(r, s), message, _ECDSA_SHA256)
        return True
    except (InvalidSignature, ValueError):
        return False


SodiumVerify = Callable[[bytes, bytes, int, bytes], int]


def system_libsodium() -> SodiumVerify | None:
    """``crypto_sign_verify_detached`` of the system's libsodium (0 for a valid signature),
    or None where it is not installed. ``ctypes.CDLL`` releases the GIL during the call."""
    try:
        lib = ctypes.CDLL("libsodium.so.23")
        if lib.sodium_init() < 0:
            return None
        fn = lib.crypto_sign_verify_detached
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p)
    fn.restype = ctypes.c_int
    return cast(SodiumVerify, fn)


def pynacl_libsodium(signature: bytes, message: bytes, length: int, public: bytes) -> int:
    """The same through PyNaCl's own libsodium (the signed message copied in and out)."""
    try:
        crypto_sign_open(signature + message, public)
        return 0
    except CryptoError:
        return -1


_sodium: SodiumVerify = system_libsodium() or pynacl_libsodium


def _verify_ed25519(key: ed25519.Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != ED25519_SIG_LEN:
        return False
    # bytes only: a memoryview or bytearray goes to OpenSSL, which takes those
    if type(signature) is bytes and type(message) is bytes:
        if _sodium(signature, message, len(message), key.public_bytes_raw()) == 0:
            return True
    return verify_openssl(key, signature, message)


def verify_openssl(key: ed25519.Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """OpenSSL's answer alone (the reference the libsodium path is tested against)."""
    try:
        key.verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def load_pem_public_key(pem: bytes) -> PublicKey:
    """A pinned root key: PEM SubjectPublicKeyInfo, Ed25519 or P-256 only."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"not a PEM public key: {exc}") from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise KeyFormatError("root key must be Ed25519 or P-256")


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_fingerprint(key: PublicKey) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, hex: names a key in logs and pins."""
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return digest.finalize().hex()

"""The Ed25519 fast path (libsodium) answers exactly as OpenSSL does, edge cases included.

``pos.sigs.verify`` asks libsodium first and OpenSSL when libsodium refuses. These vectors are
the classic disagreements between Ed25519 implementations (small-order keys and R, non-canonical
encodings, S at or above the group order): whatever libsodium thinks of them, the answer must be
OpenSSL's, and libsodium must never accept what OpenSSL refuses. Each libsodium ``pos.sigs`` may
use is checked: the system's (where installed) and PyNaCl's own.
"""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pos import sigs

L = 2**252 + 27742317777372353535851937790883648493  # the group order
P = 2**255 - 19
SMALL_ORDER = [
    bytes.fromhex(h)
    for h in (
        "01" + "00" * 31,  # the identity
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
        "0000000000000000000000000000000000000000000000000000000000000080",  # order 4 (x < 0)
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    )
]
NON_CANONICAL = [  # y >= p: encodings no honest signer produces
    (P + 1).to_bytes(32, "little"),  # the identity, y = 1 + p
    ((P + 1) | 1 << 255).to_bytes(32, "little"),  # the same with the sign bit set
    (2**255 - 1).to_bytes(32, "little"),  # y = p + 18
    (P).to_bytes(32, "little"),  # y = 0 (mod p), order 4
]


_SYSTEM = sigs.system_libsodium()
BACKENDS = {"pynacl": sigs.pynacl_libsodium, **({"system": _SYSTEM} if _SYSTEM is not None else {})}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> sigs.SodiumVerify:
    """Each libsodium in turn, also as the one ``pos.sigs.verify`` asks."""
    fn = BACKENDS[request.param]
    monkeypatch.setattr(sigs, "_sodium", fn)
    return fn


def _accepts(backend: sigs.SodiumVerify, pub: bytes, sig: bytes, msg: bytes) -> bool:
    return backend(sig, msg, len(msg), pub) == 0


def _vectors() -> list[tuple[str, bytes, bytes, bytes]]:
    rng = random.Random(7)
    out: list[tuple[str, bytes, bytes, bytes]] = []
    for i in range(40):  # honest signatures, and each with one bit flipped
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        msg = rng.randbytes(rng.randrange(0, 300))
        sig = key.sign(msg)
        pub = key.public_key().public_bytes_raw()
        out.append((f"honest {i}", pub, sig, msg))
        bit = rng.randrange(64 * 8)
        flipped = bytearray(sig)
        flipped[bit // 8] ^= 1 << (bit % 8)
        out.append((f"flipped {i}", pub, bytes(flipped), msg))
        s = int.from_bytes(sig[32:], "little")
        out.append((f"S + L {i}", pub, sig[:32] + (s + L).to_bytes(32, "little"), msg))
    msg = b"any message at all"
    for a in SMALL_ORDER + NON_CANONICAL:
        for r in SMALL_ORDER + NON_CANONICAL:
            for s in (0, 1, L, L - 1):
                out.append((f"A {a.hex()[:8]} R {r.hex()[:8]} S {s}", a, r + s.to_bytes(32, "little"), msg))
    honest = Ed25519PrivateKey.from_private_bytes(bytes(32))
    sig = honest.sign(msg)
    for r in SMALL_ORDER:  # an honest key, a small-order R
        out.append((f"honest A, R {r.hex()[:8]}", honest.public_key().public_bytes_raw(), r + sig[32:], msg))
    return out


def _public(raw: bytes) -> Ed25519PublicKey | None:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def test_libsodium_never_accepts_what_openssl_refuses(backend: sigs.SodiumVerify) -> None:
    for name, pub, sig, msg in _vectors():
        key = _public(pub)
        if key is None:
            continue
        if _accepts(backend, pub, sig, msg):
            assert sigs.verify_openssl(key, sig, msg), name


def test_the_answer_is_openssls_on_every_edge_case(backend: sigs.SodiumVerify) -> None:
    checked = 0
    for name, pub, sig, msg in _vectors():
        key = _public(pub)
        if key is None:
            continue
        assert sigs.verify(key, sig, msg) is sigs.verify_openssl(key, sig, msg), name
        checked += 1
    assert checked > 500


def test_openssl_decides_what_libsodium_refuses(backend: sigs.SodiumVerify) -> None:
    """A small-order key with a zero signature: libsodium refuses it, OpenSSL takes it (which is
    why enrolment refuses small-order keys, ``pos.wire.protocol.weak_ed25519_key``). The fast path
    must not change that answer, so this fails if the OpenSSL fallback is removed."""
    identity = SMALL_ORDER[0]
    sig = identity + bytes(32)
    key = Ed25519PublicKey.from_public_bytes(identity)
    assert not _accepts(backend, identity, sig, b"m")
    assert sigs.verify(key, sig, b"m") is sigs.verify_openssl(key, sig, b"m")
    if not sigs.verify_openssl(key, sig, b"m"):
        pytest.skip("this OpenSSL refuses small-order keys too")
    assert sigs.verify(key, sig, b"m")


def test_bytes_like_signatures_and_messages_get_openssls_answer(backend: sigs.SodiumVerify) -> None:
    key = Ed25519PrivateKey.generate()
    sig = key.sign(b"message")
    assert sigs.verify(key.public_key(), memoryview(sig), memoryview(b"message"))
    assert sigs.verify(key.public_key(), bytearray(sig), b"message")
    assert not sigs.verify(key.public_key(), memoryview(sig), memoryview(b"other"))


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_a_signature_of_the_wrong_length_is_refused(backend: sigs.SodiumVerify, length: int) -> None:
    key = Ed25519PrivateKey.generate()
    sig = key.sign(b"m")
    assert not sigs.verify(key.public_key(), (sig * 3)[:length], b"m")


def test_the_systems_libsodium_is_the_one_asked_where_it_is_installed() -> None:
    assert (sigs._sodium is not sigs.pynacl_libsodium) is (_SYSTEM is not None)


def test_a_message_with_nul_bytes_is_verified_whole(backend: sigs.SodiumVerify) -> None:
    """ctypes passes bytes with their length: a NUL inside the message must not cut it short."""
    key = Ed25519PrivateKey.generate()
    msg = b"head\x00tail"
    sig = key.sign(msg)
    assert sigs.verify(key.public_key(), sig, msg)
    assert not _accepts(backend, key.public_key().public_bytes_raw(), sig, b"head\x00tai1")
    assert not sigs.verify(key.public_key(), sig, b"head\x00")

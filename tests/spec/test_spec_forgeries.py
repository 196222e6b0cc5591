"""Attacks on SPEC 1 and 3.1-3.3: algorithm confusion, header injection, invalid or malleable
signatures, tampered bytes. None may be approved; each names the code SPEC 3.5 assigns."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.spec.owt import (
    P256_N,
    Key,
    ed25519_s_plus_l,
    enc,
    es256_high_s_twin,
)
from tests.spec.terminal import Term, assert_approved, assert_declined

# --- algorithms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [0, -35, -36, -257, -37, -47, 1, 5])
def test_token_with_unsupported_integer_alg_is_alg_mismatch(term: Term, alg: int) -> None:
    """SPEC 3.2: an integer alg other than -8 and -7 is `alg_mismatch` (0 as "none", ES384, RS256,
    PS256, ES256K, A128GCM, HMAC)."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, cose={"alg": alg}), 1000), "alg_mismatch")


@pytest.mark.parametrize("alg", [-35, 0])
def test_certificate_with_unsupported_integer_alg_is_alg_mismatch(term: Term, alg: int) -> None:
    """SPEC 3.1 / 3.2: the certificate's alg must equal the issuer entry's; -35 or 0 never do."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, cert=w.cert(cose={"alg": alg})), 1000), "alg_mismatch")


@pytest.mark.parametrize("alg", ["none", "EdDSA", "ES256", None, b"\xf8", -8.0, True])
def test_non_integer_alg_is_never_accepted(term: Term, alg: object) -> None:
    """SPEC 1 / 3.2: alg is an integer. Ambiguity: a text/null/float/bool alg breaks the type rule
    (`malformed`) and is not a supported alg (`alg_mismatch`); either code, never an approval."""
    w = term.wallet()
    r = term.accept(w.token(term.now, cose={"protected": {1: alg}}), 1000)
    assert_declined(r, "malformed", "alg_mismatch")


@pytest.mark.parametrize(("kind", "claimed"), [("ed", -7), ("p256", -8)])
def test_token_alg_switch_is_alg_mismatch(term: Term, kind: str, claimed: int) -> None:
    """SPEC 3.1: no algorithm switching: the token's protected alg must fit the certificate key
    (Ed25519 -> -8, P-256 -> -7), whatever the signature bytes."""
    w = term.wallet(kind)
    assert_declined(term.accept(w.token(term.now, cose={"alg": claimed}), 1000), "alg_mismatch")


def test_p256_wallet_key_bytes_relabelled_as_ed25519_is_not_accepted(term: Term) -> None:
    """SPEC 3.1: the key type comes from the COSE_Key; an Ed25519-labelled key made of P-256 bytes
    with a P-256 signature never verifies. Ambiguity: the 32 bytes may not even decode as an Ed25519
    point, which a terminal may call `malformed`."""
    w = term.wallet("p256")
    fake_key = {1: 1, -1: 6, -2: w.key.public_raw[1:33]}
    r = term.accept(w.token(term.now, cert=w.cert({7: fake_key}), cose={"alg": -8}), 1000)
    assert_declined(r, "bad_token_signature", "malformed")


# --- header injection ---------------------------------------------------------------------------


def test_kid_only_in_unprotected_header_is_not_used(term: Term) -> None:
    """SPEC 1: nothing a terminal relies on may sit in the unprotected header. Ambiguity: without a
    protected kid the certificate is malformed or its issuer unknown; never approved."""
    w = term.wallet()
    cert = w.cert(cose={"kid": None, "unprotected": {4: w.issuer.kid}})
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "malformed", "unknown_issuer")


def test_unprotected_kid_does_not_override_unknown_protected_kid(term: Term) -> None:
    """SPEC 1: the protected kid (unknown here) decides; a valid kid in the unprotected map would make
    the same label appear in both buckets, which SPEC 1 makes malformed."""
    w = term.wallet()
    cert = w.cert(cose={"kid": os.urandom(8), "unprotected": {4: w.issuer.kid}})
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "malformed")


def test_second_kid_in_unprotected_header_is_malformed(term: Term) -> None:
    """SPEC 1: a header label in both the protected and unprotected maps makes the document malformed."""
    w = term.wallet()
    cert = w.cert(cose={"unprotected": {4: term.scheme.issuers["es"].kid}})
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "malformed")


def test_alg_injected_in_unprotected_header_is_not_used(term: Term) -> None:
    """SPEC 1 / 3.5: a missing protected alg is malformed, even with an alg in the unprotected map."""
    w = term.wallet()
    token = w.token(term.now, cose={"protected_bytes": b"", "unprotected": {1: -8}})
    assert_declined(term.accept(token, 1000), "malformed")


# --- invalid ES256 signatures (CVE-2022-21449 "psychic signatures" and friends) -------------------


def _rs(r: int, s: int) -> Callable[[bytes], bytes]:
    return lambda real: r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _keep_r(s: int) -> Callable[[bytes], bytes]:
    return lambda real: real[:32] + s.to_bytes(32, "big")


def _keep_s(r: int) -> Callable[[bytes], bytes]:
    return lambda real: r.to_bytes(32, "big") + real[32:]


ES256_FORGERIES: dict[str, Callable[[bytes], bytes]] = {
    "r=0 s=0": _rs(0, 0),
    "r=n s=n": _rs(P256_N, P256_N),
    "r=0 s=real": _keep_s(0),
    "r=real s=0": _keep_r(0),
    "r=real s=n": _keep_r(P256_N),
    "r=n s=real": _keep_s(P256_N),
    "r=real s=n+1": _keep_r(P256_N + 1),
    "r=s=2^256-1": _rs(2**256 - 1, 2**256 - 1),
    "r=1 s=1": _rs(1, 1),
    "all-zero 64 bytes": lambda real: bytes(64),
    "real r, s flipped bit": lambda real: real[:63] + bytes([real[63] ^ 1]),
}


@pytest.mark.parametrize("forge", list(ES256_FORGERIES), ids=list(ES256_FORGERIES))
def test_invalid_es256_token_signature_is_bad_token_signature(term: Term, forge: str) -> None:
    """SPEC 3.5 `bad_token_signature`: r or s of 0, n or above n never verify (CVE-2022-21449)."""
    w = term.wallet("p256")
    token = w.token(term.now, cose={"signature": ES256_FORGERIES[forge]})
    assert_declined(term.accept(token, 1000), "bad_token_signature")


@pytest.mark.parametrize("forge", ["r=0 s=0", "r=n s=n", "r=real s=n", "all-zero 64 bytes"])
def test_invalid_es256_certificate_signature_is_bad_issuer_signature(term: Term, forge: str) -> None:
    """SPEC 3.5 `bad_issuer_signature`: the same forgeries on a certificate of the P-256 issuer."""
    w = term.wallet("ed", "es")
    token = w.token(term.now, cert=w.cert(cose={"signature": ES256_FORGERIES[forge]}))
    assert_declined(term.accept(token, 1000), "bad_issuer_signature")


@pytest.mark.parametrize(
    "shape",
    ["63 bytes", "65 bytes", "empty", "DER-encoded"],
)
def test_es256_signature_not_64_byte_r_s_is_declined(term: Term, shape: str) -> None:
    """SPEC 1: ES256 signatures are the 64-byte r||s that COSE prescribes; other shapes (even a
    valid DER encoding of the real signature) never verify. Ambiguity: `bad_token_signature` or
    `malformed`."""

    def reshape(real: bytes) -> bytes:
        r, s = int.from_bytes(real[:32], "big"), int.from_bytes(real[32:], "big")
        return {
            "63 bytes": real[:63],
            "65 bytes": real + b"\x00",
            "empty": b"",
            "DER-encoded": encode_dss_signature(r, s),
        }[shape]

    w = term.wallet("p256")
    r = term.accept(w.token(term.now, cose={"signature": reshape}), 1000)
    assert_declined(r, "bad_token_signature", "malformed")


def test_es256_high_s_twin_is_a_replay_not_a_second_payment(term: Term) -> None:
    """SPEC 3.3: ECDSA is malleable: (r, n - s) also verifies. The twin of an approved token names the
    same (wallet id, counter), so it must be `replayed`, never a second payment."""
    w = term.wallet("p256", "es")
    token = w.token(term.now, counter=9)
    twin = w.token(term.now, counter=9, cose={"signature": es256_high_s_twin})
    assert token != twin
    assert_approved(term.accept(token, 1000))
    assert_declined(term.accept(twin, 1000), "replayed")


def test_ed25519_non_canonical_s_is_bad_signature_and_never_a_second_payment(term: Term) -> None:
    """SPEC 1 (EdDSA, RFC 8032 section 5.1.7: S >= L is invalid) and 3.3: S + L is refused as a
    signature on its own, and after the original was approved it cannot be a second payment."""
    w = term.wallet()
    fresh = w.token(term.now, counter=1, cose={"signature": ed25519_s_plus_l})
    assert_declined(term.accept(fresh, 1000), "bad_token_signature")
    token = w.token(term.now, counter=2)
    assert_approved(term.accept(token, 1000))
    twin = w.token(term.now, counter=2, cose={"signature": ed25519_s_plus_l})
    assert_declined(term.accept(twin, 1000), "replayed", "bad_token_signature")


def test_ed25519_non_canonical_s_on_certificate_is_bad_issuer_signature(term: Term) -> None:
    """RFC 8032 section 5.1.7 via SPEC 1: the issuer's EdDSA signature with S + L does not verify."""
    w = term.wallet()
    token = w.token(term.now, cert=w.cert(cose={"signature": ed25519_s_plus_l}))
    assert_declined(term.accept(token, 1000), "bad_issuer_signature")


# --- tampering and substitution -------------------------------------------------------------------


def test_amount_raised_after_signing_is_bad_token_signature(term: Term) -> None:
    """SPEC 1: the token signature covers the payload bytes: a raised label 12 no longer verifies."""
    w = term.wallet()
    signed = w.token_payload(term.now, counter=1, amount=10)
    sent = {**signed, 12: 9000}
    token = w.token(term.now, payload=enc(sent), cose={"signed_payload": enc(signed)})
    assert_declined(term.accept(token, 9000), "bad_token_signature")


def test_payload_reencoded_in_another_key_order_is_bad_token_signature(term: Term) -> None:
    """SPEC 1: the signature is over the exact payload bytes, not over a re-encoding of the map."""
    w = term.wallet()
    payload = w.token_payload(term.now, counter=1)
    reordered = dict(reversed(list(payload.items())))
    token = w.token(term.now, payload=enc(reordered), cose={"signed_payload": enc(payload)})
    assert_declined(term.accept(token, 1000), "bad_token_signature")


def test_signature_not_covering_protected_header_is_bad_token_signature(term: Term) -> None:
    """SPEC 1: Sig_structure is ["Signature1", protected, h'', payload]: a signature made with an
    empty protected bstr does not verify for a token carrying {1: -8}."""
    w = term.wallet()
    token = w.token(term.now, cose={"signed_protected": b""})
    assert_declined(term.accept(token, 1000), "bad_token_signature")


def test_signature_with_external_aad_is_bad_token_signature(term: Term) -> None:
    """SPEC 1: external_aad is empty; a signature over a Sig_structure with other aad fails."""
    w = term.wallet()
    payload = enc(w.token_payload(term.now, counter=1))
    protected = enc({1: -8})
    sig = w.key.sign(enc(["Signature1", protected, b"aad", payload]))
    token = w.token(term.now, payload=payload, cose={"protected_bytes": protected, "signature": sig})
    assert_declined(term.accept(token, 1000), "bad_token_signature")


def test_signature_over_plain_payload_is_bad_token_signature(term: Term) -> None:
    """SPEC 1: the signature input is the COSE Sig_structure, not the bare payload."""
    w = term.wallet()
    payload = enc(w.token_payload(term.now, counter=1))
    token = w.token(term.now, payload=payload, cose={"signature": w.key.sign(payload)})
    assert_declined(term.accept(token, 1000), "bad_token_signature")


def test_certificate_limits_raised_after_issuance_is_bad_issuer_signature(term: Term) -> None:
    """SPEC 1: the issuer signature covers the certificate: raising the limits breaks it (the wallet
    then signs the tampered certificate, so only the issuer signature fails)."""
    w = term.wallet(limit=100, cumulative=100)
    honest = w.cert_payload()
    raised = {**honest, 9: 10**9, 10: 10**9}
    cert = w.cert(payload=enc(raised), cose={"signed_payload": enc(honest)})
    assert_declined(term.accept(w.token(term.now, cert=cert, amount=5000), 5000), "bad_issuer_signature")


def test_token_signed_by_another_key_is_bad_token_signature(term: Term) -> None:
    """SPEC 1: the token is verified with the certificate's key (label 7), not any key."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, cose={"key": Key("ed")}), 1000), "bad_token_signature")


def test_certificate_self_issued_under_a_real_kid_is_bad_issuer_signature(term: Term) -> None:
    """SPEC 1: a certificate is verified with the trust list's key for its kid."""
    w = term.wallet()
    cert = w.cert(cose={"key": Key("ed")})
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "bad_issuer_signature")


def test_certificate_signed_by_other_issuer_under_first_issuers_kid(term: Term) -> None:
    """SPEC 3.1: the kid selects the key; another trusted issuer's signature under it fails."""
    term.scheme.add_issuer("ed2", "ed")
    term.tl = term.scheme.trust_list()
    w = term.wallet()
    cert = w.cert(cose={"key": term.scheme.issuers["ed2"].key})
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "bad_issuer_signature")


def test_stolen_certificate_with_attacker_key_cannot_pay(term: Term) -> None:
    """SPEC 1: a victim's certificate with the attacker's own token signature does not verify."""
    victim = term.wallet()
    attacker = term.wallet()
    token = attacker.token(term.now, cert=victim.cert(), changes={6: victim.wallet_id})
    assert_declined(term.accept(token, 1000), "bad_token_signature")


def test_trust_list_signed_as_token_payload_is_not_a_certificate(term: Term) -> None:
    """SPEC 1: a root-signed trust list is not a typ-3 certificate (typ 1 in label 0)."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, cert=term.tl), 1000), "malformed")


def test_certificate_presented_as_a_token_is_malformed(term: Term) -> None:
    """SPEC 3.5 `malformed`: anything that is not a typ-4 token, e.g. a bare (valid) certificate."""
    w = term.wallet()
    assert_declined(term.accept(w.cert(), 1000), "malformed")


def test_nested_token_in_certificate_slot_is_malformed(term: Term) -> None:
    """SPEC 1: label 16 must hold a typ-3 document, not another token."""
    w = term.wallet()
    inner = w.token(term.now, counter=1)
    assert_declined(term.accept(w.token(term.now, counter=2, cert=inner), 1000), "malformed")

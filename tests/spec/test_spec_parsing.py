"""SPEC 1, 2 and 3.2 (parsing is strict): what is a well-formed OWT1 token, byte by byte.

Every malformed case changes one thing in an otherwise valid, correctly signed token (the
signatures cover the broken bytes, so only the parser can object).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.spec.owt import (
    DROP,
    Nfc,
    Raw,
    Wallet,
    b45decode,
    b45encode,
    cbor_deep_array,
    cbor_head,
    cbor_indef_array,
    cbor_indef_bstr,
    cbor_indef_map,
    cbor_indef_tstr,
    cbor_map_pairs,
    cbor_tag,
    cbor_uint_long,
    enc,
    qr_text,
)
from tests.spec.terminal import Pres, Term, assert_approved, assert_declined

Case = Callable[[Term, Wallet], Pres]


def _items_then(payload: dict[Any, Any], *extra: tuple[Any, Any]) -> bytes:
    return cbor_map_pairs([*payload.items(), *extra])


def _chunked_payload(arr: list[Any]) -> bytes:
    p = arr[2]
    return b"\x84" + enc(arr[0]) + enc(arr[1]) + cbor_indef_bstr(p[:10], p[10:]) + enc(arr[3])


def test_rfc9285_base45_examples_self_check() -> None:
    """RFC 9285 section 4.2 examples: the factory's own encoder is right before it is used."""
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45encode(b"base-45") == "UJCLQE7W581"
    assert b45encode(b"ietf!") == "QED8WEX0"
    assert b45decode("QED8WEX0") == b"ietf!"


def test_well_formed_qr_token_is_approved(term: Term) -> None:
    """SPEC 1, 2: a token built from the spec's tables alone is approved (the baseline)."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, amount=1000), 1000))


@pytest.mark.parametrize(("issuer", "kind"), [("ed", "ed"), ("ed", "p256"), ("es", "ed"), ("es", "p256")])
def test_both_algorithms_are_supported_for_issuer_and_wallet_keys(term: Term, issuer: str, kind: str) -> None:
    """SPEC 1: Ed25519 (-8) and ES256 (-7, 64-byte r||s) must be supported for issuer and wallet keys."""
    w = term.wallet(kind, issuer)
    assert_approved(term.accept(w.token(term.now), 1000))
    nfc = Nfc(700)
    assert_approved(term.accept(w.token(term.now, nfc=nfc), 700, nfc=nfc))


# Each case: one rule of SPEC 3.2's strict parsing broken in an otherwise valid token -> malformed.
MALFORMED: dict[str, Case] = {
    # definite lengths only
    "indefinite outer array": lambda t, w: Pres(w.token(t.now, cose={"array": cbor_indef_array})),
    "indefinite payload map": lambda t, w: Pres(
        w.token(t.now, payload=cbor_indef_map(w.token_payload(t.now).items()))
    ),
    "indefinite payload bstr": lambda t, w: Pres(w.token(t.now, cose={"array": _chunked_payload})),
    "indefinite currency tstr": lambda t, w: Pres(
        w.token(t.now, changes={8: Raw(cbor_indef_tstr("E", "UR"))})
    ),
    "indefinite protected map": lambda t, w: Pres(
        w.token(t.now, cose={"protected_bytes": cbor_indef_map([(1, -8)])})
    ),
    "indefinite cert payload map": lambda t, w: Pres(
        w.token(t.now, cert=w.cert(payload=cbor_indef_map(w.cert_payload().items())))
    ),
    "indefinite cert wallet id": lambda t, w: Pres(
        w.token(
            t.now,
            changes={6: Raw(cbor_indef_bstr(w.wallet_id[:4], w.wallet_id[4:]))},
            cert=w.cert({6: Raw(cbor_indef_bstr(w.wallet_id[:4], w.wallet_id[4:]))}),
        )
    ),
    "indefinite COSE_Key map": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: Raw(cbor_indef_map(w.key.cose_key().items()))}))
    ),
    "indefinite cert bstr": lambda t, w: Pres(
        w.token(t.now, changes={16: Raw(cbor_indef_bstr(w.cert()[:20], w.cert()[20:]))})
    ),
    # no duplicate map keys
    "duplicate token label 12": lambda t, w: Pres(
        w.token(t.now, payload=_items_then(w.token_payload(t.now, amount=1000), (12, 999_999)))
    ),
    "duplicate token label same value": lambda t, w: Pres(
        w.token(t.now, payload=_items_then(w.token_payload(t.now, counter=7), (11, 7)))
    ),
    "duplicate cert limit": lambda t, w: Pres(
        w.token(t.now, cert=w.cert(payload=_items_then(w.cert_payload(), (9, 10**9))))
    ),
    "duplicate protected alg": lambda t, w: Pres(
        w.token(t.now, cose={"protected_bytes": cbor_map_pairs([(1, -8), (1, -8)])})
    ),
    "duplicate cert protected kid": lambda t, w: Pres(
        w.token(
            t.now,
            cert=w.cert(
                cose={"protected_bytes": cbor_map_pairs([(1, -8), (4, w.issuer.kid), (4, w.issuer.kid)])}
            ),
        )
    ),
    "duplicate COSE_Key label": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: Raw(_items_then(w.key.cose_key(), (-2, w.key.public_raw)))}))
    ),
    # Ambiguity: the unprotected map is ignored, but parsing of the token is strict; safest reading
    # is that a duplicate key anywhere in the token makes it malformed.
    "duplicate unprotected label": lambda t, w: Pres(
        w.token(t.now, cose={"unprotected": cbor_map_pairs([(99, 1), (99, 2)])})
    ),
    # no trailing bytes
    "trailing byte after COSE_Sign1": lambda t, w: Pres(w.token(t.now, cose={"trailing": b"\x00"})),
    "trailing byte inside payload bstr": lambda t, w: Pres(
        w.token(t.now, payload=enc(w.token_payload(t.now)) + b"\x00")
    ),
    "trailing byte inside cert bstr": lambda t, w: Pres(w.token(t.now, cert=w.cert() + b"\x00")),
    "trailing byte inside cert payload": lambda t, w: Pres(
        w.token(t.now, cert=w.cert(payload=enc(w.cert_payload()) + b"\xf6"))
    ),
    "trailing byte inside protected bstr": lambda t, w: Pres(
        w.token(t.now, cose={"protected_bytes": enc({1: -8}) + b"\x00"})
    ),
    # types: unsigned integers only where SPEC says so
    "negative counter": lambda t, w: Pres(w.token(t.now, changes={11: -1})),
    "float amount": lambda t, w: Pres(w.token(t.now, changes={12: 1000.0})),
    "half-float amount": lambda t, w: Pres(w.token(t.now, changes={12: Raw(b"\xf9\x63\xd0")})),
    "bool amount (true == 1)": lambda t, w: Pres(w.token(t.now, changes={12: True}), amount=1),
    "bignum amount": lambda t, w: Pres(w.token(t.now, changes={12: Raw(cbor_tag(2, b"\x03\xe8"))})),
    "tagged iat (tag 1)": lambda t, w: Pres(w.token(t.now, changes={1: Raw(cbor_tag(1, t.now))})),
    "float exp": lambda t, w: Pres(w.token(t.now, changes={2: float(t.now + 60)})),
    "text counter": lambda t, w: Pres(w.token(t.now, changes={11: "1"})),
    "null counter": lambda t, w: Pres(w.token(t.now, changes={11: None})),
    "undefined counter": lambda t, w: Pres(w.token(t.now, changes={11: Raw(b"\xf7")})),
    "negative cert limit": lambda t, w: Pres(w.token(t.now, cert=w.cert({9: -10_000}))),
    "float cert cumulative limit": lambda t, w: Pres(w.token(t.now, cert=w.cert({10: 50_000.0}))),
    "bool cert cumulative limit": lambda t, w: Pres(w.token(t.now, cert=w.cert({10: True}))),
    "bignum cert iat": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({1: Raw(cbor_tag(2, (t.now - 3600).to_bytes(4, "big")))}))
    ),
    "negative cert exp": lambda t, w: Pres(w.token(t.now, cert=w.cert({2: -1}))),
    "currency as bytes": lambda t, w: Pres(w.token(t.now, changes={8: b"EUR"})),
    "cert currency as int": lambda t, w: Pres(w.token(t.now, cert=w.cert({8: 978}))),
    "typ as text": lambda t, w: Pres(w.token(t.now, changes={0: "4"})),
    # wallet id and kid exactly 8 bytes
    "wallet id 7 bytes": lambda t, w: Pres(
        w.token(t.now, changes={6: w.wallet_id[:7]}, cert=w.cert({6: w.wallet_id[:7]}))
    ),
    "wallet id 9 bytes": lambda t, w: Pres(
        w.token(t.now, changes={6: w.wallet_id + b"\x00"}, cert=w.cert({6: w.wallet_id + b"\x00"}))
    ),
    "wallet id as text": lambda t, w: Pres(
        w.token(t.now, changes={6: w.wallet_id.hex()}, cert=w.cert({6: w.wallet_id.hex()}))
    ),
    "kid 7 bytes": lambda t, w: Pres(w.token(t.now, cert=w.cert(cose={"kid": w.issuer.kid[:7]}))),
    "kid 9 bytes": lambda t, w: Pres(w.token(t.now, cert=w.cert(cose={"kid": w.issuer.kid + b"\x00"}))),
    "kid as text": lambda t, w: Pres(
        w.token(t.now, cert=w.cert(cose={"protected": {4: w.issuer.kid.hex()}}))
    ),
    # exp >= iat, exp - iat <= 120
    "token exp before iat": lambda t, w: Pres(w.token(t.now, iat=t.now, exp=t.now - 1)),
    "token exp - iat = 121": lambda t, w: Pres(w.token(t.now, iat=t.now - 60, exp=t.now + 61)),
    "cert exp before iat": lambda t, w: Pres(w.token(t.now, cert=w.cert({1: t.now - 10, 2: t.now - 11}))),
    # typ
    "token typ 3": lambda t, w: Pres(w.token(t.now, changes={0: 3})),
    "cert typ 4": lambda t, w: Pres(w.token(t.now, cert=w.cert({0: 4}))),
    "cert label holds a trust list": lambda t, w: Pres(w.token(t.now, cert=t.tl)),
    # structure of COSE_Sign1
    "COSE array of 3": lambda t, w: Pres(w.token(t.now, cose={"array": lambda a: enc(a[:3])})),
    "COSE array of 5": lambda t, w: Pres(w.token(t.now, cose={"array": lambda a: enc([*a, b""])})),
    "protected as map not bstr": lambda t, w: Pres(
        w.token(t.now, cose={"array": lambda a: enc([{1: -8}, *a[1:]])})
    ),
    "unprotected as array": lambda t, w: Pres(w.token(t.now, cose={"unprotected": enc([1])})),
    "signature as text": lambda t, w: Pres(w.token(t.now, cose={"array": lambda a: enc([*a[:3], "sig"])})),
    "detached (nil) payload": lambda t, w: Pres(
        w.token(t.now, cose={"array": lambda a: enc([a[0], a[1], None, a[3]])})
    ),
    "payload is an array": lambda t, w: Pres(w.token(t.now, payload=enc([4, t.now]))),
    "cert label as embedded map": lambda t, w: Pres(w.token(t.now, cert=Raw(enc(w.cert_payload())))),
    "cert label as text": lambda t, w: Pres(w.token(t.now, changes={16: "cert"})),
    "token is a bare map": lambda t, w: Pres(enc(w.token_payload(t.now))),
    "tag 17 (COSE_Mac0) instead of 18": lambda t, w: Pres(w.token(t.now, cose={"tag": 17})),
    "tag 98 (COSE_Sign) on cert": lambda t, w: Pres(w.token(t.now, cert=w.cert(cose={"tag": 98}))),
    # wallet keys are Ed25519 or P-256 only
    "COSE_Key Ed448 curve": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: {1: 1, -1: 7, -2: w.key.public_raw}}))
    ),
    "COSE_Key X25519 curve": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: {1: 1, -1: 4, -2: w.key.public_raw}}))
    ),
    "COSE_Key Ed25519 x 31 bytes": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: {1: 1, -1: 6, -2: w.key.public_raw[:31]}}))
    ),
    "COSE_Key P-256 x 31 bytes": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: {1: 2, -1: 1, -2: bytes(31) + b"\x01", -3: bytes(32)}}))
    ),
    "COSE_Key P-384 curve": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: {1: 2, -1: 2, -2: bytes(48), -3: bytes(48)}}))
    ),
    "COSE_Key EC2 without y": lambda t, w: Pres(
        w.token(t.now, cert=w.cert({7: {1: 2, -1: 1, -2: bytes(32)}}))
    ),
    "COSE_Key symmetric kty 4": lambda t, w: Pres(w.token(t.now, cert=w.cert({7: {1: 4, -1: b"k" * 32}}))),
    "COSE_Key missing": lambda t, w: Pres(w.token(t.now, cert=w.cert({7: DROP}))),
    "COSE_Key as bytes": lambda t, w: Pres(w.token(t.now, cert=w.cert({7: w.key.public_raw}))),
    # mode labels
    "both QR and NFC labels (QR request)": lambda t, w: Pres(
        w.token(t.now, changes={13: 1000, 14: b"\x01" * 16, 15: "T-0001"})
    ),
    "NFC without label 15": lambda t, w: _nfc(t, w, {15: DROP}),
    "NFC without label 14": lambda t, w: _nfc(t, w, {14: DROP}),
    "NFC without label 13": lambda t, w: _nfc(t, w, {13: DROP}),
    "NFC challenge 15 bytes": lambda t, w: _nfc(t, w, {14: bytes(15)}, challenge=bytes(16)),
    "NFC challenge 17 bytes": lambda t, w: _nfc(t, w, {14: bytes(17)}, challenge=bytes(16)),
    "NFC challenge as text": lambda t, w: _nfc(t, w, {14: "0" * 16}),
    "NFC terminal id as bytes": lambda t, w: _nfc(t, w, {15: b"T-0001"}),
    "NFC negative amount": lambda t, w: _nfc(t, w, {13: -700}),
    "NFC float amount": lambda t, w: _nfc(t, w, {13: 700.0}),
    # non-integer map keys
    "text key in token payload": lambda t, w: Pres(w.token(t.now, changes={"x": 1})),
    "bytes key in token payload": lambda t, w: Pres(w.token(t.now, changes={b"\x0c": 1})),
    "text key in cert payload": lambda t, w: Pres(w.token(t.now, cert=w.cert({"limit": 10**9}))),
    # protected header
    "crit header in token": lambda t, w: Pres(w.token(t.now, cose={"protected": {2: [99]}})),
    "crit header in cert": lambda t, w: Pres(w.token(t.now, cert=w.cert(cose={"protected": {2: [99]}}))),
    "empty crit header": lambda t, w: Pres(w.token(t.now, cose={"protected": {2: []}})),
    "alg in both header buckets": lambda t, w: Pres(w.token(t.now, cose={"unprotected": {1: -8}})),
    "kid in both header buckets": lambda t, w: Pres(
        w.token(t.now, cert=w.cert(cose={"unprotected": {4: w.issuer.kid}}))
    ),
    "missing protected alg (empty protected)": lambda t, w: Pres(
        w.token(t.now, cose={"protected": {1: DROP}})
    ),
    "missing protected alg (empty map encoded)": lambda t, w: Pres(
        w.token(t.now, cose={"protected_bytes": b"\xa0"})
    ),
    "alg only in unprotected": lambda t, w: Pres(
        w.token(t.now, cose={"protected": {1: DROP}, "unprotected": {1: -8}})
    ),
    "cert without protected alg": lambda t, w: Pres(
        w.token(t.now, cert=w.cert(cose={"protected": {1: DROP}}))
    ),
    # Ambiguity: SPEC lists kid among the protected header of typ 3; a certificate without one is
    # not a well-formed typ-3 document (safest reading: malformed, not unknown_issuer).
    "cert without kid": lambda t, w: Pres(w.token(t.now, cert=w.cert(cose={"protected": {4: DROP}}))),
    "protected header is not a map": lambda t, w: Pres(
        w.token(t.now, cose={"protected_bytes": enc([1, -8])})
    ),
}

REQUIRED_TOKEN_LABELS = [0, 1, 2, 6, 8, 11, 12, 16]
REQUIRED_CERT_LABELS = [0, 1, 2, 6, 7, 8, 9, 10]


def _nfc(t: Term, w: Wallet, changes: dict[Any, Any], challenge: bytes | None = None) -> Pres:
    nfc = Nfc(700) if challenge is None else Nfc(700, challenge)
    return Pres(w.token(t.now, nfc=nfc, changes=changes), 700, nfc)


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_strict_parsing_declines_malformed(term: Term, case: str) -> None:
    """SPEC 3.2 (parsing is strict) and 3.5 `malformed`: one broken rule in a validly signed token."""
    w = term.wallet()
    assert_declined(MALFORMED[case](term, w).at(term), "malformed")


@pytest.mark.parametrize("label", REQUIRED_TOKEN_LABELS)
def test_token_missing_required_label_is_malformed(term: Term, label: int) -> None:
    """SPEC 3.2: required labels present (SPEC 1's typ-4 table; 12 is the QR mode's amount)."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, changes={label: DROP}), 1000), "malformed")


@pytest.mark.parametrize("label", REQUIRED_CERT_LABELS)
def test_certificate_missing_required_label_is_malformed(term: Term, label: int) -> None:
    """SPEC 3.2 and 3.5: a token holding a typ-3 certificate without one of its labels is malformed."""
    w = term.wallet()
    token = w.token(term.now, cert=w.cert({label: DROP}))
    assert_declined(term.accept(token, 1000), "malformed")


def test_both_qr_and_nfc_labels_in_nfc_request_is_malformed(term: Term) -> None:
    """SPEC 1 (never both) and 3.5 `malformed`: also when the terminal asked over NFC."""
    w = term.wallet()
    nfc = Nfc(700)
    token = w.token(term.now, nfc=nfc, changes={12: 700})
    assert_declined(term.accept(token, 700, nfc=nfc), "malformed")


def test_token_exp_minus_iat_of_exactly_120_is_approved(term: Term) -> None:
    """SPEC 1: exp - iat at most 120 s; 120 itself is allowed."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, iat=term.now - 60, exp=term.now + 60), 1000))


def test_token_with_exp_equal_iat_is_approved(term: Term) -> None:
    """SPEC 3.2: `exp >= iat` (equality allowed) and `now <= exp`."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, iat=term.now, exp=term.now), 1000))


def test_unknown_integer_labels_are_ignored(term: Term) -> None:
    """SPEC 3.2: unknown integer payload labels are ignored (forward compatibility): approved."""
    w = term.wallet()
    extra = {99: "future", 1000: {1: [1, 2, b"x"]}, -7: b"\x00" * 3, 17: 1.5}
    token = w.token(term.now, changes=extra, cert=w.cert({99: "future", 4242: [True, None]}))
    assert_approved(term.accept(token, 1000))


def test_unknown_integer_labels_are_ignored_in_nfc_mode(term: Term) -> None:
    """SPEC 3.2: unknown labels (here 17, 40) are not mode labels and do not disturb NFC mode."""
    w = term.wallet()
    nfc = Nfc(700)
    token = w.token(term.now, nfc=nfc, changes={17: 1, 40: "x"})
    assert_approved(term.accept(token, 700, nfc=nfc))


def test_unprotected_header_contents_are_ignored(term: Term) -> None:
    """SPEC 1: unprotected headers are ignored on every document (no label shared with protected)."""
    w = term.wallet()
    cert = w.cert(cose={"unprotected": {99: "note", 33: b"\x00" * 40}})
    token = w.token(term.now, cert=cert, cose={"unprotected": {5: b"\x00" * 12, 99: [1, 2]}})
    assert_approved(term.accept(token, 1000))


@pytest.mark.parametrize("where", ["token", "cert", "both"])
def test_cose_tag_18_is_optional(term: Term, where: str) -> None:
    """SPEC 1: CBOR tag 18 optional on input, on the token and on the certificate inside it."""
    w = term.wallet()
    cert = w.cert(cose={"tag": where in ("cert", "both")})
    token = w.token(term.now, cert=cert, cose={"tag": where in ("token", "both")})
    assert_approved(term.accept(token, 1000))


def test_trust_and_deny_lists_with_tag_18_are_installed(term: Term) -> None:
    """SPEC 1: tag 18 is optional on every COSE_Sign1, lists included."""
    term.tl = term.scheme.trust_list(cose={"tag": True})
    term.dl = term.scheme.deny_list(cose={"tag": True})
    assert_approved(term.accept(term.wallet().token(term.now), 1000))


def test_non_shortest_integer_encoding_is_still_an_unsigned_integer(term: Term) -> None:
    """SPEC 3.2 requires major type 0, definite lengths, no duplicates; it does not require preferred
    serialisation, so a counter in an 8-byte head is a valid unsigned integer (interoperability)."""
    w = term.wallet()
    token = w.token(term.now, changes={11: Raw(cbor_uint_long(5, 8))})
    assert_approved(term.accept(token, 1000))


# 2^63 and above once declined `storage_failure` (SQLite INTEGER overflow); fixed in 39ec185.
@pytest.mark.parametrize("counter", [2**63 - 1, 2**63, 2**64 - 1])
def test_large_unsigned_counter_is_valid_and_then_replayed(term: Term, counter: int) -> None:
    """SPEC 1 and 3.2: the counter is an unsigned integer (major type 0, up to 2^64-1). A large one
    must not break the terminal: approved once, then a replay (SPEC 3.3)."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, counter=counter), 1000))
    assert_declined(term.accept(w.token(term.now, counter=counter), 1000), "replayed")


def test_huge_unsigned_amount_is_over_the_limit_not_a_crash(term: Term) -> None:
    """SPEC 3.2: label 12 = 2^64-1 is a well-formed amount above the per-payment limit."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, amount=2**64 - 1), 1000), "amount_exceeds_limit")


def _padded_token(term: Term, w: Wallet, size: int) -> bytes:
    pad = 0
    for _ in range(10):
        token = w.token(term.now, counter=1, changes={99: b"\x00" * pad})
        if len(token) == size:
            break
        pad = max(0, pad + size - len(token))
    return token


def test_token_of_exactly_2048_bytes_is_approved(term: Term) -> None:
    """SPEC 3.2: whole token (the typ-4 COSE_Sign1 bytes) at most 2048 bytes; 2048 is allowed.
    Ambiguity: "whole token" read as the COSE bytes, not the base45 text (which is 1.5x longer)."""
    w = term.wallet()
    token = _padded_token(term, w, 2048)
    assert len(token) == 2048
    assert_approved(term.accept(token, 1000))


@pytest.mark.parametrize("size", [2049, 3000, 100_000])
def test_token_over_2048_bytes_is_malformed(term: Term, size: int) -> None:
    """SPEC 3.2: whole token at most 2048 bytes; larger (validly signed) tokens are malformed."""
    w = term.wallet()
    token = _padded_token(term, w, size)
    assert len(token) == size
    assert_declined(term.accept(token, 1000), "malformed")


@pytest.mark.parametrize("prefix", ["OWT2:", "OWT0:", "OWT10:", "OWT9:"])
def test_other_version_prefix_is_unsupported_version(term: Term, prefix: str) -> None:
    """SPEC 3.5 `unsupported_version`: QR/serial text `OWT<n>:` with n not 1 (even if the rest is
    a perfectly good OWT1 token)."""
    w = term.wallet()
    assert_declined(term.accept(qr_text(w.token(term.now), prefix), 1000), "unsupported_version")


def test_other_version_with_garbage_body_is_still_unsupported_version(term: Term) -> None:
    """SPEC 3.5: `unsupported_version` comes before `malformed` in the table."""
    assert_declined(term.accept("OWT2:this is not base45 at all!", 1000), "unsupported_version")


GARBAGE: dict[str, str] = {
    "empty": "",
    "prefix only": "OWT1:",
    "no prefix": b45encode(b"\xa0"),
    "no colon": "OWT1" + b45encode(b"\x80"),
    "hello": "hello",
    "lowercase base45": "OWT1:abc",
    "base45 triple over 65535": "OWT1:::::::",
    "base45 length 1 mod 3": "OWT1:A",
    "base45 length 4": "OWT1:AAAA",
    "character outside base45": "OWT1:AB#",
    "non-ASCII": "OWT1:\u00e9\u00e9\u00e9",
    "base45 of a CBOR int": "OWT1:" + b45encode(b"\x01"),
    "base45 of truncated CBOR": "OWT1:" + b45encode(b"\x84\x43\xa1\x01\x27"),
    "bstr claiming 2^63 bytes": "OWT1:" + b45encode(b"\x84\x5b" + (2**63).to_bytes(8, "big")),
    "array claiming 2^32 items": "OWT1:" + b45encode(b"\x9b" + (2**32).to_bytes(8, "big")),
    "map claiming 2^32 pairs": "OWT1:" + b45encode(b"\xbb" + (2**32).to_bytes(8, "big") + b"\x00"),
    "deeply nested arrays": "OWT1:" + b45encode(cbor_deep_array(1400)),
    "deeply nested tags": "OWT1:" + b45encode(cbor_head(6, 18) * 1000 + b"\x00"),
    "reserved additional info 28": "OWT1:" + b45encode(b"\x1c"),
    "break outside indefinite": "OWT1:" + b45encode(b"\xff"),
    "lone CBOR break in array": "OWT1:" + b45encode(b"\x84\xff\xa0\x40\x40"),
    "one OWT1 text twice": "OWT1:" + b45encode(b"\xa0") + "OWT1:" + b45encode(b"\xa0"),
}


@pytest.mark.parametrize("case", list(GARBAGE), ids=list(GARBAGE))
def test_garbage_text_is_malformed_not_a_crash(term: Term, case: str) -> None:
    """SPEC 3 (bad input of any size or shape is a decline, never a crash) and 3.5 `malformed`."""
    r = term.accept(GARBAGE[case], 1000)
    assert_declined(r, "malformed")
    assert r.doc is not None and r.doc.get("wallet_id") is None and r.doc.get("seq") is None


def test_deep_nesting_under_an_unknown_label_is_a_decision_not_a_crash(term: Term) -> None:
    """SPEC 3: never a crash. Ambiguity: deep nesting in an ignored label (within 2048 bytes) may be
    ignored (approved) or refused as malformed; either is a clean decision."""
    w = term.wallet()
    token = w.token(term.now, changes={99: Raw(cbor_deep_array(1500))})
    assert len(token) <= 2048
    r = term.accept(token, 1000)
    assert (r.code, r.reason) in ((0, None), (1, "malformed")), str(r)


def test_off_curve_p256_wallet_key_is_declined(term: Term) -> None:
    """SPEC 3.2: wallet keys are P-256 points; a point not on the curve cannot verify anything.
    Ambiguity: a parser may call it `malformed` or the verifier `bad_token_signature`."""
    w = term.wallet("p256")
    ck = w.key.cose_key()
    ck[-3] = bytes(31) + b"\x01"
    assert_declined(
        term.accept(w.token(term.now, cert=w.cert({7: ck})), 1000), "malformed", "bad_token_signature"
    )


def test_counter_zero_is_a_valid_unsigned_integer(term: Term) -> None:
    """SPEC 1: counter is unsigned; 0 is a value like any other."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, counter=0), 1000))
    assert_declined(term.accept(w.token(term.now, counter=0), 1000), "replayed")


U64 = 2**64 - 1


@pytest.mark.parametrize(
    "where",
    ["cert exp", "cert limits", "issuer exp", "trust list next_update", "trust list seq", "deny list seq"],
)
def test_largest_unsigned_values_in_valid_places(term: Term, where: str) -> None:
    """SPEC 1 / 3.2: times, limits and seq are unsigned integers (major type 0, up to 2^64-1). The
    largest value is a legal "never" / "no limit" and must give a normal approval, not a crash."""
    w = term.wallet()
    if where == "cert exp":
        w.exp = U64
    elif where == "cert limits":
        w.limit = w.cumulative = U64
    elif where == "issuer exp":
        term.scheme.issuers["ed"].exp = U64
        term.tl = term.scheme.trust_list()
    elif where == "trust list next_update":
        term.tl = term.scheme.trust_list(next_update=U64)
    elif where == "trust list seq":
        term.tl = term.scheme.trust_list(seq=U64)
    else:
        term.dl = term.scheme.deny_list(seq=U64)
    r = term.accept(w.token(term.now, amount=1000), 1000)
    assert_approved(r)
    assert_approved(term.accept(w.token(term.now, amount=1000), 1000))

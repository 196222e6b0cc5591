"""SPEC 3.2 (validity): times with skew, identities, currencies, NFC binding, QR amounts, modes."""

from __future__ import annotations

import pytest

from tests.spec.owt import DAY, Nfc
from tests.spec.terminal import Term, assert_approved, assert_declined

SKEW = 30  # SPEC 3.2: default skew


@pytest.mark.parametrize(("iat", "reason"), [(SKEW, None), (SKEW + 1, "certificate_not_yet_valid")])
def test_certificate_iat_with_skew_boundary(term: Term, iat: int, reason: str | None) -> None:
    """SPEC 3.2: certificate `iat - skew <= now` (30 s)."""
    w = term.wallet(iat=term.now + iat)
    r = term.accept(w.token(term.now), 1000)
    assert_approved(r) if reason is None else assert_declined(r, reason)


@pytest.mark.parametrize(("exp", "reason"), [(0, None), (-1, "certificate_expired")])
def test_certificate_exp_boundary_has_no_skew(term: Term, exp: int, reason: str | None) -> None:
    """SPEC 3.2: certificate `now <= exp` (the skew is on the iat side only)."""
    w = term.wallet(exp=term.now + exp)
    r = term.accept(w.token(term.now), 1000)
    assert_approved(r) if reason is None else assert_declined(r, reason)


@pytest.mark.parametrize(("iat", "reason"), [(SKEW, None), (SKEW + 1, "token_not_yet_valid")])
def test_token_iat_with_skew_boundary(term: Term, iat: int, reason: str | None) -> None:
    """SPEC 3.2: token `iat - skew <= now` (a wallet clock up to 30 s ahead is fine)."""
    w = term.wallet()
    r = term.accept(w.token(term.now, iat=term.now + iat, exp=term.now + iat + 60), 1000)
    assert_approved(r) if reason is None else assert_declined(r, reason)


@pytest.mark.parametrize(("exp", "reason"), [(0, None), (-1, "token_expired")])
def test_token_exp_boundary_has_no_skew(term: Term, exp: int, reason: str | None) -> None:
    """SPEC 3.2: token `now <= exp` exactly."""
    w = term.wallet()
    r = term.accept(w.token(term.now, iat=term.now + exp - 60, exp=term.now + exp), 1000)
    assert_approved(r) if reason is None else assert_declined(r, reason)


def test_old_certificate_inside_its_validity_is_fine(term: Term) -> None:
    """SPEC 3.2: only `iat - skew <= now <= exp` matters for the certificate (a year old is fine)."""
    w = term.wallet(iat=term.now - 365 * DAY, exp=term.now + 1)
    assert_approved(term.accept(w.token(term.now), 1000))


def test_token_and_certificate_wallet_ids_differ_is_wallet_mismatch(term: Term) -> None:
    """SPEC 3.2 / 3.5 `wallet_mismatch`: token wallet id must equal the certificate's."""
    w = term.wallet()
    other = bytes(b ^ 0xFF for b in w.wallet_id)
    assert_declined(term.accept(w.token(term.now, changes={6: other}), 1000), "wallet_mismatch")


@pytest.mark.parametrize(
    ("cert", "token", "terminal", "ok"),
    [
        ("EUR", "EUR", "EUR", True),
        ("USD", "USD", "USD", True),
        ("EUR", "USD", "EUR", False),
        ("USD", "EUR", "EUR", False),
        ("EUR", "EUR", "USD", False),
        ("USD", "USD", "EUR", False),
        ("EUR", "USD", "USD", False),
    ],
)
def test_token_certificate_and_terminal_currencies_must_all_be_equal(
    term: Term, cert: str, token: str, terminal: str, ok: bool
) -> None:
    """SPEC 3.2 / 3.5 `currency_mismatch`: token, certificate and terminal currencies all equal."""
    w = term.wallet(currency=cert)
    r = term.accept(w.token(term.now, changes={8: token}), 1000, currency=terminal)
    assert_approved(r) if ok else assert_declined(r, "currency_mismatch")


def test_nfc_token_bound_to_request_is_approved(term: Term) -> None:
    """SPEC 3.2 NFC mode: label 13 == amount, 14 == challenge, 15 == terminal id."""
    w = term.wallet()
    nfc = Nfc(1234, terminal_id="LANE-7")
    assert_approved(term.accept(w.token(term.now, nfc=nfc), 1234, nfc=nfc))


def test_nfc_challenge_differs_is_challenge_mismatch(term: Term) -> None:
    """SPEC 3.2 / 3.5 `challenge_mismatch`: label 14 is not the challenge this terminal sent."""
    w = term.wallet()
    asked = Nfc(700)
    answered = Nfc(700, bytes(b ^ 1 for b in asked.challenge), asked.terminal_id)
    assert_declined(term.accept(w.token(term.now, nfc=answered), 700, nfc=asked), "challenge_mismatch")


def test_nfc_terminal_id_differs_is_terminal_mismatch(term: Term) -> None:
    """SPEC 3.2 / 3.5 `terminal_mismatch`: label 15 is not this terminal's id (even a prefix)."""
    w = term.wallet()
    asked = Nfc(700, terminal_id="T-0001")
    for tid in ("T-0002", "T-000", "T-00010", "t-0001"):
        answered = Nfc(700, asked.challenge, tid)
        r = term.accept(w.token(term.now, nfc=answered), 700, nfc=asked)
        assert_declined(r, "terminal_mismatch")


@pytest.mark.parametrize("token_amount", [699, 701, 70000])
def test_nfc_amount_differs_is_amount_mismatch(term: Term, token_amount: int) -> None:
    """SPEC 3.2 / 3.5 `amount_mismatch`: NFC label 13 must equal the requested amount exactly
    (lower or higher; 70000 would also pass the limit, but amount_mismatch comes first)."""
    w = term.wallet()
    asked = Nfc(700)
    answered = Nfc(token_amount, asked.challenge, asked.terminal_id)
    assert_declined(term.accept(w.token(term.now, nfc=answered), 700, nfc=asked), "amount_mismatch")


@pytest.mark.parametrize(("amount", "ok"), [(10_000, True), (10_001, False)])
def test_nfc_amount_at_most_per_payment_limit(term: Term, amount: int, ok: bool) -> None:
    """SPEC 3.2 / 3.5 `amount_exceeds_limit`: NFC amount at most the per-payment limit (label 9)."""
    w = term.wallet(limit=10_000)
    nfc = Nfc(amount)
    r = term.accept(w.token(term.now, nfc=nfc), amount, nfc=nfc)
    assert_approved(r) if ok else assert_declined(r, "amount_exceeds_limit")


@pytest.mark.parametrize(
    ("label12", "charge", "reason"),
    [
        (1000, 1000, None),
        (1000, 1, None),
        (0, 1, "amount_exceeds_authorised"),
        (1000, 1001, "amount_exceeds_authorised"),
        (10_000, 10_000, None),
        (10_001, 1, "amount_exceeds_limit"),
        (10_001, 10_001, "amount_exceeds_limit"),
    ],
)
def test_qr_amount_rules(term: Term, label12: int, charge: int, reason: str | None) -> None:
    """SPEC 3.2 QR mode: charged amount <= label 12 <= per-payment limit (10,000 here). The limit
    applies to the authorised amount, not only to what is charged."""
    w = term.wallet(limit=10_000)
    r = term.accept(w.token(term.now, amount=label12), charge)
    if reason is None:
        assert_approved(r)
        assert r.doc is not None and r.doc["amount"] == charge
    else:
        assert_declined(r, reason)


def test_qr_token_answering_nfc_request_is_challenge_mismatch(term: Term) -> None:
    """SPEC 3.2: a QR-mode token answering an NFC request is declined `challenge_mismatch`."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, amount=700), 700, nfc=Nfc(700)), "challenge_mismatch")


def test_nfc_token_presented_as_text_is_challenge_mismatch(term: Term) -> None:
    """SPEC 3.2: an NFC-mode token presented as text (no challenge sent) is `challenge_mismatch`."""
    w = term.wallet()
    assert_declined(term.accept(w.token(term.now, nfc=Nfc(700)), 700), "challenge_mismatch")


@pytest.mark.parametrize("amount", ["0", "-1", "abc", "1.5", ""])
def test_amount_must_be_a_positive_integer(term: Term, amount: str) -> None:
    """Contract of `pos accept`: --amount is a positive integer; anything else is a usage error."""
    r = term.accept(term.wallet().token(term.now), amount)
    assert r.code == 2, str(r)
    assert r.decision != "approved"


def test_currency_comparison_is_exact(term: Term) -> None:
    """SPEC 3.2: currencies must be equal; "eur" is not the ISO 4217 code "EUR". Ambiguity: a
    lowercase code may be called `malformed` instead of `currency_mismatch`."""
    w = term.wallet()
    r = term.accept(w.token(term.now, changes={8: "eur"}), 1000)
    assert_declined(r, "currency_mismatch", "malformed")

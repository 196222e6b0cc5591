"""SPEC 3.5: one reason per decline; where several rules fail, the first in the table wins.

Each case makes a token (and terminal state) failing two or three rules at once; the expected
reason is the earliest of them in SPEC 3.5's table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from tests.spec.owt import DAY, Key, Nfc, Wallet, qr_text
from tests.spec.terminal import Result, Term, assert_declined

TABLE = [
    "clock_unset",
    "trust_list_stale",
    "unsupported_version",
    "malformed",
    "unknown_issuer",
    "alg_mismatch",
    "issuer_key_expired",
    "bad_issuer_signature",
    "certificate_not_yet_valid",
    "certificate_expired",
    "wallet_denied",
    "bad_token_signature",
    "wallet_mismatch",
    "token_not_yet_valid",
    "token_expired",
    "currency_mismatch",
    "challenge_mismatch",
    "terminal_mismatch",
    "amount_mismatch",
    "amount_exceeds_authorised",
    "amount_exceeds_limit",
    "replayed",
    "wallet_offline_limit",
    "terminal_offline_limit",
    "storage_failure",
]

BAD_SIG = {"signature": bytes(64)}


def _expired_issuer_wallet(t: Term, kind: str = "ed") -> Wallet:
    t.scheme.add_issuer("old", "ed", nbf=t.now - 2 * 365 * DAY, exp=t.now - 1)
    t.tl = t.scheme.trust_list()
    return t.wallet(kind, "old")


def _denied(t: Term, **kw: Any) -> Wallet:
    w = t.wallet(**kw)
    t.dl = t.scheme.deny_list(denied=[w.wallet_id])
    return w


def _stale(t: Term) -> None:
    t.tl = t.scheme.trust_list(iat=t.now - 30 * DAY, next_update=t.now - 8 * DAY)


def _future_list(t: Term) -> None:
    t.tl = t.scheme.trust_list(iat=t.now + 100, next_update=t.now + DAY)


def _nfc_pair(amount: int = 700) -> tuple[Nfc, Nfc]:
    asked = Nfc(amount)
    return asked, Nfc(amount, asked.challenge, asked.terminal_id)


def _clock_then_malformed(t: Term) -> Result:
    _future_list(t)
    return t.accept("OWT1:not a token", 1000)


def _clock_then_version(t: Term) -> Result:
    _future_list(t)
    return t.accept(qr_text(t.wallet().token(t.now), "OWT2:"), 1000)


def _clock_then_cert_expired(t: Term) -> Result:
    _future_list(t)
    w = t.wallet(iat=t.now - DAY, exp=t.now - 1)
    return t.accept(w.token(t.now, cose=BAD_SIG), 1000)


def _stale_then_version(t: Term) -> Result:
    _stale(t)
    return t.accept(qr_text(t.wallet().token(t.now), "OWT3:"), 1000)


def _stale_then_malformed(t: Term) -> Result:
    _stale(t)
    return t.accept("OWT1:%%%", 1000)


def _stale_deny_then_denied(t: Term) -> Result:
    w = t.wallet()
    t.dl = t.scheme.deny_list(iat=t.now - 30 * DAY, next_update=t.now - 8 * DAY, denied=[w.wallet_id])
    return t.accept(w.token(t.now, cose=BAD_SIG), 1000)


def _version_then_malformed(t: Term) -> Result:
    return t.accept("OWT2:\u00e9 garbage", 1000)


def _malformed_then_unknown(t: Term) -> Result:
    w = t.wallet()
    cert = w.cert(cose={"kid": os.urandom(8)})
    return t.accept(w.token(t.now, iat=t.now - 61, exp=t.now + 60, cert=cert), 1000)


def _malformed_then_alg(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, changes={13: 1000}, cose={"alg": -7}), 1000)


def _malformed_then_bad_sig(t: Term) -> Result:
    w = t.wallet()
    cert = w.cert({9: -1}, cose=BAD_SIG)
    return t.accept(w.token(t.now, cert=cert, cose=BAD_SIG), 1000)


def _unknown_then_alg_then_bad_sig(t: Term) -> Result:
    w = t.wallet()
    cert = w.cert(cose={"kid": os.urandom(8), "alg": -7, **BAD_SIG})
    return t.accept(w.token(t.now, cert=cert), 1000)


def _alg_then_issuer_expired(t: Term) -> Result:
    w = _expired_issuer_wallet(t)
    return t.accept(w.token(t.now, cert=w.cert(cose={"alg": -7})), 1000)


def _token_alg_then_bad_issuer_sig(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, cert=w.cert(cose=BAD_SIG), cose={"alg": -7}), 1000)


def _issuer_expired_then_bad_sig(t: Term) -> Result:
    w = _expired_issuer_wallet(t)
    return t.accept(w.token(t.now, cert=w.cert(cose=BAD_SIG)), 1000)


def _issuer_expired_then_cert_expired(t: Term) -> Result:
    w = _expired_issuer_wallet(t)
    w.exp = t.now - 1
    return t.accept(w.token(t.now), 1000)


def _bad_issuer_sig_then_cert_expired(t: Term) -> Result:
    w = t.wallet(iat=t.now - DAY, exp=t.now - 1)
    return t.accept(w.token(t.now, cert=w.cert(cose={"key": Key("ed")})), 1000)


def _cert_expired_then_denied(t: Term) -> Result:
    w = _denied(t, iat=t.now - DAY, exp=t.now - 1)
    return t.accept(w.token(t.now), 1000)


def _cert_not_yet_then_denied(t: Term) -> Result:
    w = _denied(t, iat=t.now + 31)
    return t.accept(w.token(t.now, cose=BAD_SIG), 1000)


def _cert_expired_then_bad_token_sig(t: Term) -> Result:
    w = t.wallet(iat=t.now - DAY, exp=t.now - 1)
    return t.accept(w.token(t.now, cose=BAD_SIG), 1000)


def _denied_then_bad_token_sig(t: Term) -> Result:
    w = _denied(t)
    return t.accept(w.token(t.now, cose=BAD_SIG), 1000)


def _denied_cert_then_wallet_mismatch(t: Term) -> Result:
    # SPEC 3.2 puts the deny-list check on the certificate's wallet id
    w = _denied(t)
    return t.accept(w.token(t.now, changes={6: os.urandom(8)}), 1000)


def _bad_token_sig_then_wallet_then_expired(t: Term) -> Result:
    w = t.wallet()
    token = w.token(t.now, iat=t.now - 100, exp=t.now - 40, changes={6: os.urandom(8)}, cose=BAD_SIG)
    return t.accept(token, 1000)


def _wallet_then_expired_then_currency(t: Term) -> Result:
    w = t.wallet()
    token = w.token(t.now, iat=t.now - 100, exp=t.now - 40, changes={6: os.urandom(8), 8: "USD"})
    return t.accept(token, 1000)


def _expired_then_currency(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, iat=t.now - 100, exp=t.now - 40, changes={8: "USD"}), 1000)


def _not_yet_then_currency(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, iat=t.now + 31, exp=t.now + 91), 1000, currency="USD")


def _expired_then_cross_mode(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, iat=t.now - 100, exp=t.now - 40, nfc=Nfc(700)), 700)


def _currency_then_challenge(t: Term) -> Result:
    w = t.wallet()
    asked = Nfc(700)
    return t.accept(w.token(t.now, nfc=Nfc(700), changes={8: "GBP"}), 700, nfc=asked)


def _currency_then_cross_mode(t: Term) -> Result:
    w = t.wallet(currency="USD")
    return t.accept(w.token(t.now), 1000, nfc=Nfc(1000))


def _challenge_then_terminal_then_amount(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, nfc=Nfc(701, terminal_id="OTHER")), 700, nfc=Nfc(700))


def _cross_mode_then_authorised(t: Term) -> Result:
    w = t.wallet()
    return t.accept(w.token(t.now, amount=10), 1000, nfc=Nfc(1000))


def _terminal_then_amount(t: Term) -> Result:
    w = t.wallet()
    asked, answered = _nfc_pair()
    answered.terminal_id, answered.amount = "OTHER", 900
    return t.accept(w.token(t.now, nfc=answered), 700, nfc=asked)


def _amount_then_limit(t: Term) -> Result:
    w = t.wallet(limit=10_000)
    asked, answered = _nfc_pair(9_000)
    answered.amount = 20_000
    return t.accept(w.token(t.now, nfc=answered), 9_000, nfc=asked)


def _authorised_then_limit(t: Term) -> Result:
    w = t.wallet(limit=10_000)
    return t.accept(w.token(t.now, amount=20_000), 20_001)


def _limit_then_replayed(t: Term) -> Result:
    w = t.wallet(limit=10_000)
    first = t.accept(w.token(t.now, counter=5), 1000)
    assert first.code == 0, str(first)
    return t.accept(w.token(t.now, counter=5, amount=20_000), 100)


def _replayed_then_wallet_limit(t: Term) -> Result:
    w = t.wallet(limit=1000, cumulative=1000)
    token = w.token(t.now, counter=1)
    assert t.accept(token, 1000).code == 0
    return t.accept(token, 1000)


def _replayed_then_terminal_limit(t: Term) -> Result:
    a = t.wallet(limit=500_000, cumulative=500_000)
    token = a.token(t.now, amount=500_000)
    assert t.accept(token, 500_000).code == 0
    return t.accept(token, 500_000)


def _wallet_limit_then_terminal_limit(t: Term) -> Result:
    a = t.wallet(limit=250_000, cumulative=250_000)
    b = t.wallet(limit=250_000, cumulative=250_000)
    assert t.accept(a.token(t.now, amount=250_000), 250_000).code == 0
    assert t.accept(b.token(t.now, amount=250_000), 250_000).code == 0
    return t.accept(a.token(t.now, amount=1), 1)


CASES: dict[str, tuple[str, Callable[[Term], Result]]] = {
    "clock_unset > malformed": ("clock_unset", _clock_then_malformed),
    "clock_unset > unsupported_version": ("clock_unset", _clock_then_version),
    "clock_unset > certificate_expired > bad_token_signature": ("clock_unset", _clock_then_cert_expired),
    "trust_list_stale > unsupported_version": ("trust_list_stale", _stale_then_version),
    "trust_list_stale > malformed": ("trust_list_stale", _stale_then_malformed),
    "trust_list_stale (deny list) > wallet_denied > bad_token_signature": (
        "trust_list_stale",
        _stale_deny_then_denied,
    ),
    "unsupported_version > malformed": ("unsupported_version", _version_then_malformed),
    "malformed > unknown_issuer": ("malformed", _malformed_then_unknown),
    "malformed > alg_mismatch": ("malformed", _malformed_then_alg),
    "malformed > bad signatures": ("malformed", _malformed_then_bad_sig),
    "unknown_issuer > alg_mismatch > bad_issuer_signature": (
        "unknown_issuer",
        _unknown_then_alg_then_bad_sig,
    ),
    "alg_mismatch > issuer_key_expired": ("alg_mismatch", _alg_then_issuer_expired),
    "alg_mismatch (token) > bad_issuer_signature": ("alg_mismatch", _token_alg_then_bad_issuer_sig),
    "issuer_key_expired > bad_issuer_signature": ("issuer_key_expired", _issuer_expired_then_bad_sig),
    "issuer_key_expired > certificate_expired": ("issuer_key_expired", _issuer_expired_then_cert_expired),
    "bad_issuer_signature > certificate_expired": ("bad_issuer_signature", _bad_issuer_sig_then_cert_expired),
    "certificate_expired > wallet_denied": ("certificate_expired", _cert_expired_then_denied),
    "certificate_not_yet_valid > wallet_denied > bad_token_signature": (
        "certificate_not_yet_valid",
        _cert_not_yet_then_denied,
    ),
    "certificate_expired > bad_token_signature": ("certificate_expired", _cert_expired_then_bad_token_sig),
    "wallet_denied > bad_token_signature": ("wallet_denied", _denied_then_bad_token_sig),
    "wallet_denied (certificate id) > wallet_mismatch": ("wallet_denied", _denied_cert_then_wallet_mismatch),
    "bad_token_signature > wallet_mismatch > token_expired": (
        "bad_token_signature",
        _bad_token_sig_then_wallet_then_expired,
    ),
    "wallet_mismatch > token_expired > currency_mismatch": (
        "wallet_mismatch",
        _wallet_then_expired_then_currency,
    ),
    "token_expired > currency_mismatch": ("token_expired", _expired_then_currency),
    "token_not_yet_valid > currency_mismatch": ("token_not_yet_valid", _not_yet_then_currency),
    "token_expired > challenge_mismatch (NFC token as text)": ("token_expired", _expired_then_cross_mode),
    "currency_mismatch > challenge_mismatch": ("currency_mismatch", _currency_then_challenge),
    "currency_mismatch > challenge_mismatch (QR token over NFC)": (
        "currency_mismatch",
        _currency_then_cross_mode,
    ),
    "challenge_mismatch > terminal_mismatch > amount_mismatch": (
        "challenge_mismatch",
        _challenge_then_terminal_then_amount,
    ),
    "challenge_mismatch (QR over NFC) > amount_exceeds_authorised": (
        "challenge_mismatch",
        _cross_mode_then_authorised,
    ),
    "terminal_mismatch > amount_mismatch": ("terminal_mismatch", _terminal_then_amount),
    "amount_mismatch > amount_exceeds_limit": ("amount_mismatch", _amount_then_limit),
    "amount_exceeds_authorised > amount_exceeds_limit": ("amount_exceeds_authorised", _authorised_then_limit),
    "amount_exceeds_limit > replayed": ("amount_exceeds_limit", _limit_then_replayed),
    "replayed > wallet_offline_limit": ("replayed", _replayed_then_wallet_limit),
    "replayed > terminal_offline_limit": ("replayed", _replayed_then_terminal_limit),
    "wallet_offline_limit > terminal_offline_limit": (
        "wallet_offline_limit",
        _wallet_limit_then_terminal_limit,
    ),
}


def test_cases_expect_what_the_table_says() -> None:
    """Self-check: each case's expected reason is the earliest named in its title."""
    for title, (want, _) in CASES.items():
        named = [code for code in TABLE if code in title]
        assert named and named[0] == want, title


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_first_failing_rule_in_table_wins(term: Term, case: str) -> None:
    """SPEC 3.5: where several rules fail, the first in the table wins."""
    want, make = CASES[case]
    assert_declined(make(term), want)

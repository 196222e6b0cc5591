"""The pure OWT1 verifier: SPEC 3.1, 3.2 and the first rows of 3.5, in table order.

``verify`` is a function of (token bytes, key snapshot, request, policy, terminal state): it reads
no clock and does no I/O. It returns the parsed token or raises ``Decline`` with the first rule
of SPEC 3.5's table that fails. Replay and exposure need the journal and live in ``pos.risk``.
"""

from __future__ import annotations

import hmac

from pos import reasons as r
from pos import sigs
from pos.decision import PaymentRequest, Policy, TerminalState
from pos.errors import Decline
from pos.keystore import KeySnapshot
from pos.tokens import MODE_NFC, Certificate, Token, parse_token
from pos.trust import IssuerKey


def check_clock_and_lists(keys: KeySnapshot, now: int, policy: Policy, state: TerminalState) -> None:
    """``clock_unset`` and ``trust_list_stale``: the rules that hold before any token is read."""
    trust = keys.trust
    if trust is not None and now < trust.iat:
        raise Decline(r.CLOCK_UNSET, "clock is before the trust list's iat")
    # A clock set back must not re-open expired tokens: the newest journal entry is a floor.
    if state.newest_time is not None and now < state.newest_time - policy.skew_s:
        raise Decline(r.CLOCK_UNSET, "clock is before the newest journal entry")
    if trust is None:
        raise Decline(r.TRUST_LIST_STALE, "no trust list installed")
    if trust.stale_at(now, policy.grace_s):
        raise Decline(r.TRUST_LIST_STALE, "trust list past next_update + grace")
    if keys.deny is not None and keys.deny.stale_at(now, policy.grace_s):
        raise Decline(r.TRUST_LIST_STALE, "deny list past next_update + grace")


def verify(
    raw: bytes,
    keys: KeySnapshot,
    request: PaymentRequest,
    policy: Policy,
    state: TerminalState,
) -> Token:
    now = request.now
    check_clock_and_lists(keys, now, policy, state)
    token = parse_token(raw)
    check_token(token, keys, request, policy, state)
    return token


def check_token(
    token: Token, keys: KeySnapshot, request: PaymentRequest, policy: Policy, state: TerminalState
) -> None:
    """Every rule after ``malformed``, up to ``amount_exceeds_limit``, in SPEC 3.5 order."""
    now, cert = request.now, token.cert
    assert keys.trust is not None  # check_clock_and_lists refused a missing trust list
    issuer = keys.trust.issuers.get(cert.kid)
    if issuer is None:
        raise Decline(r.UNKNOWN_ISSUER, f"kid {cert.kid.hex()}")
    if cert.envelope.alg != issuer.alg or issuer.key is None:
        raise Decline(r.ALG_MISMATCH, "certificate alg differs from the issuer entry")
    if token.envelope.alg != sigs.alg_of(cert.wallet_key):
        raise Decline(r.ALG_MISMATCH, "token alg does not fit the wallet key")
    if not issuer.valid_at(now):
        raise Decline(r.ISSUER_KEY_EXPIRED, f"issuer {issuer.name!r} valid {issuer.nbf}..{issuer.exp}")
    if not _issuer_signed(issuer, cert):
        raise Decline(r.BAD_ISSUER_SIGNATURE)
    if now < cert.iat - policy.skew_s:
        raise Decline(r.CERTIFICATE_NOT_YET_VALID)
    if now > cert.exp:
        raise Decline(r.CERTIFICATE_EXPIRED)
    if keys.deny is not None and keys.deny.contains(cert.wallet_id):
        raise Decline(r.WALLET_DENIED, "on the deny list")
    if cert.wallet_id in state.locked_wallets:
        raise Decline(r.WALLET_DENIED, "locked on this terminal after repeated failures")
    if not sigs.verify(cert.wallet_key, token.envelope.signature, token.envelope.to_be_signed()):
        raise Decline(r.BAD_TOKEN_SIGNATURE)
    if token.wallet_id != cert.wallet_id:
        raise Decline(r.WALLET_MISMATCH)
    if now < token.iat - policy.skew_s:
        raise Decline(r.TOKEN_NOT_YET_VALID)
    if now > token.exp:
        raise Decline(r.TOKEN_EXPIRED)
    if not (token.currency == cert.currency == request.currency):
        raise Decline(r.CURRENCY_MISMATCH)
    check_binding(token, request)
    check_amount(token, request)


_VERIFIED_SIZE = 4096
_verified: dict[tuple[bytes, int, bytes], tuple[bytes, bytes]] = {}


def _issuer_signed(issuer: IssuerKey, cert: Certificate) -> bool:
    """The issuer's signature on a certificate, remembered once it has verified.

    Keyed by the issuer's exact key bytes and alg and the signature, and kept with the exact
    protected header and payload it signed, compared on every hit: a new trust list with
    another key for the same kid verifies afresh. Only successes are kept.
    """
    env = cert.envelope
    key = (issuer.raw_key, issuer.alg, env.signature)
    signed = _verified.get(key)
    if signed is not None and signed[0] == env.protected and signed[1] == env.payload:
        return True
    assert issuer.key is not None
    if not sigs.verify(issuer.key, env.signature, env.to_be_signed()):
        return False
    if len(_verified) >= _VERIFIED_SIZE:
        del _verified[next(iter(_verified))]
    _verified[key] = (env.protected, env.payload)
    return True


def check_binding(token: Token, request: PaymentRequest) -> None:
    """NFC binding (SPEC 3.2): a token of the other mode is not bound to this challenge."""
    if request.challenge is None:
        if token.mode == MODE_NFC:
            raise Decline(r.CHALLENGE_MISMATCH, "NFC-mode token presented as text")
        return
    if token.mode != MODE_NFC:
        raise Decline(r.CHALLENGE_MISMATCH, "QR-mode token answering an NFC request")
    assert token.challenge is not None and token.terminal_id is not None
    if not hmac.compare_digest(token.challenge, request.challenge):
        raise Decline(r.CHALLENGE_MISMATCH)
    if token.terminal_id != request.terminal_id:
        raise Decline(r.TERMINAL_MISMATCH)


def check_amount(token: Token, request: PaymentRequest) -> None:
    limit = token.cert.payment_limit
    if token.mode == MODE_NFC:
        assert token.amount is not None
        if token.amount != request.amount:
            raise Decline(r.AMOUNT_MISMATCH)
        if token.amount > limit:
            raise Decline(r.AMOUNT_EXCEEDS_LIMIT)
        return
    assert token.max_amount is not None
    if request.amount > token.max_amount:
        raise Decline(r.AMOUNT_EXCEEDS_AUTHORISED)
    if token.max_amount > limit:
        raise Decline(r.AMOUNT_EXCEEDS_LIMIT)

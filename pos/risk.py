"""Offline risk rules of SPEC 3.3 that need journal state: replay and exposure caps.

Pure: the journal reads an ``Exposure`` inside its write transaction and calls ``check_risk``,
so two processes sharing a data dir cannot both pass the same cap (the check and the insert are
one serialised transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

from pos import reasons as r
from pos.decision import Policy
from pos.errors import Decline
from pos.tokens import Token


@dataclass(frozen=True, slots=True)
class Exposure:
    already_accepted: bool  # (wallet id, counter) is in the journal
    wallet_pending: int  # un-acknowledged total for this wallet, minor units
    terminal_pending_count: int
    terminal_pending_total: int


def check_risk(token: Token, amount: int, exposure: Exposure, policy: Policy) -> None:
    if exposure.already_accepted:
        raise Decline(r.REPLAYED, f"counter {token.counter} already accepted")
    if exposure.wallet_pending + amount > token.cert.offline_limit:
        raise Decline(r.WALLET_OFFLINE_LIMIT)
    if policy.per_payment_max is not None and amount > policy.per_payment_max:
        raise Decline(r.TERMINAL_OFFLINE_LIMIT, "above this terminal's per-payment cap")
    if exposure.terminal_pending_count + 1 > policy.offline_count_max:
        raise Decline(r.TERMINAL_OFFLINE_LIMIT, "too many payments waiting for upload")
    if exposure.terminal_pending_total + amount > policy.offline_total_max:
        raise Decline(r.TERMINAL_OFFLINE_LIMIT, "too much value waiting for upload")

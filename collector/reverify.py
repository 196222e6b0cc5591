"""Re-verification of every uploaded token, with the terminal's own rules, at the payment's time.

The collector trusts nothing a terminal says about a payment: it parses the raw token, checks
the issuer's signature on the certificate and the wallet's signature on the token against the
trust list in force when the payment was made (``pos.verify.check_token``, SPEC 3.5 order), and
checks that the row's wallet id, counter, mode, currency and amount are the token's. An NFC
token's binding is checked against the authenticated uploader's id, never the id the row
claims: a relayed token is bound to the terminal it was made for, not to whoever uploads it. The deny
list in force at the payment's time is applied in the ingest transaction (it lives in the DB).

This is most of the collector's CPU. It runs in the request's thread; the collector uses every
core by serving from several processes (``collector.server``), which also parallelises the
parsing around the signature maths (a verification pool fed from one process was measured:
the pickling round trip cost more than it saved).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collector.lists import Lists
from collector.schema import INT64_MAX
from pos.decision import PaymentRequest, Policy, TerminalState
from pos.errors import Decline
from pos.frozen import quick_init
from pos.keystore import KeySnapshot
from pos.tokens import MODE_NFC, parse_token
from pos.trust import TrustList
from pos.verify import check_clock_and_lists, check_token
from pos.wire.protocol import BatchRow

ACCEPTED, REJECTED, IGNORED, REVERSAL = "accepted", "rejected", "ignored", "reversal"
REFUSED = "refused"  # a terminal fault (``collector.judge``): stored as evidence, never credited
_RETRIES = 3
THREADS_FROM_ROWS = 64


@quick_init
@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    reason: str | None = None
    offline_limit: int | None = None
    until: int | None = None  # the certificate's exp: its (wallet id, counter) claims end then


_NO_STATE = TerminalState()  # the collector holds no terminal's journal facts (frozen: shared)


def judge(
    row: BatchRow, trust: TrustList | None, policy: Policy, uploader: str, keys: KeySnapshot | None = None
) -> Verdict:
    """One row's verdict, with the offline limit of its certificate when accepted.

    ``keys``: the snapshot of ``trust`` made once for a run of rows (frozen, so shared)."""
    if row.kind == "reversal":
        return Verdict(REVERSAL)
    if row.kind != "payment":
        return Verdict(IGNORED, "not_a_payment")
    if row.token is None:
        return Verdict(REJECTED, "no_token")
    if keys is None or keys.trust is not trust:
        keys = KeySnapshot(trust, None)
    try:
        check_clock_and_lists(keys, row.time, policy, _NO_STATE)
        token = parse_token(row.token)
        if token.cert.wallet_id != row.wallet_id or token.counter != row.counter or token.mode != row.mode:
            return Verdict(REJECTED, "row_token_mismatch")
        # (amount, currency, now, terminal_id, challenge): positional, a row at a time
        challenge = token.challenge if token.mode == MODE_NFC else None
        request = PaymentRequest(row.amount, row.currency, row.time, uploader, challenge)
        check_token(token, keys, request, policy, _NO_STATE)
    except Decline as d:
        return Verdict(REJECTED, d.reason)
    # SPEC 3.2's unsigned integers reach 2**64 - 1; the databases' integers stop at 2**63 - 1,
    # which as a limit in minor units or a time in seconds is the same "never" as anything above.
    cert = token.cert
    limit, until = cert.offline_limit, cert.exp
    return Verdict(
        ACCEPTED, None, limit if limit < INT64_MAX else INT64_MAX, until if until < INT64_MAX else INT64_MAX
    )


class Reverifier:
    def __init__(self, lists: Lists, policy: Policy | None = None, threads: int | None = None) -> None:
        self.lists = lists
        self.policy = policy or Policy()
        self.threads = max(1, (os.cpu_count() or 1) if threads is None else threads)
        self._pool = (
            ThreadPoolExecutor(self.threads, thread_name_prefix="verify") if self.threads > 1 else None
        )

    def verdict(self, row: BatchRow, uploader: str, keys: KeySnapshot | None = None) -> Verdict:
        """``keys``: the snapshot of the trust list in force at ``row.time``, when known."""
        # Several request threads may verify at once, and pos.tokens and pos.verify memoise
        # certificates in plain dicts: two threads evicting together can raise KeyError or
        # RuntimeError. The functions are pure, so try again.
        for attempt in range(_RETRIES):
            try:
                trust = keys.trust if keys is not None else self.lists.trust_at(row.time)
                return judge(row, trust, self.policy, uploader, keys)
            except (KeyError, RuntimeError):
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def verdicts(self, rows: list[BatchRow], uploader: str) -> list[Verdict]:
        """A large batch is verified in interleaved slices on threads: the signature maths
        releases the GIL, so one terminal's drain uses every core too."""
        if self._pool is None or len(rows) < THREADS_FROM_ROWS:
            return self._run(rows, uploader)
        n = self.threads
        parts = list(self._pool.map(lambda i: self._run(rows[i::n], uploader), range(n)))
        out: list[Verdict] = [None] * len(rows)  # type: ignore[list-item]
        for i, part in enumerate(parts):
            out[i::n] = part
        return out

    def _run(self, rows: list[BatchRow], uploader: str) -> list[Verdict]:
        """The rows' verdicts in order, one key snapshot per trust list in force (not per row)."""
        out: list[Verdict] = []
        keys: KeySnapshot | None = None
        trust_at, policy = self.lists.trust_at, self.policy
        for row in rows:
            trust = trust_at(row.time)
            if keys is None or keys.trust is not trust:
                keys = KeySnapshot(trust, None)
            try:
                out.append(judge(row, trust, policy, uploader, keys))
            except (KeyError, RuntimeError):  # two threads evicting a memo at once: ``verdict``
                out.append(self.verdict(row, uploader, keys))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

"""Accepting a payment: the one place where verify, risk and the durable commit meet.

    token = verify(raw, keys, request)           # pure: SPEC 3.1, 3.2, 3.5 up to amounts
    seq = journal.commit(token, amount, ...)     # replay, exposure, durable commit (3.3, 3.4)
    return Decision(approved, seq)

Any bytes give a ``Decision``; nothing a presentation holds can raise through ``accept``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pos import reasons, velocity
from pos.decision import Decision, PaymentRequest, Policy, TerminalState
from pos.errors import Decline, PosError
from pos.journal import Journal
from pos.keystore import KeySnapshot, KeyStore
from pos.presentation import decode_text
from pos.tokens import MODE_NFC, Token, parse_token
from pos.verify import check_clock_and_lists, check_token

log = logging.getLogger("pos.terminal")


class SiteLink(Protocol):
    """The terminal's site (issue 14, docs/site.md): what the other terminals have spent, and
    where this one tells them. Both calls return at once: no network on the accept path."""

    def spent_by(self, wallet_id: bytes, counter: int, now: int) -> tuple[str, int] | None: ...

    def committed(self, token: Token, seq: int, now: int) -> None: ...


class Terminal:
    def __init__(
        self,
        data_dir: Path,
        keystore: KeyStore,
        *,
        policy: Policy | None = None,
        head_every: int = 16,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.keys = keystore
        self.policy = policy or Policy()
        self.journal = Journal(self.data_dir, head_every=head_every)
        self.site: SiteLink | None = None

    @property
    def default_terminal_id(self) -> str:
        """The enrolled id, else one made from the identity key."""
        return self.journal.identity.default_terminal_id()

    def accept_text(self, text: bytes | str, request: PaymentRequest) -> Decision:
        """A QR or scanner presentation (SPEC 2): ``OWT1:`` + base45."""
        return self._decide(request, lambda: parse_token(decode_text(text)))

    def accept_bytes(self, raw: bytes, request: PaymentRequest) -> Decision:
        """COSE bytes as an NFC GENERATE TOKEN response carries them."""
        return self._decide(request, lambda: parse_token(raw))

    def _decide(self, request: PaymentRequest, parse: Callable[[], Token]) -> Decision:
        token: Token | None = None
        try:
            keys = self.keys.load()
            try:
                state, unreadable = self.journal.state(request.now), None
            except Decline as failure:  # storage_failure is the last rule: earlier ones still win
                state, unreadable = TerminalState(), failure
            check_clock_and_lists(keys, request.now, self.policy, state)
            self._check_terminal_id(request)
            token = parse()
            check_token(token, keys, request, self.policy, state)
            if unreadable is not None:
                raise unreadable
            amount = token.amount if token.mode == MODE_NFC else request.amount
            assert amount is not None
            self._check_site(token, request.now)
            seq = self.journal.commit(token, amount, request, self.policy)
            self._announce(token, seq, request.now)
        except Decline as d:
            self._after_decline(d.reason, token, request)
            return Decision.declined(
                d.reason,
                request.amount,
                token.wallet_id if token else None,
                token.counter if token else None,
            )
        except PosError as exc:  # a cached list that no longer verifies, a broken key file
            log.error("cannot decide: %s", exc)
            return Decision.declined(reasons.STORAGE_FAILURE, request.amount)
        except Exception:
            log.exception("internal error while deciding; declined")
            reason = reasons.MALFORMED if token is None else reasons.STORAGE_FAILURE
            return Decision.declined(reason, request.amount)
        return Decision(True, None, amount, token.wallet_id, token.counter, seq, token.mode)

    def _check_terminal_id(self, request: PaymentRequest) -> None:
        """One identity (issue 11): after enrollment every row carries the enrolled id, so a
        request under another name (a stale config, a key-derived default) is not journaled."""
        fixed = self.journal.identity.fixed_terminal_id
        if fixed is not None and request.terminal_id != fixed:
            raise Decline(reasons.TERMINAL_MISMATCH, f"this terminal is enrolled as {fixed!r}")

    def _check_site(self, token: Token, now: int) -> None:
        """SPEC 3.3 across one site: a (wallet id, counter) another member committed is
        ``replayed`` here too (and counts for velocity like a local replay). Checked where the
        journal checks its own replays, so the SPEC 3.5 order stays: later rules come after."""
        if self.site is None:
            return
        hit = self.site.spent_by(token.cert.wallet_id, token.counter, now)
        if hit is not None:
            raise Decline(reasons.REPLAYED, f"spent at {hit[0]} (seq {hit[1]}) of this site")

    def _announce(self, token: Token, seq: int, now: int) -> None:
        if self.site is None:
            return
        try:
            self.site.committed(token, seq, now)
        except Exception as exc:  # noqa: BLE001 - the payment is committed: it stays approved
            log.error("could not announce payment %d to the site: %s", seq, exc)

    def _after_decline(self, reason: str, token: Token | None, request: PaymentRequest) -> None:
        if token is None or reason not in velocity.COUNTED:
            return
        try:
            velocity.record_failure(self.journal.db, token.cert.wallet_id, reason, request.now, self.policy)
        except Exception as exc:  # noqa: BLE001 - a decline stays a decline if logging it fails
            log.error("could not record a velocity failure: %s", exc)

    def snapshot(self) -> KeySnapshot:
        return self.keys.load()

    def close(self, now: int | None = None) -> None:
        self.journal.close(now)

"""The journal against a model: a state machine of accept, replay, acknowledge, reverse, prune, restart.

The model is a dict of stored payments and the SPEC 3.3 rules that read them, in SPEC 3.5 order:
velocity lock (``wallet_denied``), token expiry, ``replayed``, the wallet's cumulative offline
limit over its un-acknowledged payments, then the terminal's count and amount caps. Limits are
small so every rule is reached; the clock moves so tokens expire and locks lapse. After every
step the real Terminal (real SQLite files in a temporary dir) must have decided exactly as the
model, and its journal must hold exactly the model's rows and totals and pass ``verify_journal``.
A restart closes the Terminal (sealing the head, or not, as after a crash) and opens a new one
on the same dir. Reversals (a void, a failed vend) are rows of their own, once per payment, that
leave exposure alone; pruning drops the sealed token of acknowledged rows and nothing else.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pos import reasons
from pos import sigs as pos_sigs
from pos.decision import PaymentRequest, Policy
from pos.journal_check import verify_journal
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import ALG_EDDSA, ALG_ES256
from pos.terminal import Terminal
from sim.scheme import Scheme
from sim.wallet import Wallet

NOW = int(time.time())
LIFETIME = 60  # token exp - iat
WALLET_LIMITS = (600, 900, 10_000)  # certificate cumulative offline limits (label 10)
POLICY = Policy(offline_count_max=5, offline_total_max=1_200)  # velocity: SPEC defaults 3 / 600 s / 600 s
HEAD_EVERY = 4
AMOUNTS = (50, 100, 250, 400)


@functools.cache
def _scheme() -> tuple[Scheme, bytes]:
    where = Path(tempfile.mkdtemp(prefix="journal-model-scheme-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    scheme = Scheme.init(where)
    scheme.add_issuer("ed", ALG_EDDSA)
    scheme.add_issuer("es", ALG_ES256)
    return scheme, scheme.trust_list(iat=NOW - 60)


@dataclass
class MRow:
    kind: str
    wallet: int
    counter: int
    amount: int
    time: int
    token: bytes | None  # the raw token while the row holds it
    acked: bool = False


@dataclass(frozen=True)
class Presented:
    text: str
    wallet: int
    counter: int
    amount: int
    iat: int
    raw: bytes


class JournalModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        scheme, trust_list = _scheme()
        self.dir = Path(tempfile.mkdtemp(prefix="journal-model-"))
        self.root = pos_sigs.load_pem_public_key(scheme.root_pem_path.read_bytes())
        store = KeyStore(self.dir, self.root)
        store.install_trust_list(trust_list)
        self.terminal = self._open()
        self.tid = self.terminal.default_terminal_id
        self.now = NOW
        self.wallets = [
            Wallet.issue(scheme.issuer("es" if i == 1 else "ed"), ALG_ES256 if i == 1 else ALG_EDDSA,
                         iat=NOW - 3600, offline_limit=limit)
            for i, limit in enumerate(WALLET_LIMITS)
        ]  # fmt: skip
        self.ids = [w.wallet_id.hex() for w in self.wallets]
        # the model
        self.presented: list[Presented] = []
        self.stored: dict[tuple[int, int], int] = {}  # (wallet, counter) -> seq
        self.rows: list[MRow] = []  # seq - 1 -> row
        self.failures: dict[int, list[int]] = {w: [] for w in range(len(WALLET_LIMITS))}
        self.locked_until: dict[int, int] = {w: 0 for w in range(len(WALLET_LIMITS))}

    def _open(self) -> Terminal:
        return Terminal(self.dir, KeyStore(self.dir, self.root), policy=POLICY, head_every=HEAD_EVERY)

    def teardown(self) -> None:
        self.terminal.close(self.now)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model's decision ------------------------------------------------------------------
    def _pending(self, wallet: int | None = None) -> tuple[int, int]:
        """Exposure: un-acknowledged payments (a reversal neither adds nor, acknowledged, removes)."""
        amounts = [
            r.amount
            for r in self.rows
            if r.kind == "payment" and not r.acked and (wallet is None or r.wallet == wallet)
        ]
        return len(amounts), sum(amounts)

    def _expected(self, p: Presented) -> str | None:
        if self.locked_until[p.wallet] > self.now:
            return reasons.WALLET_DENIED
        if self.now > p.iat + LIFETIME:
            return reasons.TOKEN_EXPIRED
        if (p.wallet, p.counter) in self.stored:
            self._velocity_failure(p.wallet)
            return reasons.REPLAYED
        if self._pending(p.wallet)[1] + p.amount > WALLET_LIMITS[p.wallet]:
            return reasons.WALLET_OFFLINE_LIMIT
        count, total = self._pending()
        if count + 1 > POLICY.offline_count_max or total + p.amount > POLICY.offline_total_max:
            return reasons.TERMINAL_OFFLINE_LIMIT
        return None

    def _reversed(self) -> set[tuple[int, int]]:
        return {(r.wallet, r.counter) for r in self.rows if r.kind == "reversal"}

    def _velocity_failure(self, wallet: int) -> None:
        self.failures[wallet].append(self.now)
        recent = [t for t in self.failures[wallet] if t > self.now - POLICY.velocity_window_s]
        if len(recent) >= POLICY.velocity_failures:
            self.locked_until[wallet] = max(self.locked_until[wallet], self.now + POLICY.velocity_lock_s)
            self.failures[wallet] = []

    def _present(self, p: Presented) -> None:
        reason = self._expected(p)
        event(f"decision: {reason or 'approved'}")
        d = self.terminal.accept_text(p.text, PaymentRequest(p.amount, "EUR", self.now, self.tid))
        if reason is None:
            seq = len(self.rows) + 1
            self.rows.append(MRow("payment", p.wallet, p.counter, p.amount, self.now, p.raw))
            self.stored[(p.wallet, p.counter)] = seq
            assert (d.approved, d.reason, d.seq) == (True, None, seq), d
        else:
            assert (d.approved, d.reason, d.seq) == (False, reason, None), (d, reason)

    # -- rules ---------------------------------------------------------------------------------
    @initialize(
        payments=st.lists(
            st.tuples(st.integers(0, len(WALLET_LIMITS) - 1), st.sampled_from(AMOUNTS)), max_size=8
        )
    )
    def some_history(self, payments: list[tuple[int, int]]) -> None:
        for wallet, amount in payments:
            self.accept_new_token(wallet, amount)

    @rule(wallet=st.integers(0, len(WALLET_LIMITS) - 1), amount=st.sampled_from(AMOUNTS))
    def accept_new_token(self, wallet: int, amount: int) -> None:
        w = self.wallets[wallet]
        raw = w.token(max_amount=amount, now=self.now, lifetime_s=LIFETIME)
        p = Presented(encode_text(raw), wallet, w.counter, amount, self.now, raw)
        self.presented.append(p)
        self._present(p)

    @precondition(lambda self: self.presented)
    @rule(data=st.data())
    def present_old_token_again(self, data: st.DataObject) -> None:
        self._present(data.draw(st.sampled_from(self.presented)))

    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        seqs = data.draw(st.lists(st.integers(0, len(self.rows) + 2), max_size=6))
        done = 0
        for seq in seqs:
            if 1 <= seq <= len(self.rows) and not self.rows[seq - 1].acked:
                self.rows[seq - 1].acked = True
                done += 1
        assert self.terminal.journal.acknowledge(seqs) == done

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(0, len(self.rows) + 1))
        row = self.rows[seq - 1] if 1 <= seq <= len(self.rows) else None
        if row is None or row.kind != "payment":
            with pytest.raises(KeyError):
                self.terminal.journal.reverse(seq, self.now)
        elif any(
            r.kind == "reversal" and r.counter == row.counter and r.wallet == row.wallet for r in self.rows
        ):
            with pytest.raises(ValueError, match="already reversed"):
                self.terminal.journal.reverse(seq, self.now)
        else:
            event("reversal stored")
            assert self.terminal.journal.reverse(seq, self.now) == len(self.rows) + 1
            self.rows.append(MRow("reversal", row.wallet, row.counter, row.amount, self.now, None))

    @rule(age=st.integers(0, 900))
    def prune(self, age: int) -> None:
        before = self.now - age
        dropped = [r for r in self.rows if r.acked and r.time < before and r.token is not None]
        for r in dropped:
            r.token = None
        assert self.terminal.journal.prune(before) == len(dropped)
        event(f"prune dropped tokens: {bool(dropped)}")

    @rule()
    def restart(self) -> None:
        self.terminal.close(self.now)  # a clean shutdown signs the head
        self.terminal = self._open()

    @rule()
    def restart_without_shutdown(self) -> None:
        self.terminal.close()  # no time given: nothing sealed, as after a crash
        self.terminal = self._open()

    @rule(seconds=st.integers(1, 400))
    def clock_moves_on(self, seconds: int) -> None:
        self.now += seconds

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def journal_holds_exactly_the_model(self) -> None:
        journal = self.terminal.journal
        count, total = self._pending()
        assert journal.summary() == {
            # summary() counts rows: a reversal row is one more "payment", its amount in "total"
            "payments": len(self.rows),
            "total": sum(r.amount for r in self.rows),
            "pending_count": count,
            "pending_total": total,
        }
        rows = [
            (r["seq"], r["kind"], r["wallet_id"], r["counter"], r["amount"], r["state"])
            for r in journal.rows()
        ]
        assert rows == [
            (i + 1, r.kind, self.ids[r.wallet], r.counter, r.amount, "acknowledged" if r.acked else "pending")
            for i, r in enumerate(self.rows)
        ]
        # the upload queue: pending rows with their tokens (a pending row is never pruned), paged
        pending = [(i + 1, r.kind, r.token) for i, r in enumerate(self.rows) if not r.acked]
        assert [(r["seq"], r["kind"], r["token"]) for r in journal.pending_rows(1000)] == pending
        paged, after = [], 0
        while page := journal.pending_rows(3, after):
            paged += [r["seq"] for r in page]
            after = page[-1]["seq"]
        assert paged == [seq for seq, _k, _t in pending]
        ((sealed,),) = journal.db.execute("SELECT count(token_ct) FROM payments").fetchall()
        assert sealed == sum(r.token is not None for r in self.rows)
        exposure = dict(journal.db.execute("SELECT wallet_id, pending FROM wallet_exposure").fetchall())
        for w, wid in enumerate(self.wallets):
            assert exposure.get(wid.wallet_id, 0) == self._pending(w)[1]
        assert verify_journal(journal) == len(self.rows)


JournalModel.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestJournalModel = JournalModel.TestCase

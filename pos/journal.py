"""The journal: the durable, tamper-evident local queue of accepted payments (SPEC 3.4).

SQLite in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is fsynced,
so a payment is on stable storage before anyone is told APPROVED (see README for the measured
cost against ``NORMAL``, which can lose the last commits on power failure). The replay check,
the exposure caps and the insert run in one ``BEGIN IMMEDIATE`` transaction, so concurrent
writers on one data dir are serialised and cannot both pass a cap.

``UNIQUE (wallet_id, counter)`` is both the replay refusal and the upload's idempotency key.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pos import chain
from pos.decision import PaymentRequest, Policy, TerminalState
from pos.errors import Decline, StorageError
from pos.fsutil import atomic_write
from pos.heads import HeadWriter
from pos.identity import Identity
from pos.reasons import STORAGE_FAILURE
from pos.risk import Exposure, check_risk
from pos.schema import SCHEMA, STATE_ACKED, STATE_PENDING, counter_key, counter_value
from pos.sealing import Sealer
from pos.tokens import Token
from pos.upload_state import STORAGE_ERRORS as _STORAGE_ERRORS
from pos.upload_state import UploadState
from pos.upload_state import rollback as _rollback

log = logging.getLogger("pos.journal")

DB_FILE = "journal.db"
HEAD_FILE = "journal.head"
DEFAULT_HEAD_EVERY = 16


class Journal(UploadState):
    def __init__(
        self, data_dir: Path, *, head_every: int = DEFAULT_HEAD_EVERY, identity: Identity | None = None
    ) -> None:
        self.dir = Path(data_dir)
        self.head_every = max(1, head_every)
        self._db: sqlite3.Connection | None = None
        self._head_writer: HeadWriter | None = None
        self._head_lock = threading.Lock()
        self._head_seq = -1  # newest head this process wrote to the head file
        try:
            self.identity = identity or Identity(self.dir)
            self.sealer = Sealer(self.dir)
            self._connect()
            if not (self.dir / HEAD_FILE).exists() and self._last() is None:
                genesis_sig = self.identity.sign(chain.head_message(0, chain.GENESIS))
                atomic_write(self.dir / HEAD_FILE, self._head_doc(0, chain.GENESIS, genesis_sig))
        except _STORAGE_ERRORS as exc:
            self._drop_connection()
            raise StorageError(f"cannot open the journal in {self.dir}: {exc}") from exc

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                db = sqlite3.connect(self.dir / DB_FILE, isolation_level=None, timeout=10.0)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(SCHEMA)
            except _STORAGE_ERRORS as exc:
                raise StorageError(f"cannot open the journal: {exc}") from exc
            self._db = db
        return self._db

    def _drop_connection(self) -> None:
        """After an I/O error the connection may be unusable: reopen on the next call."""
        if self._db is not None:
            try:
                self._db.close()
            except _STORAGE_ERRORS:
                pass
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        return self._connect()

    # -- reads ------------------------------------------------------------------------------
    def _last(self) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT seq, hash FROM payments ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    def state(self, now: int) -> TerminalState:
        try:
            db = self.db
            row = db.execute("SELECT time FROM payments ORDER BY seq DESC LIMIT 1").fetchone()
            locked = db.execute(
                "SELECT wallet_id FROM velocity_locks WHERE cleared_by IS NULL AND until > ?",
                (now,),
            ).fetchall()
        except (StorageError, *_STORAGE_ERRORS) as exc:
            self._drop_connection()
            raise Decline(STORAGE_FAILURE, f"journal unreadable: {exc}") from exc
        return TerminalState(row[0] if row else None, frozenset(w for (w,) in locked))

    def _exposure(self, db: sqlite3.Connection, token: Token) -> Exposure:
        seen = db.execute(
            "SELECT 1 FROM payments WHERE wallet_id = ? AND counter = ? AND kind = 'payment'",
            (token.cert.wallet_id, counter_key(token.counter)),
        ).fetchone()
        wallet = db.execute(
            "SELECT pending FROM wallet_exposure WHERE wallet_id = ?", (token.cert.wallet_id,)
        ).fetchone()
        count, total = db.execute("SELECT pending_count, pending_total FROM totals").fetchone()
        return Exposure(seen is not None, wallet[0] if wallet else 0, count, total)

    # -- the commit -------------------------------------------------------------------------
    def commit(self, token: Token, amount: int, request: PaymentRequest, policy: Policy) -> int:
        """Check replay and exposure, then store the payment durably; return its seq.

        Raises ``Decline`` for a risk rule or ``storage_failure``. Returns only after COMMIT
        has returned, i.e. after the WAL is fsynced (``synchronous=FULL``).
        """
        head: tuple[int, bytes, bytes] | None = None
        try:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                check_risk(token, amount, self._exposure(db, token), policy)
                seq, row_hash = self._insert(db, token, amount, request)
                if seq % self.head_every == 0:
                    head = self._sign_head(db, seq, row_hash, request.now)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
        except _STORAGE_ERRORS as exc:
            self._drop_connection()
            log.error("journal commit failed: %s", exc)
            raise Decline(STORAGE_FAILURE, str(exc)) from exc
        if head is not None:
            if self._head_writer is None:
                self._head_writer = HeadWriter(self._write_head_file)
            self._head_writer.submit(head)
        return seq

    def _insert(
        self, db: sqlite3.Connection, token: Token, amount: int, request: PaymentRequest
    ) -> tuple[int, bytes]:
        wallet_id = token.cert.wallet_id
        seq, row_hash = self._append(
            db, "payment", request.now, wallet_id, token.counter, amount, request.currency,
            token.mode, request.terminal_id, chain.token_digest(token.raw), token.raw,
        )  # fmt: skip
        db.execute(
            "INSERT INTO wallet_exposure (wallet_id, pending) VALUES (?, ?)"
            " ON CONFLICT (wallet_id) DO UPDATE SET pending = pending + excluded.pending",
            (wallet_id, amount),
        )
        db.execute(
            "UPDATE totals SET pending_count = pending_count + 1, pending_total = pending_total + ?",
            (amount,),
        )
        return seq, row_hash

    def reverse(self, seq: int, now: int, reason: str = "void") -> int:
        """Record a reversal of payment ``seq`` (a void, a failed vend): a new row, never a deletion.

        The reversal names the payment by its (wallet id, counter), carries its amount and token
        digest, is chained and uploaded like any row, and can exist once per payment. Exposure is
        left as it is: the payment counts until the collector acknowledges it (the safe side).
        Returns the reversal's seq; raises ``KeyError`` for no such payment, ``ValueError`` when it
        is already reversed, ``StorageError`` when the row cannot be stored.
        """
        try:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                orig = db.execute(
                    "SELECT wallet_id, counter, amount, currency, mode, terminal_id, token_digest"
                    " FROM payments WHERE seq = ? AND kind = 'payment'",
                    (seq,),
                ).fetchone()
                if orig is None:
                    raise KeyError(f"no payment with seq {seq}")
                orig = (orig[0], counter_value(orig[1]), *orig[2:])
                done = db.execute(
                    "SELECT 1 FROM payments WHERE kind = 'reversal' AND wallet_id = ? AND counter = ?",
                    (orig[0], counter_key(orig[1])),
                ).fetchone()
                if done is not None:
                    raise ValueError(f"payment {seq} is already reversed")
                new_seq, _ = self._append(db, "reversal", now, *orig)
                log.info("payment %d reversed as seq %d (%s)", seq, new_seq, reason)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
        except _STORAGE_ERRORS as exc:
            self._drop_connection()
            raise StorageError(f"could not store the reversal: {exc}") from exc
        return new_seq

    def _append(
        self,
        db: sqlite3.Connection,
        kind: str,
        now: int,
        wallet_id: bytes,
        counter: int,
        amount: int,
        currency: str,
        mode: str,
        terminal_id: str,
        digest: bytes,
        token: bytes | None = None,
    ) -> tuple[int, bytes]:
        """Chain one row onto the journal inside the caller's transaction."""
        last = self._last()
        seq, prev = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
        row = chain.Row(seq, now, kind, wallet_id, counter, amount, currency, mode, terminal_id, digest, prev)
        row_hash = row.hash()
        sealed = self.sealer.seal(seq, token) if token is not None else None
        db.execute(
            "INSERT INTO payments (seq, time, kind, wallet_id, counter, amount, currency, mode,"
            " terminal_id, token_digest, token_ct, prev_hash, hash, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, now, kind, wallet_id, counter_key(counter), amount, currency, mode, terminal_id,
             digest, sealed, prev, row_hash, STATE_PENDING),
        )  # fmt: skip
        return seq, row_hash

    # -- signed heads -----------------------------------------------------------------------
    def _sign_head(
        self, db: sqlite3.Connection, seq: int, row_hash: bytes, now: int
    ) -> tuple[int, bytes, bytes]:
        sig = self.identity.sign(chain.head_message(seq, row_hash))
        db.execute(
            "INSERT OR REPLACE INTO heads (seq, hash, time, sig) VALUES (?, ?, ?, ?)",
            (seq, row_hash, now, sig),
        )
        return seq, row_hash, sig

    def _write_head_file(self, seq: int, row_hash: bytes, sig: bytes, *, durable: bool) -> None:
        """The newest signed head, kept outside the database so a cut tail shows.

        Called from the head writer and from ``seal_head``: one writer at a time (they share the
        temporary file name), and never an older head over a newer one.
        """
        with self._head_lock:
            if seq < self._head_seq:
                return
            try:
                atomic_write(self.dir / HEAD_FILE, self._head_doc(seq, row_hash, sig), durable=durable)
                self._head_seq = seq
            except OSError as exc:  # the head in the database still stands; verify reports a gap
                log.warning("could not write %s: %s", HEAD_FILE, exc)

    def _head_doc(self, seq: int, row_hash: bytes, sig: bytes) -> bytes:
        doc = {"seq": seq, "hash": row_hash.hex(), "sig": sig.hex(), "key": self.identity.public_raw.hex()}
        return json.dumps(doc).encode()

    def seal_head(self, now: int) -> int | None:
        """Sign the newest row if it is not signed yet and write the head file durably."""
        db = self.db
        last = self._last()
        if last is None:
            return None
        seq, row_hash = last
        signed = db.execute("SELECT hash, sig FROM heads WHERE seq = ?", (seq,)).fetchone()
        if signed is None:
            db.execute("BEGIN IMMEDIATE")
            _s, _h, sig = self._sign_head(db, seq, row_hash, now)
            db.execute("COMMIT")
        else:
            sig = signed[1]
        self._write_head_file(seq, row_hash, sig, durable=True)
        return int(seq)

    def close(self, now: int | None = None) -> None:
        """On shutdown: sign the head (SPEC: "at least every N rows and on shutdown")."""
        if self._head_writer is not None:
            self._head_writer.close()
            self._head_writer = None
        if self._db is None:
            return
        try:
            if now is not None:
                self.seal_head(now)
        except _STORAGE_ERRORS as exc:
            log.error("could not seal the journal head on close: %s", exc)
        finally:
            self._drop_connection()

    # -- upload state -----------------------------------------------------------------------
    def rows(self, since_seq: int = 0) -> Iterator[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT seq, time, kind, wallet_id, counter, amount, currency, mode, terminal_id,"
            " state FROM payments WHERE seq > ? ORDER BY seq",
            (since_seq,),
        )
        for seq, time, kind, wid, counter, amount, cur_, mode, tid, state in cur:
            yield {
                "seq": seq,
                "time": time,
                "kind": kind,
                "wallet_id": wid.hex(),
                "counter": counter_value(counter),
                "amount": amount,
                "currency": cur_,
                "mode": mode,
                "terminal_id": tid,
                "state": "acknowledged" if state == STATE_ACKED else "pending",
            }

    def recent_payments(self, since: int, scan: int = 10_000) -> dict[bytes, int]:
        """Wallet id -> time of its newest payment stored at or after ``since``, among the last
        ``scan`` rows: what a gate's anti-passback reloads after a restart. A primary-key range,
        so the read stays bounded however long the journal grows (``NOT INDEXED``: otherwise the
        planner walks the whole replay index for the GROUP BY)."""
        rows = self.db.execute(
            "SELECT wallet_id, max(time) FROM payments NOT INDEXED WHERE kind = 'payment' AND time >= ?"
            " AND seq > (SELECT coalesce(max(seq), 0) FROM payments) - ? GROUP BY wallet_id",
            (since, max(0, scan)),
        ).fetchall()
        return {bytes(wid): int(t) for wid, t in rows}

    def to_upload(self) -> tuple[int, int]:
        """(count, total) of payments still to upload that stand: a reversed payment's money is
        not owed, though it counts in the exposure until acknowledged (``reverse``)."""
        ((count, total),) = self.db.execute(
            "SELECT count(*), coalesce(sum(p.amount), 0) FROM payments p WHERE p.kind = 'payment'"
            " AND p.state != ? AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.kind = 'reversal'"
            " AND r.wallet_id = p.wallet_id AND r.counter = p.counter)",
            (STATE_ACKED,),
        ).fetchall()
        return int(count), int(total)

    def summary(self) -> dict[str, int]:
        db = self.db
        ((n, total),) = db.execute("SELECT count(*), coalesce(sum(amount), 0) FROM payments").fetchall()
        count, pending = db.execute("SELECT pending_count, pending_total FROM totals").fetchone()
        return {"payments": n, "total": total, "pending_count": count, "pending_total": pending}

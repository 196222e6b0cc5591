"""Upload state of journal rows (pending, acknowledged): what sync reads and acknowledges.

A mixin of ``Journal``: it uses the journal's connection, sealer and row layout. Acknowledged
payments stop counting towards wallet and terminal exposure (SPEC 3.3); their sealed tokens may
be pruned later while hashes and the replay key stay.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pos.schema import STATE_ACKED, STATE_PENDING, counter_value
from pos.sealing import Sealer

STORAGE_ERRORS = (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)


class UploadState:
    sealer: Sealer

    @property
    def db(self) -> sqlite3.Connection:  # the journal's connection
        raise NotImplementedError

    def acknowledge(self, seqs: list[int]) -> int:
        """Mark rows acknowledged by the collector; lowers wallet and terminal exposure."""
        db = self.db
        done = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for seq in seqs:
                row = db.execute(
                    "SELECT wallet_id, amount, kind FROM payments WHERE seq = ? AND state = ?",
                    (seq, STATE_PENDING),
                ).fetchone()
                if row is None:
                    continue  # already acknowledged: acknowledging is idempotent
                db.execute("UPDATE payments SET state = ? WHERE seq = ?", (STATE_ACKED, seq))
                done += 1
                if row[2] != "payment":
                    continue  # a reversal added no exposure, so its ack takes none away
                db.execute(
                    "UPDATE wallet_exposure SET pending = pending - ? WHERE wallet_id = ?",
                    (row[1], row[0]),
                )
                db.execute(
                    "UPDATE totals SET pending_count = pending_count - 1, pending_total = pending_total - ?",
                    (row[1],),
                )
            db.execute("COMMIT")
        except BaseException:
            rollback(db)
            raise
        return done

    def pending_rows(self, limit: int, after_seq: int = 0) -> list[dict[str, Any]]:
        """Up to ``limit`` un-acknowledged rows after ``after_seq``, in seq order, for upload.

        One short read: no transaction stays open once this returns, so accepting never waits
        for the network. Each row carries its chain fields and the raw token, unsealed.
        """
        cur = self.db.execute(
            "SELECT seq, time, kind, wallet_id, counter, amount, currency, mode, terminal_id,"
            " token_digest, token_ct, prev_hash, hash FROM payments"
            " WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?",
            (STATE_PENDING, after_seq, max(0, limit)),
        )
        out = []
        for (
            seq,
            time,
            kind,
            wid,
            counter,
            amount,
            cur_,
            mode,
            tid,
            digest,
            ct,
            prev,
            row_hash,
        ) in cur.fetchall():
            out.append(
                {
                    "seq": seq, "time": time, "kind": kind, "wallet_id": wid,
                    "counter": counter_value(counter), "amount": amount, "currency": cur_, "mode": mode,
                    "terminal_id": tid,
                    "token_digest": digest, "token": self.sealer.open(seq, ct) if ct is not None else None,
                    "prev_hash": prev, "hash": row_hash,
                }
            )  # fmt: skip
        return out

    def prune(self, before: int) -> int:
        """Drop the sealed token of acknowledged rows older than ``before`` (epoch seconds).

        Hashes, the token digest and (wallet id, counter) stay, so the chain still verifies and
        a replay of a pruned token is still refused; pending rows are never touched.
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "UPDATE payments SET token_ct = NULL WHERE state = ? AND time < ? AND token_ct IS NOT NULL",
                (STATE_ACKED, before),
            )
            db.execute("COMMIT")
        except BaseException:
            rollback(db)
            raise
        return cur.rowcount


def rollback(db: sqlite3.Connection) -> None:
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except STORAGE_ERRORS:
        pass  # the connection is dropped by the caller; SQLite rolls back on reopen

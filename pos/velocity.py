"""The velocity lock of SPEC 3.3: repeated failures naming one wallet lock it on this terminal.

Only failures that name an issuer-verified wallet id count (``bad_token_signature``,
``replayed``): a certificate with a bad issuer signature can name any wallet, and counting it
would let anyone lock out anyone. Anyone who saw a QR code can still replay it, so a lock needs at
least 3 failures, lasts at most the configured time (SPEC default 10 minutes; the issue's "until
cleared" is read as "until cleared or expired", the safer reading for honest wallets), and is
cleared early by a new deny list or by the operator. Locks are kept with a ``reported`` flag for
the collector, which alone decides on the deny list.
"""

from __future__ import annotations

import logging
import sqlite3

from pos import reasons as r
from pos.decision import Policy

log = logging.getLogger("pos.velocity")

COUNTED = frozenset({r.BAD_TOKEN_SIGNATURE, r.REPLAYED})
MIN_FAILURES = 3
MAX_LOCK_S = 600


def effective(policy: Policy) -> tuple[int, int, int]:
    """(failures, window, lock) with SPEC's bounds enforced whatever the configuration says."""
    return (
        max(MIN_FAILURES, policy.velocity_failures),
        policy.velocity_window_s,
        min(MAX_LOCK_S, policy.velocity_lock_s),
    )


def record_failure(db: sqlite3.Connection, wallet_id: bytes, reason: str, now: int, policy: Policy) -> bool:
    """Record one counted failure; return True when it starts a lock."""
    if reason not in COUNTED:
        return False
    needed, window, lock_s = effective(policy)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "INSERT INTO velocity_failures (wallet_id, time, reason) VALUES (?, ?, ?)",
            (wallet_id, now, reason),
        )
        (count,) = db.execute(
            "SELECT count(*) FROM velocity_failures WHERE wallet_id = ? AND time > ?",
            (wallet_id, now - window),
        ).fetchone()
        locked = count >= needed
        if locked:
            db.execute(
                "INSERT INTO velocity_locks (wallet_id, since, until, failures) VALUES (?, ?, ?, ?)",
                (wallet_id, now, now + lock_s, count),
            )
            # The failures are spent on this lock; the next lock needs fresh ones.
            db.execute("DELETE FROM velocity_failures WHERE wallet_id = ?", (wallet_id,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if locked:
        log.warning(
            "wallet %s locked on this terminal for %d s after %d failures within %d s",
            wallet_id.hex(), lock_s, count, window,
        )  # fmt: skip
    return bool(locked)


def clear(db: sqlite3.Connection, by: str, wallet_id: bytes | None = None) -> int:
    """Clear open locks (all, or one wallet's): a new deny list or an operator command."""
    if wallet_id is None:
        cur = db.execute("UPDATE velocity_locks SET cleared_by = ? WHERE cleared_by IS NULL", (by,))
    else:
        cur = db.execute(
            "UPDATE velocity_locks SET cleared_by = ? WHERE cleared_by IS NULL AND wallet_id = ?",
            (by, wallet_id),
        )
    if cur.rowcount:
        log.info("cleared %d velocity lock(s): %s", cur.rowcount, by)
    return cur.rowcount

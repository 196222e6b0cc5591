"""The journal's SQLite schema, in one place so the journal, its checker and sync agree."""

STATE_PENDING = 0
STATE_ACKED = 1


COUNTER_BYTES = 8


def counter_key(counter: int) -> bytes:
    """A wallet counter as stored: 8 bytes big-endian.

    SPEC counters are CBOR unsigned integers, up to 2**64 - 1; SQLite's INTEGER stops at
    2**63 - 1. Big-endian bytes keep the full range, the order, and the UNIQUE index.
    """
    return counter.to_bytes(8, "big")


def counter_value(stored: bytes) -> int:
    return int.from_bytes(stored, "big")


SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    wallet_id BLOB NOT NULL,
    counter BLOB NOT NULL CHECK (length(counter) = 8),
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    mode TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    token_digest BLOB NOT NULL,
    token_ct BLOB,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    state INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS payments_replay
    ON payments (wallet_id, counter) WHERE kind = 'payment';
CREATE UNIQUE INDEX IF NOT EXISTS payments_reversal
    ON payments (wallet_id, counter) WHERE kind = 'reversal';
CREATE INDEX IF NOT EXISTS payments_pending ON payments (state, seq);
CREATE TABLE IF NOT EXISTS heads (
    seq INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    time INTEGER NOT NULL,
    sig BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS wallet_exposure (
    wallet_id BLOB PRIMARY KEY,
    pending INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    pending_count INTEGER NOT NULL,
    pending_total INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals (id, pending_count, pending_total) VALUES (0, 0, 0);
CREATE TABLE IF NOT EXISTS velocity_failures (
    wallet_id BLOB NOT NULL,
    time INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS velocity_failures_by_wallet ON velocity_failures (wallet_id, time);
CREATE TABLE IF NOT EXISTS velocity_locks (
    id INTEGER PRIMARY KEY,
    wallet_id BLOB NOT NULL,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    cleared_by TEXT,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS velocity_locks_open ON velocity_locks (cleared_by, until);
"""

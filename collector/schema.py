"""The collector's tables as SQL text, written once for both databases: ``{INT}``, ``{BLOB}`` and
``{AUTOID}`` are filled in per dialect (``TYPES``). ``collector.db`` runs it; the payments table's
PostgreSQL layout (monthly partitions, claims) is ``collector.partitions``; the console's tables
are ``collector.console.schema``.
"""

from __future__ import annotations

from collector.console import schema as console_schema

# Wallet counters are stored as 8 bytes big-endian (``ckey``): SPEC counters reach 2**64 - 1,
# past both databases' BIGINT; big-endian bytes keep the order and the unique index.
SCHEMA = """
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    public_key {BLOB} NOT NULL UNIQUE,
    enrolled_at {INT} NOT NULL,
    last_seq {INT} NOT NULL DEFAULT 0,
    last_hash {BLOB} NOT NULL,
    last_seen {INT},
    flags {INT} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id {AUTOID},
    kind TEXT NOT NULL,
    dedupe TEXT NOT NULL UNIQUE,
    terminal_id TEXT,
    wallet_id {BLOB},
    counter {BLOB},
    detail TEXT NOT NULL,
    created_at {INT} NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at);
CREATE TABLE IF NOT EXISTS denied (
    wallet_id {BLOB} PRIMARY KEY,
    reason TEXT NOT NULL,
    event_id {INT},
    created_at {INT} NOT NULL,
    added_seq {INT}
);
-- Deny deltas select the wallets added after the terminal's seq.
CREATE INDEX IF NOT EXISTS denied_added ON denied (added_seq);
CREATE TABLE IF NOT EXISTS lists (
    typ {INT} NOT NULL,
    seq {INT} NOT NULL,
    iat {INT} NOT NULL,
    next_update {INT} NOT NULL,
    raw {BLOB} NOT NULL,
    published_at {INT} NOT NULL,
    PRIMARY KEY (typ, seq)
);
CREATE TABLE IF NOT EXISTS nonces (
    terminal_id TEXT NOT NULL,
    nonce {BLOB} NOT NULL,
    seen_at {INT} NOT NULL,
    PRIMARY KEY (terminal_id, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_age ON nonces (seen_at);
CREATE TABLE IF NOT EXISTS locks (
    terminal_id TEXT NOT NULL,
    lock_id {INT} NOT NULL,
    wallet_id {BLOB} NOT NULL,
    since {INT} NOT NULL,
    until {INT} NOT NULL,
    failures {INT} NOT NULL,
    received_at {INT} NOT NULL,
    PRIMARY KEY (terminal_id, lock_id)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    value {INT} NOT NULL,
    PRIMARY KEY (name, label, terminal_id)
);
"""

# -- issue 11: the collector's own record of each terminal, and the operator's audit trail -----
# (``collector.marks``, ``collector.audit``); kept apart so the tables above stay as they were.
JUDGEMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS terminal_marks (
    terminal_id TEXT PRIMARY KEY,
    max_time {INT} NOT NULL DEFAULT 0,
    deny_seq {INT} NOT NULL DEFAULT 0,
    deny_from_seq {INT} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
    id {AUTOID},
    at {INT} NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    wallet_id {BLOB},
    reason TEXT NOT NULL,
    deny_list_seq {INT}
);
"""
# ---------------------------------------------------------------------------------------------

# -- issue 15: the certificate expiry of denied wallets, so the deny list stays bounded
# (``collector.deny_expiry``); its own table, so ``denied`` stays as it was.
DENY_EXPIRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS deny_expiry (
    wallet_id {BLOB} PRIMARY KEY,
    cert_exp {INT},
    dropped_seq {INT}
);
"""

# The payments table on SQLite (one file, one site): one table, (wallet id, counter) once by a
# partial unique index. PostgreSQL's partitioned layout and its claims table: ``collector.partitions``.
ENTRIES_SQLITE = """
CREATE TABLE IF NOT EXISTS entries (
    terminal_id TEXT NOT NULL,
    seq {INT} NOT NULL,
    time {INT} NOT NULL,
    kind TEXT NOT NULL,
    wallet_id {BLOB} NOT NULL,
    counter {BLOB} NOT NULL,
    amount {INT} NOT NULL,
    currency TEXT NOT NULL,
    mode TEXT NOT NULL,
    row_terminal_id TEXT NOT NULL,
    token_digest {BLOB} NOT NULL,
    token {BLOB},
    hash {BLOB} NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    offline_limit {INT},
    ingested_at {INT} NOT NULL,
    reversed_seq {INT},
    PRIMARY KEY (terminal_id, seq)
);
-- Also a wallet's payments: the console's wallet search and the exact exposure check, which
-- runs only for wallets over their limit by the per-day sums (collector.wallet_days). The
-- covering index it had, entries_exposure, is dropped: every random-key index puts about one
-- page per row into each commit's WAL (measured: 10 us of the collector's CPU per payment).
CREATE UNIQUE INDEX IF NOT EXISTS entries_once ON entries (wallet_id, counter) WHERE status = 'accepted';
DROP INDEX IF EXISTS entries_exposure;
CREATE INDEX IF NOT EXISTS entries_ingested ON entries (ingested_at);
-- The console's time-range pages, keyset on (time, terminal, seq). PostgreSQL has entries_time.
CREATE INDEX IF NOT EXISTS entries_pay_time ON entries (time, terminal_id, seq) WHERE status = 'accepted';
"""

# PostgreSQL stores two columns of ``entries`` only where they differ from what the row holds
# anyway (``collector.partitions``): readers take them through these expressions.
ROW_TERMINAL_SQL = "coalesce(row_terminal_id, terminal_id)"


def amount_sum_sql(expr: str, pg: bool) -> str:
    """``sum(expr)`` of amounts that never fails: SQLite's ``sum()`` raises past 2**63 - 1 (a
    certificate may allow any amount, a rogue terminal may upload them), so there ``total()``,
    exact below 2**53 minor units, cast back to an integer (saturating at 2**63 - 1);
    PostgreSQL adds ``bigint`` up in ``numeric``."""
    return f"sum({expr})" if pg else f"CAST(total({expr}) AS INTEGER)"


def token_digest_sql(pg: bool, table: str = "") -> str:
    """The stored payment's token digest: on PostgreSQL NULL when the token is stored (the
    token's SHA-256, checked at ingest), so computed from it; on SQLite the column."""
    t = f"{table}." if table else ""
    return f"coalesce({t}token_digest, sha256({t}token))" if pg else f"{t}token_digest"


INT64_MAX = (1 << 63) - 1  # the largest integer both databases store

TYPES = {
    "sqlite": {"BLOB": "BLOB", "INT": "INTEGER", "AUTOID": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgres": {
        "BLOB": "BYTEA",
        "INT": "BIGINT",
        "AUTOID": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
}


def schema_for(dialect: str) -> str:
    """The tables but ``entries`` (see ``ENTRIES_SQLITE`` and ``collector.partitions``)."""
    console = console_schema.CONSOLE_PAGES_SCHEMA + console_schema.CONSOLE_SCHEMA
    return (SCHEMA + JUDGEMENT_SCHEMA + DENY_EXPIRY_SCHEMA + console).format(**TYPES[dialect])

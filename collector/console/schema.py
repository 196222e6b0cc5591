"""The console's tables (accounts, sessions, recovery codes, enrollment codes), kept apart from
the collector's own schema and appended to it by ``collector.db``; and the one column the console
adds to the operator audit trail (the client address), added in place on an older database."""

from __future__ import annotations

from typing import Any

CONSOLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    totp_last_step {INT} NOT NULL DEFAULT 0,
    created_at {INT} NOT NULL
);
CREATE TABLE IF NOT EXISTS console_recovery (
    name TEXT NOT NULL,
    code_hash {BLOB} NOT NULL,
    used_at {INT},
    PRIMARY KEY (name, code_hash)
);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash {BLOB} PRIMARY KEY,
    name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    pending {INT} NOT NULL,
    created_at {INT} NOT NULL,
    seen_at {INT} NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_name ON console_sessions (name);
CREATE TABLE IF NOT EXISTS console_enroll_codes (
    id {AUTOID},
    code_hash {BLOB} NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at {INT} NOT NULL,
    expires_at {INT} NOT NULL,
    used_at {INT},
    used_by TEXT,
    revoked_at {INT}
);
"""


# -- issue 13 (console pages): revoked terminals, list fetch times, and the indexes the console's
# fleet, payments and events queries need (``collector.console.queries``); kept apart again.
CONSOLE_PAGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS revoked_terminals (
    terminal_id TEXT PRIMARY KEY,
    at {INT} NOT NULL,
    who TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS list_fetches (
    terminal_id TEXT PRIMARY KEY,
    at {INT} NOT NULL
);
CREATE INDEX IF NOT EXISTS terminals_seen ON terminals (last_seen);
CREATE INDEX IF NOT EXISTS events_terminal ON events (terminal_id, id);
"""


def upgrade(tx: Any) -> None:
    """Add ``audit.address`` to a database made before the console (compatible: nullable)."""
    if tx.pg:
        tx.execute("ALTER TABLE audit ADD COLUMN IF NOT EXISTS address TEXT")
        return
    columns = {row[1] for row in tx.all("PRAGMA table_info(audit)")}
    if "address" not in columns:
        tx.execute("ALTER TABLE audit ADD COLUMN address TEXT")

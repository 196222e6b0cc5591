"""What the collector knows of enrolled terminals, for readers outside it (``pos receipt verify
--collector-db``): read only, so checking a receipt can never change the system of record.

SQLite is opened with the ``mode=ro`` URI (no schema, no WAL switch, no write can succeed);
PostgreSQL with ``default_transaction_read_only``, so the server itself refuses any write on
that session.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from collector.db import parse_url

_KEY_OF = "SELECT public_key FROM terminals WHERE terminal_id = ?"


class EnrollmentsUnavailable(Exception):
    """The collector database cannot be read (no such file, unreachable server, not a collector)."""


def enrolled_key(db_url: str, terminal_id: str) -> bytes | None:
    """The Ed25519 public key (32 bytes) enrolled for ``terminal_id``, or None if none is."""
    try:
        dialect, target = parse_url(db_url)
    except ValueError as exc:
        raise EnrollmentsUnavailable(str(exc)) from None
    if dialect == "sqlite":
        return _sqlite_key(Path(target), terminal_id)
    return _postgres_key(target, terminal_id)


def _sqlite_key(path: Path, terminal_id: str) -> bytes | None:
    if not path.is_file():
        raise EnrollmentsUnavailable(f"no database at {path}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=10)
        try:
            row = conn.execute(_KEY_OF, (terminal_id,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise EnrollmentsUnavailable(f"{path}: {exc}") from None
    return bytes(row[0]) if row is not None else None


def _postgres_key(url: str, terminal_id: str) -> bytes | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10, options="-c default_transaction_read_only=on") as conn:
            row = conn.execute(_KEY_OF.replace("?", "%s"), (terminal_id,)).fetchone()
    except psycopg.Error as exc:
        raise EnrollmentsUnavailable(str(exc).strip()) from None
    return bytes(row[0]) if row is not None else None

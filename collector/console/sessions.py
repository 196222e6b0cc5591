"""Console sessions, kept in the database so every serving process shares them.

The browser holds a random token in an HttpOnly, SameSite=Strict cookie (Secure under TLS); the
database holds only its SHA-256, so a copy of the database signs nobody in. A session ends after
``IDLE_S`` without a request or ``ABSOLUTE_S`` after sign-in, at logout, and at once when the
account is removed or its second factor reset. A session waiting for the second step
(``pending``) opens no page and lives ``PENDING_S``; passing the step issues a new token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from collector.db import Database

COOKIE = "console_session"
IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 3600
PENDING_S = 5 * 60


@dataclass(frozen=True)
class Session:
    name: str
    role: str
    csrf: str
    pending: bool


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def start(db: Database, name: str, *, pending: bool, now: int | None = None) -> str:
    """A new session for ``name``; returns the cookie token (never stored)."""
    token = secrets.token_urlsafe(32)
    t = int(time.time()) if now is None else now
    with db.write() as tx:
        tx.execute(
            "INSERT INTO console_sessions (token_hash, name, csrf, pending, created_at, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), name, secrets.token_urlsafe(24), int(pending), t, t),
        )
    return token


def find(db: Database, token: str | None, *, now: int | None = None) -> Session | None:
    """The live session of ``token`` (its idle clock restarted), or None."""
    if not token or len(token) > 128:
        return None
    t = int(time.time()) if now is None else now
    key = _digest(token)
    with db.read() as tx:
        row = tx.one(
            "SELECT s.name, u.role, s.csrf, s.pending, s.created_at, s.seen_at FROM console_sessions s"
            " JOIN console_users u ON u.name = s.name WHERE s.token_hash = ?",
            (key,),
        )
    if row is None:
        return None
    name, role, csrf, pending, created, seen = row
    life = PENDING_S if pending else ABSOLUTE_S
    if t - int(created) >= life or t - int(seen) >= IDLE_S:
        end(db, token)
        return None
    if t - int(seen) >= 30:  # a write on every request would queue pages behind ingest on SQLite
        with db.write() as tx:
            tx.execute("UPDATE console_sessions SET seen_at = ? WHERE token_hash = ?", (t, key))
    return Session(str(name), str(role), str(csrf), bool(pending))


def end(db: Database, token: str | None) -> None:
    if token:
        with db.write() as tx:
            tx.execute("DELETE FROM console_sessions WHERE token_hash = ?", (_digest(token),))


def sweep(db: Database, now: int | None = None) -> int:
    """Delete expired sessions (sign-in calls it: the table stays the size of the live ones)."""
    t = int(time.time()) if now is None else now
    with db.write() as tx:
        cur = tx.execute(
            "DELETE FROM console_sessions WHERE seen_at <= ? OR created_at <= ?"
            " OR (pending = 1 AND created_at <= ?)",
            (t - IDLE_S, t - ABSOLUTE_S, t - PENDING_S),
        )
    return int(cur.rowcount or 0)

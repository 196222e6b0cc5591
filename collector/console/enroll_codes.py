"""One-time enrollment codes: an operator mints one in the console for a terminal to enroll
with (``pos enroll --code CODE``) instead of the operator token, which stays for automation.

A code is 80 random bits, shown once; the database keeps its SHA-256 and a four-character hint.
It enrolls one terminal, before it expires, unless revoked: the use is recorded in the same
transaction as the enrollment, so two terminals racing with one code cannot both get in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from collector import audit
from collector.db import Database, Tx

SCHEME = "EnrollCode"  # Authorization: EnrollCode XXXX-XXXX-XXXX-XXXX
MAX_TTL_S = 7 * 86400
DEFAULT_TTL_S = 3600
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand


class CodeRefused(Exception):
    """The code is unknown, used, revoked or expired (one answer for all: no oracle)."""


@dataclass(frozen=True)
class CodeRow:
    id: int
    hint: str
    note: str
    created_by: str
    created_at: int
    expires_at: int
    used_at: int | None
    used_by: str | None
    revoked_at: int | None

    def state(self, now: int) -> str:
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "unused"


def _digest(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode()).digest()


def normalise(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def code_of(authorization: str | None) -> str | None:
    """The code in an ``Authorization: EnrollCode ...`` header, else None."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip()[:64] if scheme == SCHEME else None


def mint(db: Database, who: str, note: str, ttl_s: int, address: str) -> tuple[str, CodeRow]:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))  # 16 x 5 bits
    code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
    now = int(time.time())
    with db.write() as tx:
        tx.execute(
            "INSERT INTO console_enroll_codes (code_hash, hint, note, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(code), raw[:4], note, who, now, now + ttl_s),
        )
        (cid,) = tx.one("SELECT id FROM console_enroll_codes WHERE code_hash = ?", (_digest(code),))
        audit.record(tx, at=now, who=who, action="enroll_code_mint", wallet_id=None,
                     reason=f"code {cid} ({raw[:4]}...): {note}", seq=None, address=address)  # fmt: skip
    return code, CodeRow(int(cid), raw[:4], note, who, now, now + ttl_s, None, None, None)


def revoke(db: Database, code_id: int, who: str, address: str) -> bool:
    """Revoke an unused code; False when there is no such unused, unrevoked code."""
    now = int(time.time())
    with db.write() as tx:
        cur = tx.execute(
            "UPDATE console_enroll_codes SET revoked_at = ?"
            " WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
            (now, code_id),
        )
        if cur.rowcount != 1:
            return False
        audit.record(tx, at=now, who=who, action="enroll_code_revoke", wallet_id=None,
                     reason=f"code {code_id}", seq=None, address=address)  # fmt: skip
    return True


def usable(db: Database, code: str, now: int) -> bool:
    with db.read() as tx:
        row = tx.one(
            "SELECT 1 FROM console_enroll_codes"
            " WHERE code_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
            (_digest(code), now),
        )
    return row is not None


def redeem(tx: Tx, code: str, terminal_id: str, now: int, address: str | None = None) -> None:
    """Spend ``code`` for ``terminal_id`` inside the enrollment's transaction, or raise."""
    cur = tx.execute(
        "UPDATE console_enroll_codes SET used_at = ?, used_by = ?"
        " WHERE code_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
        (now, terminal_id, _digest(code), now),
    )
    if cur.rowcount != 1:
        raise CodeRefused
    audit.record(tx, at=now, who=f"terminal {terminal_id}", action="enroll_code_use", wallet_id=None,
                 reason=f"enrolled {terminal_id}", seq=None, address=address)  # fmt: skip


def listing(db: Database, limit: int = 200) -> list[CodeRow]:
    with db.read() as tx:
        rows: list[Any] = tx.all(
            "SELECT id, hint, note, created_by, created_at, expires_at, used_at, used_by, revoked_at"
            " FROM console_enroll_codes ORDER BY id DESC LIMIT ?",
            (limit,),
        )
    return [CodeRow(*row) for row in rows]

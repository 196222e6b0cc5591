"""The operator's second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, as authenticator
apps expect) and ten one-time recovery codes.

A code is accepted for the step before, the current step and the step after (one step of clock
drift either way), and only for a step later than the last one accepted for that account: a code
replayed in its window, or an older code, is refused. Recovery codes are 80 random bits, so one
SHA-256 each is enough to store them (a slow hash guards guessable secrets; these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp

from collector.db import Tx

ISSUER = "OWT1 collector"
STEP_S = 30
RECOVERY_CODES = 10


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    recovery_codes: tuple[str, ...]


def new_enrolment(name: str) -> Enrolment:
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
    codes = tuple(_recovery_code() for _ in range(RECOVERY_CODES))
    return Enrolment(secret, uri, codes)


def _recovery_code() -> str:
    raw = secrets.token_hex(10)  # 80 bits
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def code_hash(code: str) -> bytes:
    return hashlib.sha256(code.strip().lower().encode()).digest()


def store(tx: Tx, name: str, enrolment: Enrolment | None) -> None:
    """Replace ``name``'s factor (None: remove it) and its recovery codes."""
    tx.execute("DELETE FROM console_recovery WHERE name = ?", (name,))
    secret = enrolment.secret if enrolment else None
    tx.execute("UPDATE console_users SET totp_secret = ?, totp_last_step = 0 WHERE name = ?", (secret, name))
    if enrolment:
        tx.executemany(
            "INSERT INTO console_recovery (name, code_hash) VALUES (?, ?)",
            [(name, code_hash(c)) for c in enrolment.recovery_codes],
        )


def _matching_step(secret: str, code: str, now: int) -> int | None:
    totp = pyotp.TOTP(secret)
    step = now // STEP_S
    found = None
    for s in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.at(s * STEP_S), code):
            found = s
    return found


def check(tx: Tx, name: str, code: str, now: int) -> str | None:
    """In a write transaction: ``"totp"`` or ``"recovery"`` when ``code`` passes (and is spent),
    None when it does not."""
    # FOR UPDATE: two PostgreSQL sessions sending one code at once must not both pass (SQLite's
    # write transaction already holds the database).
    lock = " FOR UPDATE" if tx.pg else ""
    row = tx.one(f"SELECT totp_secret, totp_last_step FROM console_users WHERE name = ?{lock}", (name,))
    if row is None or row[0] is None:
        return None
    secret, last_step = str(row[0]), int(row[1])
    code = code.strip()
    if len(code) == 6 and code.isascii() and code.isdigit():
        step = _matching_step(secret, code, now)
        if step is None or step <= last_step:
            return None
        tx.execute("UPDATE console_users SET totp_last_step = ? WHERE name = ?", (step, name))
        return "totp"
    if len(code) > 64:
        return None
    spent = tx.execute(
        "UPDATE console_recovery SET used_at = ? WHERE name = ? AND code_hash = ? AND used_at IS NULL",
        (now, name, code_hash(code)),
    )
    return "recovery" if spent.rowcount == 1 else None

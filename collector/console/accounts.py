"""Console accounts: a name, a role (viewer or operator), an argon2 password hash and, for every
operator (and any viewer who asks), a TOTP second factor (``collector.console.totp``).

Every enrolment, reset and removal goes into the audit trail with the address it came from
(``"cli"`` for the command line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector import audit
from collector.console import totp as factor
from collector.console.totp import Enrolment
from collector.db import Database, Tx

VIEWER, OPERATOR = "viewer", "operator"
ROLES = (VIEWER, OPERATOR)
NAME_MAX = 64
PASSWORD_MAX = 1024

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs what a wrong password costs.
_DUMMY_HASH = _hasher.hash("not a password")

__all__ = ["OPERATOR", "ROLES", "VIEWER", "Account", "AccountError", "Enrolment", "create_user"]


class AccountError(Exception):
    """A refused account change: the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    has_totp: bool
    created_at: int


def _trail(tx: Tx, now: int, who: str, action: str, what: str, address: str) -> None:
    audit.record(tx, at=now, who=who, action=action, wallet_id=None, reason=what, seq=None, address=address)


def check_name(name: str) -> str:
    if not (0 < len(name) <= NAME_MAX) or not name.isprintable() or name != name.strip():
        raise AccountError(f"a user name is 1-{NAME_MAX} printable characters without outer spaces")
    return name


def create_user(
    db: Database, name: str, role: str, password: str, *, totp: bool, by: str = "cli", address: str = "cli"
) -> Enrolment | None:
    """Add an account; operators always get a second factor. Returns the enrolment (secret, URI,
    recovery codes) to show once, or None when the account has none."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"role {role!r}: give viewer or operator")
    if not password or len(password) > PASSWORD_MAX:
        raise AccountError(f"a password is 1-{PASSWORD_MAX} characters")
    enrolment = totp_new(name) if (totp or role == OPERATOR) else None
    now = int(time.time())
    with db.write() as tx:
        if tx.one("SELECT 1 FROM console_users WHERE name = ?", (name,)) is not None:
            raise AccountError(f"user {name!r} exists")
        tx.execute(
            "INSERT INTO console_users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, role, _hasher.hash(password), now),
        )
        factor.store(tx, name, enrolment)
        _trail(tx, now, by, "user_add", f"{name} ({role})", address)
        if enrolment:
            _trail(tx, now, by, "totp_enrol", name, address)
    return enrolment


def totp_new(name: str) -> Enrolment:
    return factor.new_enrolment(name)


def remove_user(db: Database, name: str, *, by: str = "cli", address: str = "cli") -> None:
    now = int(time.time())
    with db.write() as tx:
        if tx.execute("DELETE FROM console_users WHERE name = ?", (name,)).rowcount != 1:
            raise AccountError(f"no user {name!r}")
        tx.execute("DELETE FROM console_recovery WHERE name = ?", (name,))
        tx.execute("DELETE FROM console_sessions WHERE name = ?", (name,))
        _trail(tx, now, by, "user_remove", name, address)


def reset_totp(db: Database, name: str, *, by: str = "cli", address: str = "cli") -> Enrolment:
    """A new factor and new recovery codes; every session of the account ends at once."""
    enrolment = totp_new(name)
    now = int(time.time())
    with db.write() as tx:
        if tx.one("SELECT 1 FROM console_users WHERE name = ?", (name,)) is None:
            raise AccountError(f"no user {name!r}")
        factor.store(tx, name, enrolment)
        tx.execute("DELETE FROM console_sessions WHERE name = ?", (name,))
        _trail(tx, now, by, "totp_reset", name, address)
    return enrolment


def list_users(db: Database) -> list[Account]:
    with db.read() as tx:
        rows = tx.all("SELECT name, role, totp_secret, created_at FROM console_users ORDER BY name")
    return [Account(str(n), str(r), s is not None, int(c)) for n, r, s, c in rows]


def check_password(db: Database, name: str, password: str) -> Account | None:
    """The account when ``password`` is its password, else None (same cost either way)."""
    with db.read() as tx:
        row = tx.one(
            "SELECT name, role, password_hash, totp_secret, created_at FROM console_users WHERE name = ?",
            (name,),
        )
    stored = str(row[2]) if row is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password[:PASSWORD_MAX])
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return Account(str(row[0]), str(row[1]), row[3] is not None, int(row[4]))

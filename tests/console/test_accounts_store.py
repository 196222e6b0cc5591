"""Accounts, sessions and second-factor rules on both databases, without a browser: the clock is
a parameter, so expiry and TOTP steps are exact."""

from __future__ import annotations

import threading
import time

import pyotp
import pytest

from collector.console import accounts, sessions, totp
from collector.console.accounts import AccountError, create_user
from tests.conftest import run_pos_process

T0 = 1_800_000_000  # a step boundary: T0 % 30 == 0


def test_password_is_stored_as_argon2_and_checked(any_db):
    create_user(any_db, "ann", "viewer", "s3cret pass", totp=False)
    with any_db.read() as tx:
        (stored,) = tx.one("SELECT password_hash FROM console_users WHERE name = ?", ("ann",))
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    assert accounts.check_password(any_db, "ann", "s3cret pass").role == "viewer"
    assert accounts.check_password(any_db, "ann", "wrong") is None
    assert accounts.check_password(any_db, "nobody", "s3cret pass") is None


def test_operators_always_get_a_factor_and_ten_recovery_codes(any_db):
    enrolment = create_user(any_db, "op", "operator", "pw", totp=False)
    assert enrolment is not None and len(set(enrolment.recovery_codes)) == 10
    assert enrolment.uri.startswith("otpauth://totp/") and "secret=" in enrolment.uri
    with any_db.read() as tx:
        rows = tx.all("SELECT code_hash FROM console_recovery WHERE name = ?", ("op",))
    hashes = [bytes(r[0]) for r in rows]
    assert len(hashes) == 10 and all(c.encode() not in h for c in enrolment.recovery_codes for h in hashes)


def test_totp_codes_once_with_one_step_of_drift(any_db):
    secret = create_user(any_db, "op", "operator", "pw", totp=True).secret
    code = pyotp.TOTP(secret)
    with any_db.write() as tx:
        assert totp.check(tx, "op", code.at(T0 - 60), T0) is None  # two steps old
        assert totp.check(tx, "op", code.at(T0 + 60), T0) is None  # two steps ahead
        assert totp.check(tx, "op", code.at(T0 - 30), T0) == "totp"  # one behind
        assert totp.check(tx, "op", code.at(T0 - 30), T0) is None  # replay
        assert totp.check(tx, "op", code.at(T0), T0) == "totp"
        assert totp.check(tx, "op", code.at(T0), T0 + 10) is None  # replay later in its window
        assert totp.check(tx, "op", code.at(T0 + 30), T0) == "totp"  # one ahead
        assert totp.check(tx, "op", "12345", T0) is None
        assert totp.check(tx, "op", "x" * 10_000, T0) is None


def test_recovery_code_works_once(any_db):
    enrolment = create_user(any_db, "op", "operator", "pw", totp=True)
    code = enrolment.recovery_codes[3]
    with any_db.write() as tx:
        assert totp.check(tx, "op", code.upper(), T0) == "recovery"
        assert totp.check(tx, "op", code, T0) is None


def test_session_ends_when_idle_and_at_its_absolute_limit(any_db):
    create_user(any_db, "v", "viewer", "pw", totp=False)
    token = sessions.start(any_db, "v", pending=False, now=T0)
    with any_db.read() as tx:
        (stored,) = tx.one("SELECT token_hash FROM console_sessions")
    assert token.encode() not in bytes(stored)  # only its hash is kept
    seen = T0 + sessions.IDLE_S - 1
    assert sessions.find(any_db, token, now=seen) is not None  # a request restarts the idle clock
    assert sessions.find(any_db, token, now=seen + sessions.IDLE_S - 1) is not None
    later = sessions.start(any_db, "v", pending=False, now=T0)
    assert sessions.find(any_db, later, now=T0 + sessions.IDLE_S) is None  # idle too long
    busy = sessions.start(any_db, "v", pending=False, now=T0)
    for t in range(T0, T0 + sessions.ABSOLUTE_S, sessions.IDLE_S // 2):
        assert sessions.find(any_db, busy, now=t) is not None
    assert sessions.find(any_db, busy, now=T0 + sessions.ABSOLUTE_S) is None


def test_a_pending_session_is_short_and_not_signed_in(any_db):
    create_user(any_db, "op", "operator", "pw", totp=True)
    token = sessions.start(any_db, "op", pending=True, now=T0)
    found = sessions.find(any_db, token, now=T0 + 1)
    assert found is not None and found.pending
    assert sessions.find(any_db, token, now=T0 + sessions.PENDING_S) is None


def test_removing_an_account_or_resetting_its_factor_ends_its_sessions(any_db):
    create_user(any_db, "op", "operator", "pw", totp=True)
    token = sessions.start(any_db, "op", pending=False)
    old = accounts.list_users(any_db)
    accounts.reset_totp(any_db, "op")
    assert sessions.find(any_db, token) is None
    token = sessions.start(any_db, "op", pending=False)
    accounts.remove_user(any_db, "op")
    assert sessions.find(any_db, token) is None
    assert [a.name for a in old] == ["op"] and accounts.list_users(any_db) == []


def test_bad_account_input_is_refused_with_a_reason(any_db):
    create_user(any_db, "ann", "viewer", "pw", totp=False)
    for name, role, password, why in [
        ("ann", "viewer", "pw", "exists"),
        ("", "viewer", "pw", "user name"),
        (" pad", "viewer", "pw", "user name"),
        ("bell\x07", "viewer", "pw", "user name"),
        ("x", "admin", "pw", "role"),
        ("x", "viewer", "", "password"),
    ]:
        with pytest.raises(AccountError, match=why):
            create_user(any_db, name, role, password, totp=False)
    with pytest.raises(AccountError, match="no user"):
        accounts.reset_totp(any_db, "ghost")


def test_cli_refuses_an_empty_password_and_an_unknown_user(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    empty = run_pos_process(["collector", "user", "add", "--db", url, "ann", "--role", "viewer"], stdin=b"\n")
    assert empty.returncode == 2 and b"password" in empty.stderr
    gone = run_pos_process(["collector", "user", "remove", "--db", url, "ghost"])
    assert gone.returncode == 2 and b"no user 'ghost'" in gone.stderr


def test_one_code_sent_twice_at_once_passes_once(any_db):
    """The second check runs while the first transaction is still open: it must wait for it and
    then see the step used (PostgreSQL: the row lock; SQLite: the write lock)."""
    secret = create_user(any_db, "op", "operator", "pw", totp=True).secret
    code = pyotp.TOTP(secret).at(T0)
    first_checked, second_started, results = threading.Event(), threading.Event(), {}

    def second() -> None:
        first_checked.wait(10)
        second_started.set()
        with any_db.write() as tx:
            results["second"] = totp.check(tx, "op", code, T0)

    t = threading.Thread(target=second)
    t.start()
    with any_db.write() as tx:
        results["first"] = totp.check(tx, "op", code, T0)
        first_checked.set()
        second_started.wait(10)
        time.sleep(0.3)  # the second check is now waiting on us (or, without a lock, done)
    t.join(10)
    assert results == {"first": "totp", "second": None}


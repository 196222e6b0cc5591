"""The operator's second factor in the browser (issue 16): RFC 6238 codes from ``pyotp``, each
accepted once, one step of drift, recovery codes once each, and a reset that ends sessions."""

from __future__ import annotations

import time

import pyotp

from tests.conftest import run_pos_process
from tests.console.conftest import (
    add_user,
    code_step,
    login,
    new_account,
    parse_enrolment,
    password_step,
    steady_window,
)


def to_code_step(page, url, account):
    password_step(page, url, account.name, account.password)
    page.wait_for_url("**/console/login/code**")


def test_a_code_is_accepted_once_replay_in_its_window_is_refused(browser, console):
    op = new_account(console.db_url, "operator")
    first, second = browser.new_context(), browser.new_context()
    try:
        p1, p2 = first.new_page(), second.new_page()
        to_code_step(p1, console.url, op)
        code = pyotp.TOTP(op.totp.secret).now()
        assert code_step(p1, code)
        to_code_step(p2, console.url, op)
        assert not code_step(p2, code)  # the same code, a second browser, same window
        assert "/console/login/code" in p2.url
    finally:
        first.close()
        second.close()


def test_one_step_of_drift_is_accepted_two_steps_old_is_refused(page, console):
    op = new_account(console.db_url, "operator")
    totp = pyotp.TOTP(op.totp.secret)
    to_code_step(page, console.url, op)
    steady_window()
    now = time.time()
    assert not code_step(page, totp.at(now - 60))  # two steps old
    assert code_step(page, totp.at(now - 30))  # one step behind: a slow phone clock


def test_a_recovery_code_works_once(browser, console):
    op = new_account(console.db_url, "operator")
    recovery = op.totp.recovery_codes[0]
    for expected in (True, False):
        context = browser.new_context()
        try:
            page = context.new_page()
            to_code_step(page, console.url, op)
            assert code_step(page, recovery) is expected
        finally:
            context.close()


def test_reset_totp_ends_the_operators_sessions_at_once(page, console):
    op = new_account(console.db_url, "operator")
    login(page, console.url, op.name, op.password, op.totp)
    page.goto(f"{console.url}/console/audit")
    assert page.locator("form.logout").count() == 1
    done = run_pos_process(["collector", "user", "reset-totp", "--db", console.db_url, op.name])
    assert done.returncode == 0, done.stderr.decode()
    page.goto(f"{console.url}/console/audit")
    assert "/console/login" in page.url  # signed out by the reset
    fresh = parse_enrolment(done.stdout.decode())
    assert fresh is not None and fresh.secret != op.totp.secret
    login(page, console.url, op.name, op.password, fresh)


def test_a_viewer_may_enrol_a_factor_and_then_needs_it(page, console):
    viewer = add_user(console.db_url, "viewer", totp=True)
    assert viewer.totp is not None and len(viewer.totp.recovery_codes) == 10
    assert "otpauth://totp/" in viewer.output
    assert sum(line.count("\u2588") for line in viewer.output.splitlines()) > 50  # the QR code, in blocks
    login(page, console.url, viewer.name, viewer.password, viewer.totp)

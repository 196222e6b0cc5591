"""Signing in to the console (issue 13) with its second factor (issue 16), in Debian chromium."""

from __future__ import annotations

import time

import pyotp

from tests.console.conftest import code_step, login, new_account, password_step


def test_operator_signs_in_with_password_and_totp_code(page, console, operator):
    login(page, console.url, operator.name, operator.password, operator.totp)
    assert operator.name in page.inner_text("header")


def test_viewer_without_totp_signs_in_with_password_alone(page, console, viewer):
    assert viewer.totp is None
    login(page, console.url, viewer.name, viewer.password)
    assert page.url.endswith("/console/")


def test_unauthenticated_page_redirects_to_login(page, console):
    page.goto(f"{console.url}/console/audit")
    assert "/console/login?next=" in page.url
    assert page.locator("input[name=username]").count() == 1
    assert page.locator("input[name=password]").count() == 1


def test_wrong_password_is_refused(page, console, viewer):
    password_step(page, console.url, viewer.name, "not the password")
    assert page.locator("p.error").is_visible()
    assert page.locator("form.logout").count() == 0


def test_wrong_code_is_refused(page, console):
    op = new_account(console.db_url, "operator")
    password_step(page, console.url, op.name, op.password)
    good = {pyotp.TOTP(op.totp.secret).at(time.time() + t) for t in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in good)
    assert not code_step(page, wrong)
    assert page.locator("p.error").is_visible()
    assert page.locator("form.logout").count() == 0

"""Sign-in is rate-limited (issues 13 and 16): failed passwords per client address, failed second
steps per account (and per address); past the limit the answer is 429 with ``Retry-After`` even
for the right secret. The console fixture serves with one process: the counts live in each."""

from __future__ import annotations

import time

import httpx
import pyotp

from collector.console.login import CODE_LIMIT_ACCOUNT, LOGIN_LIMIT
from tests.console.conftest import new_account, password_step


def test_second_step_is_limited_per_account(page, console):
    op = new_account(console.db_url, "operator")
    password_step(page, console.url, op.name, op.password)
    totp = pyotp.TOTP(op.totp.secret)
    valid = {totp.at(time.time() + d) for d in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in valid)
    for _ in range(CODE_LIMIT_ACCOUNT):
        page.fill("input[name=code]", wrong)
        with page.expect_response("**/console/login/code") as answer:
            page.click("main button[type=submit]")
        assert answer.value.status == 401
    page.fill("input[name=code]", op.totp.code())  # the right code, too late
    with page.expect_response("**/console/login/code") as answer:
        page.click("main button[type=submit]")
    assert answer.value.status == 429
    assert int(answer.value.headers["retry-after"]) > 0
    assert page.locator("form.logout").count() == 0


def test_failed_passwords_are_limited_per_address(console):
    viewer = new_account(console.db_url, "viewer")
    url = f"{console.url}/console/login"
    with httpx.Client(timeout=10) as client:
        statuses = [
            client.post(url, data={"username": viewer.name, "password": f"guess {i}"}).status_code
            for i in range(LOGIN_LIMIT)
        ]
        assert statuses == [401] * LOGIN_LIMIT
        right = client.post(url, data={"username": viewer.name, "password": viewer.password})
    assert right.status_code == 429
    assert 0 < int(right.headers["retry-after"]) <= 60
    assert "console_session" not in right.headers.get("set-cookie", "")

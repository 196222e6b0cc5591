"""The console's defences in the browser (issue 13, Security): roles, CSRF, cookie flags, CSP,
escaping. Each state-changing request is tried the way an attacker would send it."""

from __future__ import annotations

import httpx

from collector.console import enroll_codes
from collector.db import Database
from tests.console.conftest import login, new_account

XSS = "<script>alert(1)</script>"
MINT = "/console/enroll/mint"


def post_from_page(page, path, fields):
    """A same-origin form POST sent by script in the signed-in page (cookies go with it)."""
    return page.evaluate(
        "([path, fields]) => fetch(path, {method: 'POST', body: new URLSearchParams(fields),"
        " redirect: 'manual'}).then(r => r.status)",
        [path, fields],
    )


def code_count(db_url):
    db = Database(db_url)
    try:
        return len(enroll_codes.listing(db))
    finally:
        db.close()


def test_a_viewers_post_is_403_even_with_its_csrf_token(page, console, viewer):
    login(page, console.url, viewer.name, viewer.password)
    page.goto(f"{console.url}/console/enroll")
    assert page.locator("#mint").count() == 0  # no form to act with
    token = page.locator("form.logout input[name=csrf]").get_attribute("value")
    before = code_count(console.db_url)
    assert post_from_page(page, MINT, {"csrf": token, "note": "viewer", "minutes": "5"}) == 403
    assert code_count(console.db_url) == before


def test_a_post_without_or_with_a_wrong_csrf_token_is_403(page, console, operator):
    login(page, console.url, operator.name, operator.password, operator.totp)
    page.goto(f"{console.url}/console/enroll")
    before = code_count(console.db_url)
    assert post_from_page(page, MINT, {"note": "no token", "minutes": "5"}) == 403
    assert post_from_page(page, MINT, {"csrf": "forged", "note": "bad token", "minutes": "5"}) == 403
    assert code_count(console.db_url) == before
    token = page.locator("form.logout input[name=csrf]").get_attribute("value")
    assert post_from_page(page, MINT, {"csrf": token, "note": "good", "minutes": "5"}) == 200
    assert code_count(console.db_url) == before + 1


def test_a_post_without_a_session_goes_to_sign_in(console):
    r = httpx.post(f"{console.url}{MINT}", data={"note": "x"}, timeout=5, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")


def test_a_login_posted_from_another_site_is_403(console, viewer):
    for foreign in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = httpx.post(
            f"{console.url}/console/login", timeout=10, headers=foreign,
            data={"username": viewer.name, "password": viewer.password},
        )  # fmt: skip
        assert r.status_code == 403
        assert "console_session" not in r.headers.get("set-cookie", "")


def test_an_oversized_form_is_refused_unread(console):
    huge = {"username": "x" * (1 << 20), "password": "p"}
    r = httpx.post(f"{console.url}/console/login", timeout=10, data=huge)
    assert r.status_code == 413
    assert httpx.get(f"{console.url}/console/login", timeout=10).status_code == 200


def test_session_cookie_is_httponly_samesite_strict(page, console, viewer):
    login(page, console.url, viewer.name, viewer.password)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "console_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http on 127.0.0.1 (Secure under TLS: test_console_tls)
    assert page.evaluate("document.cookie").find("console_session") == -1


def test_logout_ends_the_session_on_the_server(page, console, viewer):
    login(page, console.url, viewer.name, viewer.password)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "console_session"]
    page.click("form.logout button")
    page.wait_for_url("**/console/login")
    r = httpx.get(f"{console.url}/console/audit", cookies={"console_session": cookie["value"]}, timeout=5)
    assert r.status_code == 303  # the old token no longer opens a page


def test_every_console_response_carries_the_csp_and_headers(page, console):
    response = page.goto(f"{console.url}/console/login")
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    redirect = httpx.get(f"{console.url}/console/", timeout=5)
    assert "content-security-policy" in redirect.headers


def test_a_reason_holding_script_renders_as_text(page, console, console_scheme, operator):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, console.url, operator.name, operator.password, operator.totp)
    page.goto(f"{console.url}/console/enroll")
    page.fill("input[name=note]", XSS)
    page.click("#mint")
    page.wait_for_selector("#new-code")
    assert XSS in page.inner_text("#codes")
    page.goto(f"{console.url}/console/audit")
    assert XSS in page.inner_text("#audit")
    assert page.locator("#audit script").count() == 0
    assert dialogs == []


def test_an_operator_whose_factor_was_removed_cannot_sign_in_with_a_password(console):
    """Defence in depth: a database edit that drops an operator's factor does not open the door."""
    op = new_account(console.db_url, "operator")
    db = Database(console.db_url)
    try:
        with db.write() as tx:
            tx.execute("UPDATE console_users SET totp_secret = NULL WHERE name = ?", (op.name,))
    finally:
        db.close()
    form = {"username": op.name, "password": op.password}
    r = httpx.post(f"{console.url}/console/login", data=form, timeout=10)
    assert r.status_code == 403
    assert "console_session" not in r.headers.get("set-cookie", "")

"""The Audit and Enroll pages in the browser (issue 13), with the second-factor events of issue 16:
a code minted in the page enrolls a terminal through the real ``pos enroll --code``."""

from __future__ import annotations

from tests.conftest import run_pos_process
from tests.console.conftest import code_step, login, new_account, password_step

WALLET = "00112233445566ff"


def test_code_minted_in_the_page_enrolls_with_pos_enroll_once(page, console, operator, tmp_path):
    login(page, console.url, operator.name, operator.password, operator.totp)
    page.goto(f"{console.url}/console/enroll")
    page.fill("input[name=note]", "gate 7")
    page.click("#mint")
    code = page.inner_text("#new-code").strip()
    enrol = ["enroll", "--collector", console.url, "--code", code]
    done = run_pos_process([*enrol, "--data-dir", str(tmp_path / "a"), "--terminal-id", "GATE-7"])
    assert done.returncode == 0, done.stderr.decode()
    again = run_pos_process([*enrol, "--data-dir", str(tmp_path / "b"), "--terminal-id", "GATE-8"])
    assert again.returncode == 2
    assert b"bad_enroll_code" in again.stderr
    page.goto(f"{console.url}/console/enroll")
    row = page.locator("#codes tbody tr", has_text="gate 7")
    assert "GATE-7" in row.inner_text()
    assert row.locator("button").count() == 0  # used: nothing to revoke
    page.goto(f"{console.url}/console/audit")
    used = page.locator("#audit tbody tr", has_text="enrolled GATE-7").inner_text()
    assert "enroll_code_use" in used and "127.0.0.1" in used


def test_an_unused_code_is_revoked_in_the_page(page, console, operator):
    login(page, console.url, operator.name, operator.password, operator.totp)
    page.goto(f"{console.url}/console/enroll")
    page.fill("input[name=note]", "to revoke")
    page.click("#mint")
    row = page.locator("#codes tbody tr", has_text="to revoke")
    row.locator("button").click()
    page.wait_for_url("**/console/enroll")
    row = page.locator("#codes tbody tr", has_text="to revoke")
    assert "revoked" in row.inner_text()


def test_audit_page_shows_second_factor_events_and_operator_actions(page, console, console_scheme):
    op = new_account(console.db_url, "operator")
    password_step(page, console.url, op.name, op.password)
    assert not code_step(page, "not-a-code")
    assert code_step(page, op.totp.code())
    denied = run_pos_process(
        ["collector", "deny", WALLET, "--reason", "card reported stolen", "--db", console.db_url,
         "--scheme", str(console_scheme.scheme.dir), "--operator", op.name]
    )  # fmt: skip
    assert denied.returncode == 0, denied.stderr.decode()
    page.goto(f"{console.url}/console/audit")
    rows = page.locator("#audit tbody tr")
    mine = [rows.nth(i).inner_text() for i in range(rows.count()) if op.name in rows.nth(i).inner_text()]
    actions = " ".join(mine)
    for action in ("user_add", "totp_enrol", "totp_failed", "totp_ok", "deny"):
        assert action in actions
    failed = next(r for r in mine if "totp_failed" in r)
    assert "127.0.0.1" in failed  # the client address of the attempt
    assert any(WALLET in r and "card reported stolen" in r for r in mine)


def test_audit_and_enroll_pages_speak_chinese(page, console, viewer):
    login(page, console.url, viewer.name, viewer.password)
    page.goto(f"{console.url}/console/audit?lang=zh")
    assert "审计记录" in page.inner_text("h1")
    page.goto(f"{console.url}/console/enroll")  # the choice is kept in a cookie
    assert "注册码" in page.inner_text("h1")

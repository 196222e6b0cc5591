"""The console's data pages in Debian chromium against a real collector: live fleet, events with
both halves of a double spend, reinstate reaching a real terminal's deny list, viewers refused,
markup in ids and reasons shown as text, the settlement CSV, revoking a terminal."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest

from collector import export
from pos.keystore import KeyStore
from pos.sync.enroll import enroll
from pos.sync.service import sync_once
from pos.sync.transport import SyncError
from tests.console.conftest import Account, login, new_account
from tests.sync.harness import FAST, OPERATOR_TOKEN, CollectorProc, SchemeEnv, Term, View, new_terminal

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def view(console: CollectorProc) -> View:
    v = View(console.db_url)
    yield v
    v.close()


@pytest.fixture
def op(console: CollectorProc) -> Account:
    """An operator of its own per test: a fresh second factor, so no sign-in waits for a TOTP step."""
    return new_account(console.db_url, "operator")


def _term(env: SchemeEnv, console: CollectorProc, tmp: Path, tid: str) -> Term:
    return new_terminal(env, tmp / tid, console.url, tid)


def _csrf(page) -> str:
    return page.locator("form.logout input[name=csrf]").first.get_attribute("value")


def test_a_terminal_that_syncs_appears_on_the_fleet_page_live_without_a_reload(
    page, console: CollectorProc, console_scheme: SchemeEnv, viewer: Account, tmp_path: Path
):
    login(page, console.url, viewer.name, viewer.password)
    page.goto(f"{console.url}/console/")
    page.wait_for_selector("#live-state.live-on")
    page.evaluate("window.notReloaded = true")
    t = _term(console_scheme, console, tmp_path, "LIVE-1")
    assert t.pay(console_scheme.wallet(), 250).approved
    assert sync_once(t.data_dir, FAST, lists=False)["upload"]["pending"] == 0
    row = page.wait_for_selector('tr[data-tid="LIVE-1"]', timeout=5000)
    assert "2.50 EUR" in row.inner_text()
    assert page.evaluate("window.notReloaded") is True


def test_double_spend_shows_both_halves_and_a_reinstated_wallet_leaves_the_installed_list(
    page, console: CollectorProc, console_scheme: SchemeEnv, op: Account, tmp_path: Path
):
    env = console_scheme
    a, b = _term(env, console, tmp_path, "DS-A"), _term(env, console, tmp_path, "DS-B")
    cheat = env.wallet()
    raw = cheat.token(max_amount=500, now=env.now)
    assert a.pay(cheat, 500, raw=raw).approved and b.pay(cheat, 500, raw=raw).approved
    sync_once(a.data_dir, FAST)
    assert sync_once(b.data_dir, FAST)["upload"]["verdicts"] == {"double_spend": 1}
    sync_once(a.data_dir, FAST)
    assert KeyStore.pinned(a.data_dir).load().deny.contains(cheat.wallet_id)

    login(page, console.url, op.name, op.password, op.totp)
    page.goto(f"{console.url}/console/events?kind=double_spend")
    event = page.locator("section.event-double_spend", has_text=cheat.wallet_id.hex())
    assert sorted(event.locator("td.ev-terminal").all_inner_texts()) == ["DS-A", "DS-B"]
    assert event.locator("td.ev-amount").all_inner_texts() == ["5.00 EUR", "5.00 EUR"]
    assert len(event.locator("code.digest").all_inner_texts()) == 2
    event.locator("input[name=reason]").fill("same customer, card cloned by the test")
    event.locator("button[type=submit]").click()
    page.wait_for_selector("p.done")

    report = sync_once(a.data_dir, FAST)
    assert "installed" in report["lists"]["deny"]
    assert not KeyStore.pinned(a.data_dir).load().deny.contains(cheat.wallet_id)


def test_a_viewers_reinstate_and_a_post_without_csrf_are_refused(
    page, console: CollectorProc, viewer: Account, op: Account
):
    login(page, console.url, viewer.name, viewer.password)
    page.goto(f"{console.url}/console/events")
    assert page.locator("form[action='/console/events/reinstate']").count() == 0
    form = {"wallet": "00" * 8, "reason": "a viewer tries", "csrf": _csrf(page)}
    for url in ("/console/events/reinstate", "/console/deny/add", "/console/terminals/DS-A/revoke"):
        assert page.request.post(f"{console.url}{url}", form=form).status == 403
    page.context.clear_cookies()
    login(page, console.url, op.name, op.password, op.totp)
    refused = page.request.post(f"{console.url}/console/deny/add", form={"wallet": "11" * 8, "reason": "x"})
    assert refused.status == 403


def test_markup_in_a_terminal_id_and_in_a_reason_renders_as_text(
    page, console: CollectorProc, op: Account
):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, console.url, op.name, op.password, op.totp)
    page.goto(f"{console.url}/console/terminals/{quote(SCRIPT, safe='')}")
    assert SCRIPT in page.inner_text("h1")
    page.goto(f"{console.url}/console/payments?terminal={quote(SCRIPT)}&wallet={quote(SCRIPT)}")
    assert page.locator("p.error").count() == 2
    page.goto(f"{console.url}/console/deny")
    page.fill("form.action input[name=wallet]", "5c" * 8)
    page.fill("form.action input[name=reason]", SCRIPT)
    page.click("form.action button[type=submit]")
    page.wait_for_selector("p.done")
    assert page.locator(f"tr[data-wallet='{'5c' * 8}'] td.reason").inner_text() == SCRIPT
    page.goto(f"{console.url}/console/audit")
    page.goto(f"{console.url}/console/deny")
    assert dialogs == []


def test_the_settlement_csv_downloads_and_sums_to_the_export(
    page, console: CollectorProc, console_scheme: SchemeEnv, viewer: Account, view: View, tmp_path: Path
):
    t = _term(console_scheme, console, tmp_path, "CSV-1")
    for amount in (120, 340):
        assert t.pay(console_scheme.wallet(), amount).approved
    sync_once(t.data_dir, FAST, lists=False)
    login(page, console.url, viewer.name, viewer.password)
    page.goto(f"{console.url}/console/payments")
    with page.expect_download() as dl:
        page.click("#settlement-csv")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    summed: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        for i, k in enumerate(export.FIELDS[2:]):
            summed[r["terminal_id"], r["currency"]][i] += int(r[k])
    want = {
        (s["terminal_id"], s["currency"]): [s[k] for k in export.FIELDS[2:]]
        for s in export.settlement(view.db)
    }
    assert dict(summed) == want and ("CSV-1", "EUR") in want


def test_a_revoked_terminal_is_refused_and_shown_revoked(
    page, console: CollectorProc, console_scheme: SchemeEnv, op: Account, view: View, tmp_path: Path
):
    t = _term(console_scheme, console, tmp_path, "REVOKE-1")
    login(page, console.url, op.name, op.password, op.totp)
    page.goto(f"{console.url}/console/terminals/REVOKE-1")
    page.fill("form.action input[name=reason]", "stolen from the shop")
    page.click("form.action button[type=submit]")
    page.wait_for_selector("p.done")
    assert t.pay(console_scheme.wallet(), 100).approved
    report = sync_once(t.data_dir, replace(FAST, max_attempts=1), lists=False)
    assert "terminal_revoked" in json.dumps(report), report
    assert t.pending() == 1 and view.entries("REVOKE-1") == []
    with pytest.raises(SyncError) as refused:  # nor can it enroll again under its id
        enroll(t.data_dir, console.url, OPERATOR_TOKEN, "REVOKE-1", FAST)
    assert refused.value.code == "terminal_revoked"
    page.goto(f"{console.url}/console/?q=REVOKE-1")
    assert page.locator('tr[data-tid="REVOKE-1"] .badge-revoked').count() == 1

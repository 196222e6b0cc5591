"""Operator actions behind the PIN: void of the last payment, settings, and the history screen;
every one of them in the audit log, the PIN in none."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from sim.demo.interactive import DEMO_PIN, DemoWorld
from tests.ui.harness import Clock, make_world, result, run, running, screen_name, shown_on, text, until


def reversals(world: DemoWorld) -> list[tuple[int, int]]:
    rows = world.ctx.core.call(lambda: list(world.ctx.core.terminal.journal.rows()))
    return [(r["seq"], r["amount"]) for r in rows if r["kind"] == "reversal"]


async def _pay(pilot, amount: str, key: str = "t") -> str:  # type: ignore[no-untyped-def]
    await pilot.press(*amount, "enter", key)
    shown = await result(pilot)
    await pilot.press("escape")
    await until(pilot, lambda: screen_name(pilot.app) == "CounterScreen")
    return shown


def test_void_last_payment_needs_the_pin_and_is_audited(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")
    audit = world.ctx.audit

    async def go() -> None:
        async with running(world) as (app, pilot):
            await _pay(pilot, "450")
            await pilot.press("f5")
            shown = await shown_on(pilot, "PinScreen", "Void EUR 4.50 (payment 1)?")
            assert "Enter the operator PIN" in shown
            await pilot.press("9", "9", "9", "9", "enter")
            await until(pilot, lambda: "Wrong PIN." in text(app))
            assert reversals(world) == []
            await pilot.press(*DEMO_PIN, "enter")
            shown = await result(pilot)
            assert "VOIDED" in shown and "4.50" in shown
            assert "Take back the goods or the receipt of this payment." in shown
            assert reversals(world) == [(2, 450)]  # a new row: the payment itself stays
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            await pilot.press("f5")  # a second void of the same payment is refused
            await until(pilot, lambda: any("already voided" in str(n.message) for n in app._notifications))
            assert screen_name(app) == "CounterScreen"

    run(go())
    actions = [(e["action"], e["ok"]) for e in audit.entries()]
    assert ("pin_failed", False) in actions
    assert ("void", True) in actions
    void = next(e for e in audit.entries() if e["action"] == "void")
    assert void["seq"] == 1 and void["amount"] == 450
    assert DEMO_PIN not in audit.path.read_text() and "9999" not in audit.path.read_text()
    world.ctx.close()


def test_void_after_the_window_is_refused_without_asking_for_the_pin(tmp_path: Path) -> None:
    clock = Clock()
    world = make_world(tmp_path, "counter", clock=clock, void_window_s=120)

    async def go() -> None:
        async with running(world) as (app, pilot):
            await _pay(pilot, "100")
            clock.advance(121)
            await pilot.press("f5")
            await until(pilot, lambda: any("too old to void" in str(n.message) for n in app._notifications))
            assert screen_name(app) == "CounterScreen"

    run(go())
    assert reversals(world) == []
    world.ctx.close()


def test_settings_behind_the_pin_and_clearing_wallet_locks_is_audited(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("f4")
            await shown_on(pilot, "PinScreen", "Enter the operator PIN")
            await pilot.press("escape")  # cancel: no settings
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            await pilot.press("f4", *DEMO_PIN, "enter")
            shown = await shown_on(pilot, "SettingsScreen", "DEMO-COUNTER-1")
            assert "sim:nfc" in shown and "120 s" in shown
            await pilot.press("u")
            await until(pilot, lambda: "0 wallet lock(s) cleared." in text(app))
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")

    run(go())
    actions = [e["action"] for e in world.ctx.audit.entries()]
    assert actions == ["settings_opened", "clear_wallet_locks"]
    world.ctx.close()


def test_wrong_pins_lock_operator_actions(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("f4")
            await shown_on(pilot, "PinScreen")
            for _ in range(5):
                await pilot.press("0", "0", "0", "0", "enter")
                await until(pilot, lambda: not app.screen.busy)
            assert "Locked for 5 min." in text(app)
            await pilot.press(*DEMO_PIN, "enter")  # even the right PIN, while locked
            await until(pilot, lambda: not app.screen.busy)
            assert screen_name(app) == "PinScreen"

    run(go())
    actions = [e["action"] for e in world.ctx.audit.entries()]
    assert actions.count("pin_failed") == 4 and actions.count("pin_locked") == 1
    world.ctx.close()


def test_history_lists_todays_payments_voids_totals_and_pending_uploads(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await _pay(pilot, "1250")
            await _pay(pilot, "300", "q")
            await _pay(pilot, "999", "m")  # declined: not in the journal
            await pilot.press("f5")
            await shown_on(pilot, "PinScreen")
            await pilot.press(*DEMO_PIN, "enter")
            await result(pilot)
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            await pilot.press("f3")
            await shown_on(pilot, "HistoryScreen", "2 payments today, net EUR 12.50")
            table = app.screen.query_one(DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            assert [(r[1], r[2], r[3], r[5]) for r in rows] == [
                ("3", "reversal QR", "EUR -3.00", ""),
                ("2", "payment QR", "EUR 3.00", "voided"),
                ("1", "payment NFC", "EUR 12.50", ""),
            ]
            assert rows[0][4] == "waiting"
            assert "2 waiting for upload (EUR 15.50)" in text(app)  # voided: still exposure until acked
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")

    run(go())
    world.ctx.close()


def test_no_pin_set_says_so_in_full_with_the_command_that_sets_one(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")
    world.ctx.pin.path.unlink()

    async def go() -> None:
        async with running(world, size=(80, 24)) as (app, pilot):
            await _pay(pilot, "450")
            await pilot.press("f5")
            await shown_on(pilot, "PinScreen")
            await pilot.press("1", "2", "3", "4", "enter")
            await until(pilot, lambda: "pos run --config pos.toml --set-pin" in text(app))
            message = app.screen.query_one("#pin-message")
            box = app.screen.query_one("#pin-box")
            assert message.size.height >= 2 and message.region.right <= box.region.right  # wrapped, not cut

    run(go())
    world.ctx.close()

"""The counter (cashier) under Textual's pilot: amount on the keypad, tap or QR while every source
listens, the large result with the reason in plain words, and the keyboard-wedge scanner."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Label

from pos.presentation import encode_text
from tests.ui.harness import NOW, keys_at, make_world, result, run, running, screen_name, text, until


def _status(app: object, cell: str) -> Label:
    return app.screen.query_one(f"#{cell}", Label)  # type: ignore[attr-defined]


def test_tap_is_approved_shown_large_and_counted_for_upload(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("1", "2", "5", "0", "enter")
            assert "Tap the phone or show the QR code" in text(app)
            await pilot.press("t")
            shown = await result(pilot)
            assert "APPROVED" in shown and "12.50" in shown
            assert "Payment approved and stored." in shown
            assert "Hand over the goods or the receipt." in shown
            assert app.screen.has_class("-approved")
            await pilot.press("space")  # any key returns to the counter
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            await until(pilot, lambda: "1 to upload (EUR 12.50)" in str(_status(app, "st-upload").render()))
            assert "Last payment: EUR 12.50 approved" in text(app)

    run(go())
    world.ctx.close()


def test_double_spent_qr_code_is_declined_with_what_to_do(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("8", "0", "0", "enter", "q")
            await result(pilot)
            assert "APPROVED" in text(app)
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            await pilot.press("8", "0", "0", "enter", "d")
            shown = await result(pilot)
            assert "DECLINED" in shown
            assert "This code was already used." in shown
            assert "Ask the customer for a fresh code." in shown
            assert app.screen.has_class("-declined")
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            assert app.screen.entry.minor == 800  # a decline keeps the amount for a retry
            await pilot.press("3", "2", "0")  # but the next digit starts a new amount
            assert app.screen.entry.minor == 320

    run(go())
    world.ctx.close()


def test_blocked_wallet_is_declined(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("5", "0", "0", "enter", "m")
            await result(pilot)
            assert "This wallet is blocked." in text(app)

    run(go())
    world.ctx.close()


def test_phone_pulled_away_is_a_note_and_the_payment_still_listens(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("3", "0", "0", "enter", "x")
            await until(pilot, lambda: "The phone was moved away too early." in text(app))
            assert screen_name(app) == "CounterScreen"
            assert "hold the phone still" in text(app)
            await pilot.press("t")
            await result(pilot)
            assert "APPROVED" in text(app)

    run(go())
    world.ctx.close()


def test_keypad_buttons_backspace_clear_and_cancel(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            counter = app.screen
            await pilot.press("enter")
            assert "Enter the amount first." in text(app)
            for key in ("key-4", "key-2", "key-7", "key-backspace"):
                await pilot.click(f"#{key}")
            assert counter.entry.minor == 42
            assert "0.42" in text(app)
            await pilot.press("delete")
            assert counter.entry.minor == 0
            await pilot.press("9", "9")
            await pilot.click("#key-ok")
            assert counter.state == "waiting"
            await pilot.press("escape")
            assert counter.state == "entry"
            assert "Cancelled: nothing was charged." in text(app)
            assert counter.round is not None and not counter.round.active

    run(go())
    world.ctx.close()


def test_nothing_presented_in_time_is_not_charged(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter", wait_s=0.3)

    async def go() -> None:
        async with running(world) as (_app, pilot):
            await pilot.press("1", "0", "0", "enter")
            shown = await result(pilot)
            assert "NOT CHARGED" in shown
            assert "No phone or code was presented in time." in shown

    run(go())
    world.ctx.close()


def test_keyboard_wedge_burst_is_a_token_and_slow_keys_are_typing(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")  # the real 30 ms rule, on stamped key events
    token = encode_text(world.controls.wallets[1].token(max_amount=1_000, now=NOW))

    async def go() -> None:
        async with running(world) as (app, pilot):
            counter = app.screen
            await keys_at(app, "6O5", 0.2)  # a person: the "O" is held, then released as typing
            await until(pilot, lambda: counter.entry.minor == 65)
            await keys_at(app, token, 0.002, enter=True)  # a scanner
            shown = await result(pilot)
            assert "APPROVED" in shown and "0.65" in shown
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            assert counter.entry.minor == 0  # no token character leaked into the amount
            await pilot.press("1", "0")
            await keys_at(app, "OWT1:ABCDEFG", 0.002)  # a burst cut short: malformed, not typing
            shown = await result(pilot)
            assert "The code could not be read as a payment." in shown

    run(go())
    world.ctx.close()


def test_keyboard_wedge_scan_without_an_amount_asks_for_one(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")
    token = encode_text(world.controls.wallets[0].token(max_amount=1_000, now=NOW))

    async def go() -> None:
        async with running(world) as (app, pilot):
            await keys_at(app, token, 0.002, enter=True)
            await until(pilot, lambda: "Enter the amount first, then scan." in text(app))
            assert app.screen.entry.minor == 0

    run(go())
    world.ctx.close()


def test_language_switch_translates_screen_and_reasons(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("1", "0", "0")
            await pilot.press("f2")
            await pilot.pause(0.05)
            shown = text(app)
            assert "收款" in shown and "金额" in shown
            assert "1.00" in shown  # the amount survives the switch
            await pilot.press("enter", "m")
            shown = await result(pilot)
            assert "已拒绝" in shown and "该钱包已被冻结。" in shown
            await pilot.press("f2")  # back to English, on the result screen too
            await pilot.pause(0.05)
            assert "This wallet is blocked." in text(app)

    run(go())
    world.ctx.close()


def test_language_from_configuration(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter", language="zh")

    async def go() -> None:
        async with running(world) as (app, _pilot):
            assert "输入金额，然后按收款" in text(app)
            assert "离线" in str(_status(app, "st-net").render())

    run(go())
    world.ctx.close()


def test_e_is_offered_and_works_only_after_an_approved_qr_code(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world, notifications=True) as (app, pilot):
            await pilot.press("5", "0", "0", "enter", "m")  # a denied wallet's QR code: declined
            assert "DECLINED" in await result(pilot)
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            assert " e " not in f"{text(app)} " and "other shop" not in text(app)
            await pilot.press("e")
            notes = [str(n.message) for n in app._notifications]
            assert any("not paid here" in n for n in notes) and not any("paid at two" in n for n in notes)
            await pilot.press("5", "0", "0", "enter", "q")
            assert "APPROVED" in await result(pilot)
            await pilot.press("escape")
            await until(pilot, lambda: "other shop" in text(app))

    run(go())
    world.ctx.close()


def test_at_80x24_no_notice_covers_the_result_and_the_footer_wraps(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world, size=(80, 24), notifications=True) as (app, pilot):
            hints = app.screen.query_one("#hints", Label)
            assert hints.size.height >= 2 and "n network" in str(hints.render())  # wrapped, not cut
            app.notify("collector flagged a double spend: DEMO-SHOP-2 uploaded a counter paid here")
            await pilot.press("5", "0", "0", "enter", "m")
            assert "DECLINED" in await result(pilot)
            await pilot.pause(0.2)
            assert not list(app._notifications)  # nothing over DECLINED

    run(go())
    world.ctx.close()

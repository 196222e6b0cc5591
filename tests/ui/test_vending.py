"""The vending machine: the machine's price, VEND APPROVED only after the commit, VEND DENIED on a
decline, and a void when the machine fails to dispense."""

from __future__ import annotations

from pathlib import Path

from tests.ui.harness import make_world, run, running, text, until


def test_selection_price_is_charged_and_the_vend_approved(tmp_path: Path) -> None:
    world = make_world(tmp_path, "vending", result_s=0.5)
    vend = world.ctx.vend
    assert vend is not None

    async def go() -> None:
        async with running(world, size=(60, 16)) as (app, pilot):
            assert "Select a product" in text(app)
            await pilot.press("2")  # A2, EUR 2.20, priced by the machine
            await until(pilot, lambda: "2.20" in text(app) and "Tap the phone" in text(app))
            await pilot.press("t")
            await until(pilot, lambda: "Thank you" in text(app))
            assert vend.events[-1][0] == "approved"
            assert vend.events[-1][2] >= 1  # the journal seq the vend was approved for
            await until(pilot, lambda: "Select a product" in text(app))  # back to idle by itself
            await pilot.press("1")  # A1
            await until(pilot, lambda: "1.50" in text(app))
            # Known race (left for the next round): a QR shown in the first moments of a vending
            # round can be lost by the demo's in-process QR source; a real customer re-presents.
            await pilot.pause(0.5)
            await pilot.press("m")  # a wallet on the deny list
            await until(pilot, lambda: "This wallet is blocked." in text(app))
            assert vend.events[-1][0] == "denied"

    run(go())
    world.ctx.close()


def test_idle_vending_screen_lists_the_products_1_to_4(tmp_path: Path) -> None:
    world = make_world(tmp_path, "vending")

    async def go() -> None:
        async with running(world) as (app, _pilot):
            shown = text(app)
            assert "Select a product" in shown
            assert all(f"{n} {name}" in shown for n, name in enumerate(("A1", "A2", "B1", "B2"), 1)), shown
            assert "EUR 1.50" in shown

    run(go())
    world.ctx.close()


def test_machine_failing_to_dispense_voids_the_payment(tmp_path: Path) -> None:
    world = make_world(tmp_path, "vending")
    vend = world.ctx.vend
    assert vend is not None

    async def go() -> None:
        async with running(world, size=(60, 16)) as (app, pilot):
            await pilot.press("j", "3", "q")  # jammed machine; B1; QR code
            await until(pilot, lambda: "Not delivered" in text(app))
            assert "nothing was charged" in text(app)
            assert vend.events[-1][0] == "vend_failed"
            seq = vend.events[-1][2]
            rows = world.ctx.core.call(lambda: list(world.ctx.core.terminal.journal.rows()))
            assert [r["kind"] for r in rows] == ["payment", "reversal"] and rows[0]["seq"] == seq
            voids = [e for e in world.ctx.audit.entries() if e["action"] == "vend_void"]
            assert voids and voids[-1]["seq"] == seq and voids[-1]["ok"]
            await pilot.press("escape")
            # the reversed payment is not money to upload (it still counts in the exposure cap)
            await until(pilot, lambda: "nothing to upload" in text(app))

    run(go())
    world.ctx.close()


def test_no_payment_in_time_ends_the_session(tmp_path: Path) -> None:
    world = make_world(tmp_path, "vending", session_s=0.3)
    vend = world.ctx.vend
    assert vend is not None

    async def go() -> None:
        async with running(world, size=(60, 16)) as (app, pilot):
            await pilot.press("4")
            await until(pilot, lambda: "No phone or code was presented in time." in text(app))
            await until(pilot, lambda: bool(vend.events) and vend.events[-1][0] == "cancelled")

    run(go())
    world.ctx.close()

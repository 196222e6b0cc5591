"""Receipts from the running App (issue 6, Receipts): an approval prints the customer's signed
receipt through ``UiContext.printer`` on a worker; a printer failure is a notice to the cashier and
never touches the payment; a vend prints only once the product came out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.printer import open_printer
from pos import receipt
from tests.drivers.test_printer import native_qr_texts
from tests.ui.harness import make_world, result, run, running, screen_name, text, until


def _notices(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


def test_approval_prints_a_signed_receipt_on_the_file_printer(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")
    paper = tmp_path / "paper.bin"
    world.ctx.printer = open_printer(f"file:{paper}")

    async def go() -> None:
        async with running(world) as (_app, pilot):
            await pilot.press("1", "2", "5", "0", "enter", "t")
            shown = await result(pilot)
            assert "APPROVED" in shown
            await until(pilot, lambda: paper.exists() and b"\x1dV" in paper.read_bytes())

    run(go())
    world.ctx.close()
    data = paper.read_bytes()
    assert data.startswith(b"\x1b@") and b"EUR 12.50" in data and b"APPROVED" in data
    (qr_text,) = native_qr_texts(data)
    got = receipt.verify_receipt(qr_text, receipt.terminal_key(world.ctx.data_dir))
    assert got.signer_checked and got.fields.amount == 1250 and got.fields.currency == "EUR"
    assert got.fields.seq == 1 and got.fields.terminal_id == world.ctx.terminal_id


def test_declined_payment_prints_nothing(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")
    paper = tmp_path / "paper.bin"
    world.ctx.printer = open_printer(f"file:{paper}")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("5", "0", "0", "enter", "m")  # a wallet on the deny list
            await result(pilot)
            assert "DECLINED" in text(app)
            await pilot.pause(0.3)

    run(go())
    world.ctx.close()
    assert not paper.exists()


def test_printer_failure_is_a_notice_and_the_payment_stands(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")
    world.ctx.printer = open_printer(f"file:{tmp_path}/no/such/dir/paper.bin")

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("8", "0", "0", "enter", "q")
            shown = await result(pilot)
            assert "APPROVED" in shown
            await until(pilot, lambda: any("Receipt not printed" in n for n in _notices(app)))
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "CounterScreen")
            assert "Last payment: EUR 8.00 approved" in text(app)
            await until(
                pilot, lambda: any(not d.ok and "printer" in d.name for d in world.ctx.device_health())
            )

    run(go())
    rows = world.ctx.core.call(lambda: list(world.ctx.core.terminal.journal.rows()))
    world.ctx.close()
    assert [(r["kind"], r["amount"]) for r in rows] == [("payment", 800)]


def test_vend_prints_after_dispensing_and_not_after_a_jam(tmp_path: Path) -> None:
    world = make_world(tmp_path, "vending", result_s=0.3)
    paper = tmp_path / "paper.bin"
    world.ctx.printer = open_printer(f"file:{paper}")

    async def go() -> None:
        async with running(world, size=(60, 16)) as (app, pilot):
            await pilot.press("2", "t")  # A2, EUR 2.20
            await until(pilot, lambda: "Thank you" in text(app))
            await until(pilot, lambda: paper.exists() and len(native_qr_texts(paper.read_bytes())) == 1)
            await until(pilot, lambda: "Select a product" in text(app))
            await pilot.press("j", "3", "q")  # jammed: B1 is paid, not delivered, reversed
            await until(pilot, lambda: "Not delivered" in text(app))
            await pilot.pause(0.3)

    run(go())
    world.ctx.close()
    (qr_text,) = native_qr_texts(paper.read_bytes())
    assert receipt.verify_receipt(qr_text).fields.amount == 220

"""The vending screen end to end on a Qibixx adapter: the demo world's terminal, with its vending
machine replaced by QibixxVendSession on a real pty driven by the Qibixx adapter + VMC simulator.
Uses ui only through ``sim.demo.interactive.build`` (tests.ui.harness) and the context's ``vend`` field."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.mdb.qibixx import QibixxVendSession
from sim.qibixx_adapter import QibixxSimulator
from tests.ui.harness import make_world, run, running, text, until

pytestmark = pytest.mark.timeout(60)


class Machine:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.sim = QibixxSimulator.on_pty(self.master)
        self.session = QibixxVendSession(os.ttyname(self.slave), vend_timeout=5.0)
        self.sim.wait_enabled()
        self.outcome = ""

    def vend(self, item: int, price: int, dispense: bool = True) -> threading.Thread:
        def go() -> None:
            self.outcome = self.sim.vend(item, price, dispense=dispense, timeout=10.0)

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.session.close()
        self.sim.close()
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def machine() -> Iterator[Machine]:
    m = Machine()
    yield m
    m.close()


def test_selection_on_the_machine_is_paid_and_dispensed(tmp_path: Path, machine: Machine) -> None:
    world = make_world(tmp_path, "vending")
    world.ctx.vend = machine.session

    async def go() -> None:
        async with running(world, size=(60, 16)) as (app, pilot):
            vend = machine.vend(item=21, price=220)
            await until(pilot, lambda: "2.20" in text(app) and "Tap the phone" in text(app))
            await pilot.press("t")
            await until(pilot, lambda: "Thank you" in text(app))
            vend.join(5.0)
            assert machine.outcome == "dispensed"
            assert "C,VEND,2.20" in machine.sim.received
            rows = world.ctx.core.call(lambda: list(world.ctx.core.terminal.journal.rows()))
            assert [r["kind"] for r in rows] == ["payment"] and rows[0]["amount"] == 220

    try:
        run(go())
    finally:
        world.ctx.close()


def test_jammed_machine_after_approval_reverses_the_payment(tmp_path: Path, machine: Machine) -> None:
    world = make_world(tmp_path, "vending")
    world.ctx.vend = machine.session

    async def go() -> None:
        async with running(world, size=(60, 16)) as (app, pilot):
            vend = machine.vend(item=13, price=150, dispense=False)
            await until(pilot, lambda: "1.50" in text(app) and "Tap the phone" in text(app))
            await pilot.press("q")
            await until(pilot, lambda: "Not delivered" in text(app))
            vend.join(5.0)
            assert machine.outcome == "jammed"
            rows = world.ctx.core.call(lambda: list(world.ctx.core.terminal.journal.rows()))
            assert [r["kind"] for r in rows] == ["payment", "reversal"]
            voids = [e for e in world.ctx.audit.entries() if e["action"] == "vend_void"]
            assert voids and voids[-1]["seq"] == rows[0]["seq"] and voids[-1]["ok"]

    try:
        run(go())
    finally:
        world.ctx.close()

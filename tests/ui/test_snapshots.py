"""SVG snapshots of the main screens in both languages (pytest-textual-snapshot).

A fixed clock, terminal id and amounts make them byte-stable; after an intended change to a
screen, review and accept with ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from sim.demo.interactive import DemoApp
from tests.ui.harness import SIZE, make_world, result, shown_on, text, until

Steps = Callable[[Pilot[Any]], Awaitable[None]]


def _snap(snap_compare: Any, base: Path, mode: str, steps: Steps, *, size: tuple[int, int] = SIZE,
          **kw: Any) -> bool:  # fmt: skip
    world = make_world(base, mode, **kw)
    app = DemoApp(world.ctx)

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.is_ready)
        await steps(pilot)
        await pilot.pause(0.05)

    try:
        return bool(snap_compare(app, terminal_size=size, run_before=run_before))
    finally:
        world.ctx.close()


async def _amount(pilot: Pilot[Any]) -> None:
    await pilot.press("1", "2", "5", "0")


async def _waiting(pilot: Pilot[Any]) -> None:
    await pilot.press("1", "2", "5", "0", "enter")
    await until(pilot, lambda: pilot.app.screen.state == "waiting")


async def _approved(pilot: Pilot[Any]) -> None:
    await pilot.press("1", "2", "5", "0", "enter", "t")
    await result(pilot)


async def _declined(pilot: Pilot[Any]) -> None:
    await pilot.press("4", "9", "0", "enter", "m")
    await result(pilot)


async def _gate_pass(pilot: Pilot[Any]) -> None:
    await pilot.press("t")
    await until(pilot, lambda: pilot.app.screen.has_class("-approved"))


async def _gate_passback(pilot: Pilot[Any]) -> None:
    await pilot.press("t")
    await until(pilot, lambda: pilot.app.screen.has_class("-approved"))
    await pilot.press("a")
    await until(pilot, lambda: pilot.app.screen.has_class("-declined"))


async def _vend_pay(pilot: Pilot[Any]) -> None:
    await pilot.press("2")
    await until(pilot, lambda: "2.20" in text(pilot.app))


async def _vend_thanks(pilot: Pilot[Any]) -> None:
    await _vend_pay(pilot)
    await pilot.press("t")
    await until(pilot, lambda: pilot.app.screen.has_class("-approved"))


async def _history(pilot: Pilot[Any]) -> None:
    await _approved(pilot)
    await pilot.press("escape")
    await until(pilot, lambda: pilot.app.screen.state == "entry")
    await pilot.press("f3")
    await shown_on(pilot, "HistoryScreen")
    await until(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 1)


CASES = {
    "counter_entry": ("counter", _amount, {}),
    "counter_waiting": ("counter", _waiting, {}),
    "counter_approved": ("counter", _approved, {}),
    "counter_declined": ("counter", _declined, {}),
    "counter_history": ("counter", _history, {}),
    "gate_pass": ("gate", _gate_pass, {}),
    "gate_passback": ("gate", _gate_passback, {}),
    "vending_pay": ("vending", _vend_pay, {"size": (60, 16)}),
    "vending_thanks": ("vending", _vend_thanks, {"size": (60, 16)}),
}


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_screen(case: str, language: str, snap_compare: Any, tmp_path: Path) -> None:
    mode, steps, kw = CASES[case]
    assert _snap(snap_compare, tmp_path, mode, steps, language=language, **kw)

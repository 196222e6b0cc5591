"""``pos demo``'s network keys on the real ``sim.demo.network.DemoNetwork`` (a collector process on
127.0.0.1, a switchable proxy, background sync, a second shop): ``n`` cuts and restores the link,
the status bar's queue drains, ``e`` spends the last QR code again at the second shop, and the
network's events reach the screen as notifications."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.ui.harness import Clock, make_world, run, running, text, until

pytestmark = pytest.mark.timeout(60)


def notes(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


def test_network_key_drains_the_queue_and_e_spends_the_last_qr_at_the_second_shop(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter", Clock(int(time.time())), network=True)
    try:

        async def go() -> None:
            async with running(world, notifications=True) as (app, pilot):
                await pilot.press("e")  # no QR code shown yet
                await until(pilot, lambda: any("Show a QR code first" in n for n in notes(app)))
                await pilot.press("1", "2", "5", "0", "enter", "q")
                await until(pilot, lambda: "APPROVED" in text(app))
                await pilot.press("escape")
                await until(pilot, lambda: "1 to upload" in text(app))  # the network starts cut
                await pilot.press("n")
                await until(pilot, lambda: any("network restored" in n for n in notes(app)))
                await until(pilot, lambda: "nothing to upload" in text(app), timeout=20)
                await pilot.press("e")
                await until(pilot, lambda: any("DEMO-SHOP-2 approved the same" in n for n in notes(app)))

        run(go())
    finally:
        world.close()

"""The status bar: list ages in warning colours (SPEC 3.1), exposure against caps (SPEC 3.3),
network state from the sync seam, device health."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Label

from pos.decision import Policy
from pos.trust import SignedList
from sim.scheme import DAY
from tests.ui.harness import Clock, make_world, result, run, running, until
from ui.runtime.snapshot import ERROR, OK, WARN, StatusSnapshot, duration, list_age


def _cell(app: object, cid: str) -> Label:
    return app.screen.query_one(f"#{cid}", Label)  # type: ignore[attr-defined]


def test_list_age_levels_follow_next_update_and_grace() -> None:
    lst = SignedList(1, b"", iat=1_000, next_update=1_000 + DAY, seq=1)
    grace = 7 * DAY
    assert list_age("trust", lst, 1_000 + 3600, grace).level == OK
    assert list_age("trust", lst, 1_000 + DAY + 1, grace).level == WARN  # past next_update
    assert list_age("trust", lst, 1_000 + 7 * DAY + 1, grace).level == WARN  # within a day of stale
    stale = list_age("trust", lst, 1_000 + 8 * DAY + 1, grace)
    assert stale.level == ERROR and stale.stale_in < 0
    assert list_age("trust", lst, 500, grace).clock_behind
    assert list_age("trust", None, 1_000, grace).level == ERROR


def test_exposure_warns_near_the_caps() -> None:
    def snap(count: int, total: int) -> StatusSnapshot:
        policy = Policy()
        return StatusSnapshot("counter", "T", "EUR", 0, None, count, count, total,
                              policy.offline_count_max, policy.offline_total_max, (), ())  # fmt: skip

    assert snap(10, 1_000).exposure_level == OK
    assert snap(400, 1_000).exposure_level == WARN
    assert snap(10, 450_000).exposure_level == WARN
    assert snap(500, 1_000).exposure_level == ERROR
    assert duration(90) == "1m" and duration(3 * DAY + 5) == "3d" and duration(59) == "59s"


def test_stale_soon_then_stale_keys_are_shown_in_warning_colours(tmp_path: Path) -> None:
    clock = Clock()
    world = make_world(tmp_path, "counter", clock=clock, list_valid_s=DAY)

    async def go() -> None:
        async with running(world) as (app, pilot):
            lists = _cell(app, "st-lists")
            assert "keys ok" in str(lists.render()) and lists.has_class("-ok")
            clock.advance(DAY + 3600)  # past next_update, inside the 7-day grace
            await app.refresh_status()
            await until(pilot, lambda: lists.has_class("-warn"))
            assert "keys stale in 6d" in str(lists.render())
            await pilot.press("1", "0", "0", "enter", "t")  # still accepted within the grace
            assert "APPROVED" in await result(pilot)
            await pilot.press("escape")
            clock.advance(7 * DAY)  # past next_update + grace: stale
            await app.refresh_status()
            await until(pilot, lambda: app.screen.query_one("#st-lists", Label).has_class("-error"))
            assert "keys STALE" in str(app.screen.query_one("#st-lists", Label).render())
            await pilot.press("1", "0", "0", "enter", "t")
            shown = await result(pilot)
            assert "The terminal's keys are out of date." in shown
            assert "Connect the terminal to the network" in shown

    run(go())
    world.ctx.close()


def test_network_toggle_and_upload_count(tmp_path: Path) -> None:
    world = make_world(tmp_path, "counter")

    async def go() -> None:
        async with running(world) as (app, pilot):
            net = _cell(app, "st-net")
            assert "offline" in str(net.render()) and net.has_class("-warn")
            await pilot.press("1", "0", "0", "enter", "t")
            await result(pilot)
            await pilot.press("escape")
            await until(pilot, lambda: "1 to upload" in str(_cell(app, "st-upload").render()))
            await pilot.press("n")  # the demo's network comes back: its collector acknowledges
            await until(pilot, lambda: "nothing to upload" in str(_cell(app, "st-upload").render()))
            assert "online" in str(_cell(app, "st-net").render())

    run(go())
    world.ctx.close()


def test_serial_scanner_health_property_reaches_the_status_bar() -> None:
    from drivers.serial.scanner import ScannerSource
    from ui.runtime.context import source_health

    scanner = ScannerSource("loop://")
    try:
        live = source_health(scanner)
        assert live is not None and live.ok and live.name == "loop://"
    finally:
        scanner.close()
    gone = source_health(scanner)
    assert gone is not None and not gone.ok and gone.detail == "closed"

"""The transit gate: the relay opens only after the durable commit, anti-passback refuses the same
wallet without consuming its token, and the whole screen says GO or STOP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pos.journal import DB_FILE
from tests.ui.harness import Clock, make_world, run, running, text, until


def committed_payments(data_dir: Path) -> int:
    """Read from a connection of our own: only committed rows are visible to it."""
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        return int(db.execute("SELECT count(*) FROM payments WHERE kind = 'payment'").fetchone()[0])
    finally:
        db.close()


def test_relay_opens_only_after_the_payment_is_committed(tmp_path: Path) -> None:
    world = make_world(tmp_path, "gate")
    relay = world.relay
    assert relay is not None
    relay.probe = lambda: committed_payments(world.ctx.data_dir)

    async def go() -> None:
        async with running(world) as (app, pilot):
            for n, key in enumerate(("t", "q", "t"), start=1):
                await pilot.press(key)
                await until(pilot, lambda n=n: len(relay.opened) == n)
            await until(pilot, lambda: app.screen.has_class("-approved"))
            assert "Please pass" in text(app)

    run(go())
    # the probe ran inside Actuator.open: the n-th opening already saw n committed payments
    assert [seen for _t, _s, seen in relay.opened] == [1, 2, 3]
    assert all(seconds == world.ctx.settings.open_s for _t, seconds, _seen in relay.opened)
    world.ctx.close()


def test_same_wallet_again_is_refused_as_passback_without_a_charge(tmp_path: Path) -> None:
    clock = Clock()
    world = make_world(tmp_path, "gate", clock=clock, passback_s=60)
    relay = world.relay
    assert relay is not None

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("t")
            await until(pilot, lambda: len(relay.opened) == 1)
            await pilot.press("a")  # the same customer taps again at once
            await until(pilot, lambda: app.screen.has_class("-declined"))
            shown = text(app)
            assert "No entry" in shown
            assert "This wallet passed this gate a moment ago. Nothing was charged." in shown
            assert len(relay.opened) == 1
            assert committed_payments(world.ctx.data_dir) == 1
            clock.advance(61)
            await pilot.press("a")
            await until(pilot, lambda: len(relay.opened) == 2)
            assert committed_payments(world.ctx.data_dir) == 2

    run(go())
    world.ctx.close()


def test_declined_token_never_opens_the_gate(tmp_path: Path) -> None:
    world = make_world(tmp_path, "gate", passback_s=0)  # so the replay reaches the core
    relay = world.relay
    assert relay is not None

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("m")  # a wallet on the deny list
            await until(pilot, lambda: app.screen.has_class("-declined"))
            assert "This wallet is blocked. Please pay another way." in text(app)
            await pilot.press("q")
            await until(pilot, lambda: len(relay.opened) == 1)
            await pilot.press("d")  # the same QR code again
            await until(pilot, lambda: "This code was already used." in text(app))
            assert len(relay.opened) == 1

    run(go())
    world.ctx.close()


def test_relay_failure_after_payment_says_staff_will_let_you_through(tmp_path: Path) -> None:
    world = make_world(tmp_path, "gate")
    relay = world.relay
    assert relay is not None
    relay.fail = True

    async def go() -> None:
        async with running(world) as (app, pilot):
            await pilot.press("t")
            await until(pilot, lambda: "Paid, but the gate did not open." in text(app))
            assert "Staff will let you through." in text(app)
            assert committed_payments(world.ctx.data_dir) == 1
            await until(pilot, lambda: "device fault: relay" in text(app))

    run(go())
    world.ctx.close()

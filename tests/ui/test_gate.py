"""The transit gate: the relay opens only after the durable commit, anti-passback refuses the same
wallet without consuming its token, and the whole screen says GO or STOP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pos.decision import Policy
from pos.journal import DB_FILE
from pos.keystore import KeyStore
from pos.ports import Presentation
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from sim.wallet import Wallet
from tests.conftest import Demo
from tests.ui.harness import Clock, make_world, run, running, text, until
from ui.runtime.acceptance import PASSBACK, Attempt, Gate, Passback
from ui.runtime.devices import RecordingRelay
from ui.runtime.worker import Core


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


# -- anti-passback across a restart (the journal is the durable record) ------------------------
class GateProcess:
    """One life of a gate on a data dir: a core, a recording relay, a Gate (as ``pos run`` builds)."""

    def __init__(self, demo: Demo, clock: Clock, passback_s: int = 60) -> None:
        store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
        store.install_trust_list(demo.trust_list.read_bytes())
        store.install_deny_list(demo.deny_list.read_bytes())
        self.core = Core(lambda: Terminal(demo.data_dir, store, policy=Policy()))
        self.relay = RecordingRelay()
        self.gate = Gate(
            self.core, self.relay, fare=250, currency="EUR", terminal_id="GATE-1", open_s=1.0,
            passback_s=passback_s, clock=clock,
        )  # fmt: skip
        self.clock = clock

    def present(self, wallet: Wallet) -> Attempt:
        text = encode_text(wallet.token(max_amount=250, now=self.clock()))
        return self.gate.serve(Presentation("text", text, "scanner"), self.gate.new_request(), 0.0)

    def close(self) -> None:
        self.core.close(self.clock())


def test_passback_is_reloaded_from_the_journal_when_the_gate_restarts(demo: Demo) -> None:
    clock = Clock(demo.now)
    alice, bob = demo.wallet(), demo.wallet()
    first = GateProcess(demo, clock)
    assert first.present(alice).decision.approved  # type: ignore[union-attr]
    first.close()  # the gate restarts (an update, a crash): memory is gone, the journal is not

    clock.advance(20)
    second = GateProcess(demo, clock)
    try:
        assert second.gate.seeded.result(5) == 1
        again = second.present(alice)  # a fresh token (new counter) from the same wallet
        assert again.decision is not None and again.decision.reason == PASSBACK
        assert second.relay.opened == [] and committed_payments(demo.data_dir) == 1  # nothing charged
        assert second.present(bob).decision.approved  # type: ignore[union-attr]  # others pass
        clock.advance(41)  # 61 s after alice passed: the window is over
        assert second.present(alice).decision.approved  # type: ignore[union-attr]
        assert len(second.relay.opened) == 2 and committed_payments(demo.data_dir) == 3
    finally:
        second.close()


def test_payments_older_than_the_window_do_not_block_after_a_restart(demo: Demo) -> None:
    clock = Clock(demo.now)
    alice = demo.wallet()
    first = GateProcess(demo, clock, passback_s=30)
    assert first.present(alice).decision.approved  # type: ignore[union-attr]
    first.close()
    clock.advance(30)
    second = GateProcess(demo, clock, passback_s=30)
    try:
        assert second.gate.seeded.result(5) == 0
        assert second.present(alice).decision.approved  # type: ignore[union-attr]
    finally:
        second.close()


def test_a_newer_passage_in_memory_wins_over_an_older_journal_time() -> None:
    passback = Passback(60)
    passback.record(b"w", 1_000)
    passback.seed({b"w": 990, b"v": 995})
    assert passback.last_open == {b"w": 1_000, b"v": 995}
    assert passback.refused(frozenset({b"w"}), 1_059) == b"w"
    assert passback.refused(frozenset({b"v"}), 1_055) is None

"""``pos demo``'s devices end to end: the real drivers against their simulators, no queues.

NFC taps cross nfcpy's ``udp:`` driver on 127.0.0.1 (wallet emulator in card emulation, the
terminal's ``NfcSource``), QR codes are PNG files read by ``CameraSource("file:...")``, scans cross
a pty into ``ScannerSource``, the vending machine's VMC speaks OWT-MDB/1 over a pty to
``MdbVendSession``, and the gate's ``LcusRelay`` writes LCUS frames over a pty to a simulated board.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.mdb.session import MdbVendSession
from drivers.nfc.reader import NfcSource
from drivers.relay import LcusRelay
from drivers.serial.scanner import ScannerSource
from pos.decision import Decision, PaymentRequest
from pos.journal import DB_FILE
from pos.ports import CARD_REMOVED, SourceFailure, VendRequest
from pos.presentation import decode_text
from pos.tokens import parse_token
from sim.demo.camera import PhoneScreenCamera
from sim.demo.devices import DemoDevices
from sim.demo.interactive import DemoWorld
from tests.ui.harness import Clock, make_world, run, running, text, until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[DemoWorld]:
    world = make_world(tmp_path, "counter", real=True)
    yield world
    world.close()


def devices_of(world: DemoWorld) -> DemoDevices:
    assert isinstance(world.devices, DemoDevices)
    return world.devices


def request(world: DemoWorld, amount: int) -> PaymentRequest:
    ctx = world.ctx
    return PaymentRequest(amount, ctx.currency, ctx.clock(), ctx.terminal_id, os.urandom(16))


def present(world: DemoWorld, index: int, amount: int, timeout: float = 10.0) -> Decision:
    """One read of source ``index`` (0 NFC, 1 camera, 2 scanner), decided by the terminal."""
    req = request(world, amount)
    presented = world.ctx.sources[index].read(req, timeout)
    return world.ctx.core.accept(presented, req)


def journal_kinds(data_dir: Path) -> list[str]:
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        return [r[0] for r in db.execute("SELECT kind FROM payments ORDER BY seq")]
    finally:
        db.close()


def udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError as exc:
            assert exc.errno == errno.EADDRINUSE
            return False
        return True


# -- each device, end to end through its driver ----------------------------------------------------
def test_the_terminal_reads_real_drivers(counter: DemoWorld) -> None:
    nfc, camera, scanner = counter.ctx.sources
    assert isinstance(nfc, NfcSource) and nfc.url.startswith("udp:127.0.0.1:")
    assert isinstance(camera, PhoneScreenCamera) and camera.url.startswith("file:")
    assert isinstance(scanner, ScannerSource) and scanner.url.startswith("/dev/pts/")
    assert counter.ctx.settings.devices == {"nfc": nfc.url, "camera": camera.url, "scanner": scanner.url}


def test_nfc_tap_over_udp_pays_the_amount_and_challenge_the_reader_sent(counter: DemoWorld) -> None:
    devices = devices_of(counter)
    devices.tap()
    req = request(counter, 1_250)
    presented = counter.ctx.sources[0].read(req, 10)
    assert presented.kind == "bytes"
    token = parse_token(presented.data)
    assert (token.amount, token.challenge, token.terminal_id) == (1_250, req.challenge, req.terminal_id)
    decision = counter.ctx.core.accept(presented, req)
    assert decision.approved and decision.mode == "nfc"
    assert decision.wallet_id == counter.controls.wallets[0].wallet_id
    assert devices.phones.wait_event("left_field")
    generate = [kw for name, kw in devices.phones.events if name == "generate"]
    assert generate[0]["amount"] == 1_250 and generate[0]["challenge"] == req.challenge.hex()


def test_phone_pulled_away_mid_tap_is_card_removed(counter: DemoWorld) -> None:
    devices_of(counter).pull_away()
    with pytest.raises(SourceFailure) as info:
        counter.ctx.sources[0].read(request(counter, 500), 10)
    assert info.value.outcome == CARD_REMOVED


def test_qr_picture_read_by_the_camera_is_approved_and_shown_again_is_a_replay(counter: DemoWorld) -> None:
    devices = devices_of(counter)
    devices.show_qr()
    decision = present(counter, 1, 1_250)
    assert decision.approved and decision.mode == "qr"
    picture = devices.camera.shown[0]
    assert picture.exists() and picture.read_bytes().startswith(b"\x89PNG")
    assert devices.double_spend()
    again = present(counter, 1, 700)
    assert not again.approved and again.reason == "replayed"


def test_blocked_wallet_on_the_camera_is_declined(counter: DemoWorld) -> None:
    devices_of(counter).blocked()
    decision = present(counter, 1, 300)
    assert not decision.approved and decision.reason == "wallet_denied"


def test_scan_on_the_pty_is_approved(counter: DemoWorld) -> None:
    devices = devices_of(counter)
    assert devices.scan()
    req = request(counter, 990)
    presented = counter.ctx.sources[2].read(req, 5)
    assert presented.kind == "text" and presented.data.decode() == devices.last_qr
    assert parse_token(decode_text(presented.data)).max_amount is not None
    assert counter.ctx.core.accept(presented, req).approved


def test_vending_select_is_approved_then_dispensed_on_the_vmc_side(tmp_path: Path) -> None:
    world = make_world(tmp_path, "vending", real=True)
    try:
        devices = devices_of(world)
        vend = world.ctx.vend
        assert isinstance(vend, MdbVendSession) and devices.machine is not None
        assert devices.select(1)  # A2: MDB item 12 at 2.20
        assert not devices.select(2)  # the machine is busy with A2
        selection = vend.wait_selection(5.0)
        assert selection == VendRequest(220, "12")
        devices.tap()
        decision = present(world, 0, selection.price)
        assert decision.approved and decision.seq is not None
        assert vend.approve(selection, decision.seq) is True
        assert devices.machine.wait_outcomes(1)
        assert devices.machine.outcomes == [("dispensed", 12, 220)]
        assert bytes.fromhex("0500dc") in devices.machine.vmc.received  # VEND APPROVED 2.20
    finally:
        world.close()


def test_close_stops_every_simulator_and_frees_its_port(tmp_path: Path) -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = set(threading.enumerate())
    worlds = [make_world(tmp_path / mode, mode, real=True) for mode in ("counter", "vending", "gate")]
    ports = [devices_of(w).phones.port for w in worlds]
    for world in worlds:
        devices_of(world).tap()  # a phone waiting in the field when the demo stops
        devices_of(world).show_qr()
    deadline = time.monotonic() + 10  # each phone binds its port from its own thread
    while any(udp_port_free(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(udp_port_free(port) for port in ports)
    for world in worlds:
        world.close()
    assert all(udp_port_free(port) for port in ports)
    left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert left == []
    assert len(os.listdir("/proc/self/fd")) == fds_before


# -- the demo app on the real simulators, one pilot test per mode ----------------------------------
def test_counter_pilot_tap_scan_and_double_spend(counter: DemoWorld) -> None:
    async def go() -> None:
        async with running(counter) as (app, pilot):
            await pilot.press("1", "2", "5", "0", "enter", "t")
            await until(pilot, lambda: "APPROVED" in text(app))
            await pilot.press("escape")
            await pilot.press("5", "0", "0", "enter", "s")
            await until(pilot, lambda: "APPROVED" in text(app) and "5.00" in text(app))
            await pilot.press("escape")
            await pilot.press("7", "0", "0", "enter", "d")  # the scanned code, shown to the camera
            await until(pilot, lambda: "DECLINED" in text(app))

    run(go())
    assert journal_kinds(counter.ctx.data_dir) == ["payment", "payment"]


def test_vending_pilot_jam_pressed_while_paying_fails_that_vend_and_records_a_reversal(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path, "vending", real=True)
    machine = devices_of(world).machine
    assert machine is not None
    try:

        async def go() -> None:
            async with running(world, size=(60, 16)) as (app, pilot):
                await pilot.press("3")  # B1 (MDB item 21, 1.80)
                await until(pilot, lambda: "1.80" in text(app) and "Tap the phone" in text(app))
                await pilot.press("j", "q")  # the spiral jams on the vend in progress
                await until(pilot, lambda: "Not delivered" in text(app))
                assert "nothing was charged" in text(app)

        run(go())
        assert machine.wait_outcomes(1)
        assert machine.outcomes == [("jammed", 21, 180)]
        assert journal_kinds(world.ctx.data_dir) == ["payment", "reversal"]
    finally:
        world.close()


def test_gate_pilot_relay_board_opens_then_closes_and_passback_is_refused(tmp_path: Path) -> None:
    world = make_world(tmp_path, "gate", Clock(), real=True, open_s=0.3, passback_s=60)
    board = devices_of(world).board
    assert board is not None and isinstance(world.relay, LcusRelay)
    assert not board.is_on()
    try:

        async def go() -> None:
            async with running(world) as (app, pilot):
                await pilot.press("t")
                await until(pilot, lambda: app.screen.has_class("-approved"))
                assert board.wait_for("off", timeout=5)
                await pilot.press("a")  # the same traveller again
                await until(pilot, lambda: app.screen.has_class("-declined"))
                assert "This wallet passed this gate a moment ago." in text(app)

        run(go())
        states = board.states()  # the driver may also switch off when it opens (fail safe)
        assert states.count("on") == 1 and states[-2:] == ["on", "off"]  # opened once, then closed
        assert journal_kinds(world.ctx.data_dir) == ["payment"]
    finally:
        world.close()

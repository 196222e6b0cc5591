"""The Qibixx MDB-USB / Pi Hat Plus cashless-device adapter (docs/mdb.md): its line grammar, and
QibixxVendSession over a real pty (and a real TCP socket for unplug/reconnect) driven by the
adapter + VMC simulator. No mocks."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.mdb.qibixx import QibixxVendSession, split_url
from drivers.mdb.qibixx_lines import (
    AdapterError,
    AmountError,
    BadVendRequest,
    Noise,
    QibixxLines,
    Status,
    VendFailed,
    VendRequested,
    VendSucceeded,
    Version,
    format_amount,
    parse_line,
    to_minor,
)
from drivers.mdb.session import MdbVendSession
from drivers.sources import open_vend_session
from pos.ports import VendRequest
from sim.qibixx_adapter import QibixxSimulator

pytestmark = pytest.mark.timeout(20)


# -- amounts and lines, pure ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "decimals", "minor"),
    [("150", 0, 150), ("1.00", 2, 100), ("1.5", 2, 150), ("2", 2, 200), ("0.05", 2, 5), ("1.250", 3, 1250),
     ("0.001", 3, 1), ("12.50", 2, 1250), ("7.0", 0, 7)],
)  # fmt: skip
def test_decimal_amount_text_becomes_exact_minor_units(text: str, decimals: int, minor: int) -> None:
    assert to_minor(text, decimals) == minor


@pytest.mark.parametrize(("minor", "decimals", "text"), [(150, 0, "150"), (150, 2, "1.50"), (5, 2, "0.05"),
                                                         (150, 3, "0.150"), (1250, 3, "1.250")])  # fmt: skip
def test_minor_units_format_with_the_configured_decimals(minor: int, decimals: int, text: str) -> None:
    assert format_amount(minor, decimals) == text
    assert to_minor(text, decimals) == minor


@pytest.mark.parametrize(("text", "decimals"), [("1.505", 2), ("1.5", 0), ("-1.00", 2), ("1,00", 2), ("", 2),
                                                ("1.", 2), (".5", 2), ("1e2", 2), ("１.00", 2)])  # fmt: skip
def test_amount_that_is_not_exact_minor_units_is_refused(text: str, decimals: int) -> None:
    with pytest.raises(AmountError):
        to_minor(text, decimals)


def test_documented_adapter_lines_parse_to_events() -> None:
    assert parse_line("c,STATUS,ENABLED") == Status("ENABLED")
    assert parse_line("c,STATUS,IDLE,5.00,1") == Status("IDLE")  # extra fields after a C,START
    assert parse_line("c,STATUS,VEND,1.00,2") == VendRequested(100, "2")
    assert parse_line("c,STATUS,VEND,1.250,17", decimals=3) == VendRequested(1250, "17")
    assert parse_line("c,VEND,SUCCESS") == VendSucceeded()
    assert parse_line("c,ERR,VEND 3") == VendFailed("VEND 3")
    assert parse_line('c,ERR,"cashless is off"') == AdapterError("cashless is off")
    assert parse_line("v,4.0.1.0,51B1") == Version("4.0.1.0,51B1")
    for noise in ("r,ACK", "c,1", "c,0", "x,00,0014320154,11,0003000000", "c,SET,OK", "d,STATUS,IDLE"):
        assert parse_line(noise) == Noise(), noise
    for unknown in ("C,1", "c,STATUS,WHAT", "c,VEND,MAYBE", "c", "", "hello", "c,STATUS"):
        assert parse_line(unknown) is None, unknown
    assert isinstance(parse_line("c,STATUS,VEND,1.005,2"), BadVendRequest)
    assert isinstance(parse_line("c,STATUS,VEND,1.00"), BadVendRequest)
    assert isinstance(parse_line("c,STATUS,VEND,1.00,a b"), BadVendRequest)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80), st.integers(0, 6))
def test_random_text_lines_never_crash_the_parser(line: str, decimals: int) -> None:
    event = parse_line(line, decimals)
    if isinstance(event, VendRequested):
        assert event.price >= 0 and event.item


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_random_bytes_on_the_line_never_crash_the_framing(chunks: list[bytes]) -> None:
    lines = QibixxLines("loop://")
    try:
        for chunk in chunks:
            lines.port.write(chunk + b"\n")
        while (line := lines.read_line(0.01)) is not None:
            assert line.isascii() and line.isprintable() and len(line) <= 256
            parse_line(line)
    finally:
        lines.close()


def test_url_picks_the_adapter_and_carries_its_settings() -> None:
    assert split_url("qibixx:/dev/ttyACM0") == ("/dev/ttyACM0", {})
    assert split_url("qibixx:socket://127.0.0.1:7010?decimals=3&logging=debug") == (
        "socket://127.0.0.1:7010?logging=debug",
        {"decimals": 3},
    )
    with pytest.raises(ValueError):
        split_url("qibixx:/dev/ttyACM0?decimals=two")
    qibixx = open_vend_session("qibixx:loop://?decimals=3")
    assert isinstance(qibixx, QibixxVendSession) and qibixx.decimals == 3
    qibixx.close()
    owt = open_vend_session("loop://")
    assert isinstance(owt, MdbVendSession)  # OWT-MDB/1 stays the default for a bare serial URL
    owt.close()


# -- over a pty ------------------------------------------------------------------------------------
class Rig:
    def __init__(self, decimals: int = 2, silent: bool = False, **kw: float) -> None:
        self.master, self.slave = os.openpty()
        kw.setdefault("vend_timeout", 3.0)
        self.sim = QibixxSimulator.on_pty(self.master, decimals=decimals, silent=silent)
        self.session = QibixxVendSession(os.ttyname(self.slave), decimals=decimals, **kw)  # type: ignore[arg-type]

    def close(self) -> None:
        self.session.close()
        self.sim.close()
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    r.sim.wait_enabled()
    yield r
    r.close()


class Vend:
    """The machine's side of one selection on a thread, so the test plays the terminal."""

    def __init__(
        self, sim: QibixxSimulator, item: int, price: int, dispense: bool = True, timeout: float = 3
    ) -> None:
        self.outcome = ""
        self._thread = threading.Thread(
            target=self._run, args=(sim, item, price, dispense, timeout), daemon=True
        )
        self._thread.start()

    def _run(self, sim: QibixxSimulator, item: int, price: int, dispense: bool, timeout: float) -> None:
        self.outcome = sim.vend(item, price, dispense=dispense, timeout=timeout)

    def result(self) -> str:
        self._thread.join(5.0)
        return self.outcome


def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def test_full_sale_approves_the_machines_price_and_reports_success(rig: Rig) -> None:
    until(lambda: rig.session.health().ok)
    vend = Vend(rig.sim, item=12, price=250)
    request = rig.session.wait_selection(3.0)
    assert request == VendRequest(250, "12")
    assert rig.session.approve(request, seq=41) is True
    assert vend.result() == "dispensed"
    assert rig.sim.received[0] == "C,1" and "C,VEND,2.50" in rig.sim.received
    until(lambda: rig.session.state == "ENABLED")
    health = rig.session.health()
    assert health.ok and "Qibixx 4.0.1.0" in health.detail


def test_declined_payment_denies_the_vend_with_stop(rig: Rig) -> None:
    vend = Vend(rig.sim, item=3, price=900)
    request = rig.session.wait_selection(3.0)
    assert request is not None
    rig.session.deny(request)
    assert vend.result() == "denied"
    assert rig.sim.received[-1] == "C,STOP"
    assert rig.session.approve(request, seq=1) is False  # nothing open any more


def test_vend_failure_after_approval_returns_false_then_the_next_sale_works(rig: Rig) -> None:
    vend = Vend(rig.sim, item=4, price=150, dispense=False)
    request = rig.session.wait_selection(3.0)
    assert request is not None
    started = time.monotonic()
    assert rig.session.approve(request, seq=7) is False  # c,ERR,VEND 3: the UI records a reversal
    assert time.monotonic() - started < 2.0  # from the error line, not the vend timeout
    assert vend.result() == "jammed"
    vend = Vend(rig.sim, item=5, price=100)
    request = rig.session.wait_selection(3.0)
    assert request == VendRequest(100, "5")
    assert rig.session.approve(request, seq=8) is True
    assert vend.result() == "dispensed"


def test_no_selection_times_out_and_cancel_stops_the_open_request(rig: Rig) -> None:
    started = time.monotonic()
    assert rig.session.wait_selection(0.2) is None
    assert time.monotonic() - started < 1.0
    rig.session.cancel()  # nothing open: nothing sent
    assert "C,STOP" not in rig.sim.received
    vend = Vend(rig.sim, item=9, price=120)
    assert rig.session.wait_selection(3.0) is not None
    rig.session.cancel()  # the customer did not pay in time
    assert vend.result() == "denied"
    assert rig.sim.received[-1] == "C,STOP"


def test_machine_cancelling_first_drops_the_request(rig: Rig) -> None:
    vend = Vend(rig.sim, item=2, price=220, timeout=0.3)
    request = rig.session.wait_selection(3.0)
    assert request is not None
    assert vend.result() == "cancelled"  # c,STATUS,IDLE / ENABLED before any answer
    until(lambda: rig.session.request is None)
    assert rig.session.wait_selection(0.1) is None
    assert rig.session.approve(request, seq=3) is False  # a payment made meanwhile is reversed


def test_garbage_and_partial_lines_are_ignored(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="drivers.mdb.qibixx"):
        for raw in (
            b"garbage\n",
            b"\xff\xfe\x00\n",
            b"x" * 600 + b"\n",
            b"c,STATUS,WHAT\r\n",
            b"\x1b[2J\n",
            b"x,00,0014320154,11,0003000000\n",
            b"r,ACK\n",
            b"c,VEND,SUCCESS\n",
            b"\r\n",
            b",,,\n",
        ):
            rig.sim.write_raw(raw)
        rig.sim.write_line("c,STATUS,VEND,abc,1")  # unreadable price: denied, never guessed
        until(lambda: "C,STOP" in rig.sim.received)
        rig.sim.write_partial("c,STATUS,VEND,1.20,7", pieces=4)
        request = rig.session.wait_selection(3.0)
        assert request == VendRequest(120, "7")
        rig.session.deny(request)
    assert "ignored" in caplog.text and "vend request denied" in caplog.text
    assert rig.session.health().ok


@pytest.mark.parametrize(("decimals", "price", "line"), [(0, 150, "C,VEND,150"), (2, 150, "C,VEND,1.50"),
                                                         (3, 1250, "C,VEND,1.250")])  # fmt: skip
def test_amounts_cross_the_wire_with_0_2_3_decimals(decimals: int, price: int, line: str) -> None:
    r = Rig(decimals=decimals)
    try:
        r.sim.wait_enabled()
        vend = Vend(r.sim, item=1, price=price)
        request = r.session.wait_selection(3.0)
        assert request == VendRequest(price, "1")
        assert r.session.approve(request, seq=1) is True
        assert vend.result() == "dispensed"
        assert line in r.sim.received
    finally:
        r.close()


def test_silent_adapter_is_reported_unhealthy_in_bounded_time() -> None:
    r = Rig(silent=True, keepalive_s=0.1, silent_s=0.4)  # answers nothing, not even C,1 or V
    try:
        started = time.monotonic()
        until(lambda: not r.session.health().ok and "silent" in r.session.health().detail, timeout=2.0)
        assert time.monotonic() - started < 2.0
        assert r.session.wait_selection(0.2) is None
        r.sim.silent = False  # it answers the next keepalive; the terminal switches the device on again
        until(lambda: r.session.health().ok)
        assert r.sim.on
    finally:
        r.close()


def test_adapter_reboot_fails_the_open_vend_and_the_device_is_enabled_again(rig: Rig) -> None:
    vend = Vend(rig.sim, item=6, price=300, timeout=1.0)
    request = rig.session.wait_selection(3.0)
    assert request is not None
    rig.sim.reboot()
    started = time.monotonic()
    assert rig.session.approve(request, seq=9) is False  # c,ERR,"cashless is off": not dispensed
    assert time.monotonic() - started < 1.0  # from the error line, not the vend timeout
    vend.result()
    until(lambda: rig.sim.enabled and rig.sim.received.count("C,1") == 2)
    vend = Vend(rig.sim, item=6, price=300)
    request = rig.session.wait_selection(3.0)
    assert request is not None and rig.session.approve(request, seq=10) is True
    assert vend.result() == "dispensed"


def test_unplugged_adapter_is_reported_and_reconnected() -> None:
    sim = QibixxSimulator.on_tcp()
    session = QibixxVendSession(sim.url, reconnect_s=0.2, vend_timeout=3.0)
    try:
        sim.wait_enabled()
        until(lambda: session.health().ok)
        sim.unplug()
        until(lambda: "disconnected" in session.health().detail)
        assert not session.health().ok
        until(lambda: session.health().ok)  # reopened: C,1 again, the VMC enables it again
        assert sim.received.count("C,1") == 2
        vend = threading.Thread(target=sim.vend, args=(8, 180), daemon=True)
        vend.start()
        request = session.wait_selection(3.0)
        assert request == VendRequest(180, "8")
        assert session.approve(request, seq=2) is True
        vend.join(3.0)
    finally:
        session.close()
        sim.close()


def test_port_that_cannot_be_opened_is_a_clear_error() -> None:
    with pytest.raises(serial.SerialException):
        QibixxVendSession("/dev/nonexistent-qibixx-adapter")

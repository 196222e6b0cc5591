"""MDB cashless device (drivers.mdb): the state machine, and MdbVendSession over a real pty driven by
the VMC simulator (OWT-MDB/1 lines). No mocks."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

import pytest

from drivers.mdb.adapter import parse_line
from drivers.mdb.cashless import (
    CashlessDevice,
    MdbError,
    Poll,
    Reset,
    SessionComplete,
    SetupConfig,
    State,
    VendOutcome,
    VendRequestCmd,
    VendRequested,
    VendSuccess,
    parse_command,
)
from drivers.mdb.session import MdbVendSession
from drivers.sources import open_vend_session
from pos.ports import VendRequest
from sim.mdb_vmc import VmcSimulator


# -- the state machine alone ---------------------------------------------------------------------
def test_parse_commands() -> None:
    assert parse_command(b"\x10") == Reset()
    assert parse_command(b"\x12") == Poll()
    assert parse_command(bytes.fromhex("1300012c0005")) == VendRequestCmd(300, 5)
    assert parse_command(bytes.fromhex("13020005")) == VendSuccess(5)
    for bad in (b"", b"\x13", bytes.fromhex("130001"), b"\x99", bytes.fromhex("1309")):
        with pytest.raises(MdbError):
            parse_command(bad)


def test_state_machine_happy_path() -> None:
    d = CashlessDevice()
    d.handle(Reset())
    assert d.take_responses() == [b"\x00"] and d.state is State.INACTIVE
    assert not d.begin_session()  # not enabled yet
    d.handle(SetupConfig(1, 0, 0, 0))
    assert d.take_responses()[0][:2] == b"\x01\x01" and d.state is State.DISABLED
    d.handle(parse_command(bytes.fromhex("110101f40032")))  # max 500, min 50
    d.handle(parse_command(b"\x14\x01"))
    assert d.state is State.ENABLED
    assert d.begin_session()
    assert d.take_responses() == [bytes.fromhex("0301f4")]
    events = d.handle(VendRequestCmd(120, 7))
    assert VendRequested(120, 7) in events and d.state is State.VEND
    assert d.approve()
    assert d.take_responses() == [bytes.fromhex("050078")]
    assert VendOutcome(True, 7) in d.handle(VendSuccess(7))
    d.handle(SessionComplete())
    assert d.take_responses() == [b"\x07"] and d.state is State.ENABLED


def test_state_machine_out_of_sequence_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    d = CashlessDevice()
    with caplog.at_level(logging.WARNING):
        assert d.handle(VendRequestCmd(100, 1)) == []
    assert d.state is State.INACTIVE and "ignored" in caplog.text


# -- over a pty ----------------------------------------------------------------------------------
class Rig:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.session = MdbVendSession(os.ttyname(self.slave), vend_timeout=5.0)
        self.vmc = VmcSimulator(self.master)

    def close(self) -> None:
        self.session.close()
        self.vmc.close()
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


class Vend:
    """The VMC's session on a thread, so the test can play the terminal."""

    def __init__(self, rig: Rig, item: int, price: int, dispense: bool = True) -> None:
        self.outcome = ""
        self._thread = threading.Thread(target=self._run, args=(rig, item, price, dispense), daemon=True)
        self._thread.start()

    def _run(self, rig: Rig, item: int, price: int, dispense: bool) -> None:
        try:
            self.outcome = rig.vmc.vend(item, price, dispense=dispense)
        except (TimeoutError, OSError) as exc:
            self.outcome = f"error: {exc}"

    def result(self) -> str:
        self._thread.join(5.0)
        return self.outcome


def test_happy_flow(rig: Rig) -> None:
    config = rig.vmc.boot(max_price=500)
    assert config[:2] == b"\x01\x01"
    vend = Vend(rig, item=12, price=250)
    request = rig.session.wait_selection(5.0)
    assert request == VendRequest(250, "12")
    assert rig.session.approve(request, seq=41) is True
    assert vend.result() == "dispensed"
    codes = [r[0] for r in rig.vmc.received]
    assert codes == [0x00, 0x01, 0x03, 0x05, 0x07]
    assert bytes.fromhex("0301f4") in rig.vmc.received  # BEGIN SESSION with the max price as funds
    assert bytes.fromhex("0500fa") in rig.vmc.received  # VEND APPROVED 250
    assert rig.session.health().ok and rig.session.device.state is State.ENABLED


def test_vend_denied(rig: Rig) -> None:
    rig.vmc.boot()
    vend = Vend(rig, item=3, price=900)
    request = rig.session.wait_selection(5.0)
    assert request is not None
    rig.session.deny(request)
    assert vend.result() == "denied"
    assert [r[0] for r in rig.vmc.received][-2:] == [0x06, 0x07]


def test_vend_failure_after_approval(rig: Rig) -> None:
    rig.vmc.boot()
    vend = Vend(rig, item=4, price=150, dispense=False)
    request = rig.session.wait_selection(5.0)
    assert request is not None
    assert rig.session.approve(request, seq=7) is False
    assert vend.result() == "jammed"
    # the next session works
    vend = Vend(rig, item=5, price=100)
    request = rig.session.wait_selection(5.0)
    assert request == VendRequest(100, "5")
    assert rig.session.approve(request, seq=8) is True
    assert vend.result() == "dispensed"


def test_no_selection_times_out(rig: Rig) -> None:
    rig.vmc.boot()
    assert rig.session.wait_selection(0.2) is None
    rig.session.cancel()
    assert rig.vmc.poll(0x04) == b"\x04"  # SESSION CANCEL REQUEST


def test_malformed_lines_are_ignored(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="drivers.mdb"):
        for line in (
            b"garbage",
            b"CMD,zz",
            b"CMD,",
            b"CMD,99",
            b"CMD,13",
            b"# banner",
            b"\xff\xfe",
            b"x" * 600,
        ):
            rig.vmc.write_line(line)
        rig.vmc.boot()
        vend = Vend(rig, item=1, price=10)
        request = rig.session.wait_selection(5.0)
        assert request == VendRequest(10, "1")
        assert rig.session.approve(request, seq=1)
        assert vend.result() == "dispensed"
    assert "ignored" in caplog.text
    assert rig.session.health().ok


def test_parse_line() -> None:
    assert parse_line(b"CMD,10\r\n") == Reset()
    assert parse_line(b"cmd,10\n") is None
    assert parse_line(b"CMD,1300012C0005\n") == VendRequestCmd(300, 5)
    assert parse_line(b"\n") is None


def test_factory() -> None:
    session = open_vend_session("loop://")
    assert isinstance(session, MdbVendSession)
    session.close()
    with pytest.raises(ValueError):
        open_vend_session("nope")

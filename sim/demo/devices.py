"""``pos demo``'s devices: simulators on the far side of the real drivers, nothing in-process.

    NFC      phones (``sim.nfc_wallet`` in card emulation) take turns on an nfcpy ``udp:``
             port on 127.0.0.1; the terminal's reader is ``NfcSource("udp:127.0.0.1:PORT")``
    camera   the phone screen's QR code as a PNG, read by ``CameraSource("file:...")``
    scanner  a pty: the demo writes ``OWT1:...\\r\\n`` on the master, ``ScannerSource`` reads the slave
    vending  a VMC (``sim.mdb_vmc``) on a pty master, ``MdbVendSession`` on the slave
    gate     ``LcusRelay`` on a pty whose master is a simulated LCUS board (``sim.lcus_board``)

The terminal gets ``sources`` (opened with ``drivers.sources.open_source``), ``relay`` (gate,
``open_actuator``) and ``vend`` (vending, ``open_vend_session``), the same objects ``pos run``
opens from ``[devices]``. The demo's keys call the actions below. ``close`` stops every simulator:
threads joined, fds closed, the UDP port unbound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.nfc.faults import Faults
from drivers.sources import open_actuator, open_source, open_vend_session
from pos.ports import Actuator, TokenSource
from pos.presentation import encode_text
from sim.demo.camera import PhoneScreenCamera
from sim.demo.phones import FIELD_S, PhoneStand, SharedWallet, free_udp_port
from sim.demo.vmc import DemoVendingMachine
from sim.lcus_board import LcusBoard
from sim.pty import RawPty
from sim.wallet import Wallet
from ui.runtime.devices import VendSession

log = logging.getLogger("pos.ui.demo.devices")

QR_MAX = 10_000  # what a phone's QR code authorises (minor units); the terminal charges its amount
PRODUCTS = (("A1", 11, 150), ("A2", 12, 220), ("B1", 21, 180), ("B2", 22, 130))  # name, MDB item, price


class ScannerPty:
    """A serial 2D scanner's USB-CDC port: the demo types on the master, the driver reads the slave."""

    def __init__(self) -> None:
        self._pty = RawPty(nonblocking_writes=True)  # a scanner nobody reads must not freeze the demo
        self.port = self._pty.port

    def scan(self, text: str) -> bool:
        try:
            self._pty.write(text.encode("ascii", "replace") + b"\r\n")
        except BlockingIOError:
            log.warning("scanner %s: nobody reads the port; scan dropped", self.port)
            return False
        return True

    def close(self) -> None:
        self._pty.close()


class DemoDevices:
    """Every simulated device of one demo terminal, and the customer's actions on them."""

    def __init__(
        self,
        base: Path,
        mode: str,
        wallets: list[Wallet],
        denied: Wallet,
        clock: Callable[[], int],
        *,
        field_s: float = FIELD_S,
        qr_max: int = QR_MAX,
    ) -> None:
        self.mode = mode
        self.wallets = wallets
        self.shared = [SharedWallet(w) for w in wallets]
        self.denied = SharedWallet(denied)
        self.clock = clock  # the customers' phones' clock
        self.qr_max = qr_max
        self.turn = -1
        self.last_qr: str | None = None
        self.sources: list[TokenSource] = []
        self.relay: Actuator | None = None
        self.vend: VendSession | None = None
        self.board: LcusBoard | None = None
        self.machine: DemoVendingMachine | None = None
        self._closers: list[Callable[[], Any]] = []
        try:
            self._start(base, field_s)
        except BaseException:
            self.close()
            raise

    def _start(self, base: Path, field_s: float) -> None:
        self.phones = PhoneStand(free_udp_port(), field_s=field_s)
        self._closers.append(self.phones.close)
        self.camera = PhoneScreenCamera(base / "camera")
        self._closers.append(self.camera.close)
        self.scanner = ScannerPty()
        self._closers.append(self.scanner.close)
        self.sources = [open_source(self.phones.url), self.camera]
        self.sources.append(open_source(self.scanner.port))
        self._closers.extend(s.close for s in self.sources)
        if self.mode == "gate":
            self.board = LcusBoard()
            self._closers.append(self.board.close)
            self.relay = open_actuator(self.board.port)
            self._closers.append(getattr(self.relay, "close", lambda: None))
        if self.mode == "vending":
            self.machine = DemoVendingMachine()
            self._closers.append(self.machine.close)
            session = open_vend_session(self.machine.port, vend_timeout=30.0)
            self._closers.append(session.close)
            self.vend = session
            self.machine.boot()

    # -- the customers -----------------------------------------------------------------------
    def _next(self) -> SharedWallet:
        self.turn = (self.turn + 1) % len(self.shared)
        return self.shared[self.turn]

    def _qr_of(self, wallet: SharedWallet) -> str:
        text = encode_text(wallet.token(max_amount=self.qr_max, now=self.clock()))
        self.last_qr = text
        return text

    def tap(self) -> None:
        """The next customer's phone enters the NFC field and pays what the reader asks."""
        self.phones.tap(self._next())

    def again(self) -> None:
        """The last customer taps again (at a gate: anti-passback)."""
        self.phones.tap(self.shared[max(self.turn, 0)])

    def pull_away(self) -> None:
        """The next customer's phone answers SELECT, then leaves the field mid-tap."""
        self.phones.tap(self._next(), Faults(vanish_after_select=True))

    def show_qr(self) -> None:
        """The next customer shows a QR code to the camera."""
        self.camera.show(self._qr_of(self._next()))

    def scan(self) -> bool:
        """The next customer's QR code, read by the serial scanner."""
        return self.scanner.scan(self._qr_of(self._next()))

    def double_spend(self) -> bool:
        """The last QR code shown, shown again; False when none was shown yet."""
        if self.last_qr is None:
            return False
        self.camera.show(self.last_qr)
        return True

    def blocked(self) -> None:
        """A wallet on the deny list shows its QR code."""
        self.camera.show(self._qr_of(self.denied))

    # -- the vending machine -----------------------------------------------------------------
    def select(self, index: int) -> bool:
        """Press product ``index``; False when there is no such product or a vend is running."""
        if self.machine is None or not 0 <= index < len(PRODUCTS):
            return False
        _name, item, price = PRODUCTS[index]
        return self.machine.select(item, price)

    def jam(self) -> bool:
        """The spiral jams on the vend in progress, or on the next one: VEND FAILURE after approval,
        the payment reversed. True when a vend was in progress."""
        return self.machine is not None and self.machine.jam()

    def close(self) -> None:
        """Stop every simulator, in reverse order of starting (idempotent)."""
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as exc:  # noqa: BLE001 - close the rest anyway
                log.warning("demo devices: closing failed: %s", exc)

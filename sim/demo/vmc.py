"""The demo's vending machine: a VMC on the master side of a pty, the terminal's MDB reader on the slave.

The terminal opens ``port`` with ``drivers.sources.open_vend_session`` (``MdbVendSession``, the
OWT-MDB/1 adapter protocol) exactly as it opens a USB MDB adapter; this side plays the adapter and
the machine's controller with ``sim.mdb_vmc.VmcSimulator``: boot (RESET, SETUP, READER
ENABLE), then for each selection one MDB session:

    BEGIN SESSION (from the reader) -> VEND REQUEST item/price -> VEND APPROVED | VEND DENIED
    approved: VEND SUCCESS, or VEND FAILURE when the spiral is jammed -> SESSION COMPLETE -> END SESSION

A SESSION CANCEL REQUEST from the reader (the customer never paid) ends the session the same way.
"""

from __future__ import annotations

import logging
import threading
import time

from drivers.mdb.cashless import BEGIN_SESSION, END_SESSION, VEND_APPROVED, VEND_DENIED
from drivers.mdb.cashless import SESSION_CANCEL_REQUEST as CANCEL_REQUEST
from sim.mdb_vmc import VmcSimulator
from sim.pty import RawPty

log = logging.getLogger("pos.ui.demo.vmc")

VEND_REQUEST, VEND_SUCCESS, VEND_FAILURE = b"\x13\x00", b"\x13\x02", b"\x13\x03"
SESSION_COMPLETE = b"\x13\x04"
DISPENSED, JAMMED, DENIED, CANCELLED = "dispensed", "jammed", "denied", "cancelled"


class DemoVendingMachine:
    """One machine; ``outcomes`` lists ``(outcome, item, price)`` for each finished session."""

    def __init__(self, *, max_price: int = 0x1000, session_s: float = 90.0) -> None:
        self._pty = RawPty()
        self.port = self._pty.port
        self.max_price = max_price
        self.session_s = session_s  # the longest a customer may take to pay
        self.vmc = VmcSimulator(self._pty.master)
        self.dispense_ok = True
        self.outcomes: list[tuple[str, int, int]] = []
        self._cond = threading.Condition()
        self._busy: threading.Thread | None = None
        self._closed = False

    def boot(self, timeout: float = 5.0) -> None:
        """RESET .. READER ENABLE; the terminal's reader must be open on ``port`` (TimeoutError)."""
        end = time.monotonic() + timeout
        while True:
            try:
                self.vmc.boot(max_price=self.max_price)
                return
            except TimeoutError:
                if time.monotonic() >= end:
                    raise TimeoutError(f"the MDB reader on {self.port} did not answer RESET") from None

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy is not None

    def select(self, item: int, price: int) -> bool:
        """The customer presses a product; False while the previous session still runs."""
        with self._cond:
            if self._busy is not None or self._closed:
                return False
            self._busy = threading.Thread(
                target=self._session, args=(item, price), name="demo vmc", daemon=True
            )
            self._busy.start()
            return True

    def wait_outcomes(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.outcomes) >= count, timeout)

    def _session(self, item: int, price: int) -> None:
        try:
            outcome = self._vend(item, price)
        except (TimeoutError, OSError) as exc:
            outcome = f"error: {exc}"
            log.warning("VMC session for item %d ended: %s", item, exc)
        with self._cond:
            self.outcomes.append((outcome, item, price))
            self._busy = None
            self._cond.notify_all()

    def jam(self) -> bool:
        """The spiral jams on the vend in progress, or on the next one (once). True: in progress."""
        with self._cond:
            self.dispense_ok = False
            return self._busy is not None

    def _vend(self, item: int, price: int) -> str:
        vmc = self.vmc
        self._poll((BEGIN_SESSION,), self.session_s)
        vmc.send(VEND_REQUEST + price.to_bytes(2, "big") + item.to_bytes(2, "big"))
        code = self._poll((VEND_APPROVED, VEND_DENIED, CANCEL_REQUEST), self.session_s)
        if code == VEND_APPROVED:
            with self._cond:  # read now, not at selection: ``j`` pressed while paying jams this vend
                dispense, self.dispense_ok = self.dispense_ok, True
            outcome = DISPENSED if dispense else JAMMED
            vmc.send(VEND_SUCCESS + item.to_bytes(2, "big") if dispense else VEND_FAILURE)
        else:
            outcome = DENIED if code == VEND_DENIED else CANCELLED
        vmc.send(SESSION_COMPLETE)
        self._poll((END_SESSION,), 5.0)
        return outcome

    def _poll(self, codes: tuple[int, ...], timeout: float) -> int:
        """POLL until one of ``codes`` answers (others are skipped); stops early when closed."""
        end = time.monotonic() + timeout
        while not self._closed:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                code = self.vmc.poll_any(min(0.2, left))[0]
            except TimeoutError:
                continue
            if code in codes:
                return code
        what = "the machine is switched off" if self._closed else f"no {codes} within {timeout:g} s"
        raise TimeoutError(what)

    def close(self) -> None:
        """Stop the VMC (a running session ends within 0.2 s) and close both pty fds."""
        with self._cond:
            self._closed = True
            busy = self._busy
        if busy is not None:
            busy.join(6.0)
        self.vmc.close()
        self._pty.close()

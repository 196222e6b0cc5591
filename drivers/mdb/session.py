"""``MdbVendSession``: the UI's ``VendSession`` on an MDB adapter (``drivers.mdb.adapter``).

A reader thread feeds the adapter's commands to ``CashlessDevice`` and sends the responses it
queues. ``wait_selection`` begins a session when the reader is Enabled (BEGIN SESSION with the
VMC's max price as funds, or ``funds``) and waits for the VMC's VEND REQUEST; ``approve`` answers
VEND APPROVED and waits for VEND SUCCESS (True) or VEND FAILURE / VEND CANCEL / RESET / timeout
(False); ``deny`` answers VEND DENIED; ``cancel`` asks the VMC to end the session.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from drivers.mdb.adapter import LineAdapter
from drivers.mdb.cashless import (
    CashlessDevice,
    Reset,
    SessionEnded,
    State,
    VendOutcome,
    VendRequested,
)
from pos.ports import DeviceHealth, VendRequest

log = logging.getLogger("drivers.mdb.session")


class MdbVendSession:
    def __init__(
        self,
        url: str,
        funds: int | None = None,
        vend_timeout: float = 60.0,
        device: CashlessDevice | None = None,
        **options: Any,
    ) -> None:
        self.url = url
        self.funds = funds
        self.vend_timeout = vend_timeout
        self.device = device or CashlessDevice()
        self._adapter = LineAdapter(url, **options)
        self._cond = threading.Condition()
        self._outcome: VendOutcome | None = None
        self._error = ""
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"mdb {url}", daemon=True)
        self._thread.start()

    # -- reader thread
    def _run(self) -> None:
        while not self._stop:
            try:
                command = self._adapter.read_command(0.1)
            except Exception as exc:  # noqa: BLE001 - any port failure: report it, stop reading
                with self._cond:
                    if not self._stop:
                        self._error = f"{type(exc).__name__}: {exc}"
                        log.error("MDB adapter %s failed: %s", self.url, exc)
                    self._cond.notify_all()
                return
            if command is None:
                continue
            with self._cond:
                try:
                    if isinstance(command, Reset):
                        self._adapter.clear()
                    events = self.device.handle(command)
                    self._flush()
                except Exception as exc:  # noqa: BLE001 - never let one command kill the reader
                    log.error("MDB command %r failed: %s", command, exc)
                    continue
                for event in events:
                    if isinstance(event, VendOutcome):
                        self._outcome = event
                    elif isinstance(event, SessionEnded) and self._outcome is None:
                        self._outcome = VendOutcome(False)
                self._cond.notify_all()

    def _flush(self) -> None:
        self._adapter.send(self.device.take_responses())

    # -- VendSession
    def wait_selection(self, timeout: float) -> VendRequest | None:
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                if self.device.state is State.ENABLED and self.device.begin_session(self.funds):
                    self._flush()
                request = self.device.request
                if self.device.state is State.VEND and request is not None and not self.device.answered:
                    return VendRequest(request.price, str(request.item))
                left = end - time.monotonic()
                if left <= 0:  # a failed port waits too: the screen's loop must not spin
                    return None
                self._cond.wait(left)

    def _pending(self, request: VendRequest) -> VendRequested | None:
        current = self.device.request
        if self.device.state is not State.VEND or current is None or self.device.answered:
            log.warning("MDB: no vend request pending for %r (state %s)", request, self.device.state.value)
            return None
        return current

    def approve(self, request: VendRequest, seq: int) -> bool:
        with self._cond:
            if self._pending(request) is None:
                return False
            self._outcome = None
            self.device.approve()
            self._flush()
            log.info("MDB vend approved: item %s price %d (payment %d)", request.item, request.price, seq)
            end = time.monotonic() + self.vend_timeout
            while self._outcome is None:
                left = end - time.monotonic()
                if left <= 0 or self._error:
                    log.error("MDB: no VEND SUCCESS/FAILURE for payment %d", seq)
                    return False
                self._cond.wait(left)
            outcome, self._outcome = self._outcome, None
            log.info("MDB vend %s (payment %d)", "success" if outcome.success else "failure", seq)
            return outcome.success

    def deny(self, request: VendRequest) -> None:
        with self._cond:
            if self._pending(request) is not None and self.device.deny():
                self._flush()

    def cancel(self) -> None:
        with self._cond:
            if self.device.cancel_session():
                self._flush()

    def health(self) -> DeviceHealth:
        with self._cond:
            if self._error:
                return DeviceHealth("vend", False, f"{self.url}: {self._error}", last_error=self._error)
            if not self._thread.is_alive():
                return DeviceHealth("vend", False, "closed")
            state = self.device.state
            return DeviceHealth("vend", state is not State.INACTIVE, state.value)

    def close(self) -> None:
        self._stop = True
        self._thread.join(1.0)
        with contextlib.suppress(Exception):
            self._adapter.close()

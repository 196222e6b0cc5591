"""A device ``pos run`` needs that may be missing at start or fail later (the gate relay, the
vending machine's MDB link): its health is ``unavailable`` with the port and the reason, and a
thread opens it again with backoff, so an unplugged board is never a traceback and a restart loop
under systemd, and the terminal works again once the board is back.

The wrapper is the device to everyone above it (``Actuator`` / ``VendSession`` and ``HasHealth``):
while the device is down, ``open`` raises and ``wait_selection`` finds no selection, which is
what makes a gate or a vending machine take no payment (``ui.runtime.readiness``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from pos.ports import DeviceHealth, HasHealth, VendRequest

log = logging.getLogger("pos.run")

T = TypeVar("T")
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # a missing board costs one open() per step at most


class DeviceDown(OSError):
    """The device is unavailable right now (missing, failed); the reason is in ``health()``."""


def failed(health: DeviceHealth) -> bool:
    """The device's link broke (not merely idle): it must be closed and opened again.

    Drivers say so with ``last_error`` on an unhealthy state; a vending machine that has not
    enabled its reader yet is unhealthy without an error and is left alone."""
    return not health.ok and health.state != "closed" and bool(health.last_error)


class Reopening(Generic[T]):
    def __init__(
        self,
        role: str,
        url: str,
        opener: Callable[[str], T],
        backoff: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self.role, self.url = role, url
        self._opener = opener
        self._backoff = backoff
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._device: T | None = None
        self._error = "not opened yet"
        self._step = 0
        self._since = time.time()
        self._reconnects = 0
        self._thread: threading.Thread | None = None
        self._try_open()
        if self._device is None:
            self._start_retrying()

    # -- opening ---------------------------------------------------------------------------------
    def _try_open(self) -> bool:
        try:
            device = self._opener(self.url)
        except ValueError:
            raise  # a URL no driver takes is a configuration error, not a missing device
        except Exception as exc:  # noqa: BLE001 - any driver failure: unavailable, retried
            self._down(f"{type(exc).__name__}: {exc}")
            return False
        with self._lock:
            if self._closed:
                _close(device)
                return False
            self._device, self._step = device, 0
            self._since = time.time()
        log.info("device opened", extra={"fields": {"event": "device", "device": self.role, "url": self.url,
                                                      "state": "ok"}})  # fmt: skip
        return True

    def _down(self, error: str) -> None:
        with self._lock:
            changed = error != self._error or self._device is not None
            self._error, self._device = error, None
            if changed:
                self._since = time.time()
        if changed:
            fields = {"event": "device", "device": self.role, "url": self.url, "state": "unavailable",
                      "error": error, "retry_in_s": self._delay()}  # fmt: skip
            log.error("device unavailable", extra={"fields": fields})

    def _delay(self) -> float:
        return self._backoff[min(self._step, len(self._backoff) - 1)]

    def _start_retrying(self) -> None:
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._retry, name=f"reopen {self.role}", daemon=True)
            self._thread.start()

    def _retry(self) -> None:
        while True:
            if self._wake.wait(self._delay()) or self._closed:
                return
            self._step += 1
            if self._try_open():
                self._reconnects += 1
                return

    # -- use -------------------------------------------------------------------------------------
    def device(self) -> T | None:
        """The open device, or None while it is unavailable (a failed link is closed here and
        retried in the background)."""
        with self._lock:
            device = self._device
        if device is None:
            return None
        if isinstance(device, HasHealth):
            health = device.health()
            if failed(health):
                _close(device)
                self._down(health.last_error or health.detail)
                self._start_retrying()
                return None
        return device

    def need(self) -> T:
        device = self.device()
        if device is None:
            raise DeviceDown(f"{self.role} {self.url} unavailable: {self._error}")
        return device

    def health(self) -> DeviceHealth:
        device = self.device()
        name = f"{self.role} {self.url}"
        if device is not None:
            inner = device.health() if isinstance(device, HasHealth) else DeviceHealth(name, True)
            return DeviceHealth(name, inner.ok, inner.detail, inner.state, inner.last_error,
                                since=self._since, reconnects=self._reconnects)  # fmt: skip
        if self._closed:
            return DeviceHealth(name, False, "closed")
        return DeviceHealth(name, False, f"{self.url}: {self._error}", "unavailable", self._error,
                            self._delay(), self._since, self._reconnects)  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._closed = True
            device, self._device = self._device, None
        self._wake.set()
        if device is not None:
            _close(device)


def _close(device: object) -> None:
    close = getattr(device, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


class ReopeningRelay(Reopening[object]):
    """The gate relay (``pos.ports.Actuator``): ``open`` raises ``DeviceDown`` while unavailable."""

    def open(self, seconds: float) -> None:
        self.need().open(seconds)  # type: ignore[attr-defined]


class ReopeningVend(Reopening[object]):
    """The vending machine (``VendSession``): no selection while the MDB link is down."""

    def wait_selection(self, timeout: float) -> VendRequest | None:
        session = self.device()
        if session is None:
            self._wake.wait(timeout)  # set only by close: otherwise a plain wait, the screen never spins
            return None
        result: VendRequest | None = session.wait_selection(timeout)  # type: ignore[attr-defined]
        return result

    def approve(self, request: VendRequest, seq: int) -> bool:
        """False (not dispensed: the screen reverses the payment) when the link went down."""
        session = self.device()
        if session is None:
            return False
        ok: bool = session.approve(request, seq)  # type: ignore[attr-defined]
        return ok

    def deny(self, request: VendRequest) -> None:
        session = self.device()
        if session is not None:
            session.deny(request)  # type: ignore[attr-defined]

    def cancel(self) -> None:
        session = self.device()
        if session is not None:
            session.cancel()  # type: ignore[attr-defined]

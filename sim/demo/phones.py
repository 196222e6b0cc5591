"""The demo's phones at the NFC reader: wallet emulators taking turns on one nfcpy ``udp:`` port.

The terminal's reader is the real ``drivers.nfc.reader.NfcSource`` on ``udp:127.0.0.1:PORT``; a
phone entering its field is a ``sim.nfc_wallet.WalletEmulator`` listening on that port as
an ISO 14443-4 card. The reader sends the payment request (amount, currency, challenge, terminal
id, time) in GENERATE TOKEN; the emulator signs exactly that. One phone is in the field at a time
(one emulator binds the port): taps queue and are served in order, each for at most ``field_s``
seconds, after which the customer gives up and lowers the phone.

nfcpy's ``listen`` cannot be interrupted, so a phone listens in slices of ``SLICE_S``: ``close``
returns within a slice, and the port is free once it has.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from drivers.nfc.faults import Faults
from sim.nfc_wallet import IGNORED, WalletEmulator
from sim.wallet import Wallet

log = logging.getLogger("pos.ui.demo.phones")

SLICE_S = 0.5  # nfcpy listens at least 0.5 s per call
FIELD_S = 30.0  # a phone held to the reader waits this long to be read


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody holds right now (nfcpy's emulator binds 0.0.0.0:PORT, so test that)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))  # noqa: S104 - probing the address nfcpy's listen binds (it is fixed there)
        return int(s.getsockname()[1])


class SharedWallet:
    """A wallet used from two threads (the phone's emulator, the demo's QR keys): one counter."""

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet
        self._lock = threading.Lock()

    @property
    def wallet_id(self) -> bytes:
        return self.wallet.wallet_id

    @property
    def currency(self) -> str:
        return self.wallet.currency

    @property
    def counter(self) -> int:
        with self._lock:
            return self.wallet.counter

    def token(self, **kw: Any) -> bytes:
        with self._lock:
            return self.wallet.token(**kw)


@dataclass(frozen=True)
class Tap:
    wallet: SharedWallet
    faults: Faults
    field_s: float


class PhoneStand:
    """Phones queued at one NFC ``udp:`` port; ``events`` lists what the emulators reported."""

    def __init__(self, port: int, *, field_s: float = FIELD_S, host: str = "127.0.0.1") -> None:
        self.port = port
        self.url = f"udp:{host}:{port}"
        self.field_s = field_s
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._events_lock = threading.Condition()
        self._taps: queue.Queue[Tap | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"demo phones {self.url}", daemon=True)
        self._thread.start()

    def tap(self, wallet: SharedWallet, faults: Faults | None = None) -> None:
        """The phone of ``wallet`` enters the field (after the phones before it)."""
        if self._stop.is_set():
            raise RuntimeError("the phone stand is closed")
        self._taps.put(Tap(wallet, faults or Faults(), self.field_s))

    def waiting(self) -> int:
        return self._taps.qsize()

    def wait_event(self, name: str, count: int = 1, timeout: float = 10.0) -> bool:
        with self._events_lock:
            return self._events_lock.wait_for(
                lambda: sum(1 for n, _kw in self.events if n == name) >= count, timeout
            )

    def _note(self, event: str, **kw: Any) -> None:
        with self._events_lock:
            self.events.append((event, kw))
            self._events_lock.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            tap = self._taps.get()
            if tap is None:
                return
            try:
                self._serve(tap)
            except Exception as exc:  # noqa: BLE001 - one broken phone must not end the demo
                log.error("phone at %s failed: %s", self.url, exc)
                self._note("error", detail=f"{type(exc).__name__}: {exc}")

    def _serve(self, tap: Tap) -> None:
        on_event: Callable[..., None] = self._note
        wallet = cast(Wallet, tap.wallet)  # the emulator uses wallet_id, currency, counter, token()
        phone = WalletEmulator(wallet, self.url, tap.faults, idle_timeout=2.0, on_event=on_event)
        phone.open()
        try:
            self._note("in_field", wallet=tap.wallet.wallet_id.hex())
            end = time.monotonic() + tap.field_s
            while not self._stop.is_set():
                left = end - time.monotonic()
                if left <= 0:
                    self._note("gave_up", wallet=tap.wallet.wallet_id.hex())
                    return
                started = time.monotonic()
                ended = phone.serve_one(min(SLICE_S, left))
                if ended not in (None, IGNORED):
                    return
                if ended is None and time.monotonic() - started < 0.1:  # the port is held by another
                    self._stop.wait(0.2)
        finally:
            phone.close()  # unbinds the port
            self._note("left_field", wallet=tap.wallet.wallet_id.hex())

    def close(self) -> None:
        """Lower every phone and stop; returns once the port is unbound."""
        self._stop.set()
        while True:
            try:
                self._taps.get_nowait()
            except queue.Empty:
                break
        self._taps.put(None)
        self._thread.join(SLICE_S + 5.0)

"""The demo's devices and network in-process: for pilot tests and benchmarks that need speed.

``sim.demo.interactive.build(..., devices=InProcessDevices, network=InProcessNetwork)`` runs the same App and
the same keys as ``pos demo``, without ports, emulators or a collector: tokens are fed to
``QueueSource``s (an NFC tap signs the request the terminal is asking right now), the gate relay
records its openings, the vending machine is a queue, and the network switch acknowledges
pending rows itself. ``pos demo`` uses ``sim.demo.devices`` and ``sim.demo.network`` instead.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pos.decision import Decision, PaymentRequest
from pos.errors import PosError
from pos.ports import CARD_REMOVED, Presentation, VendRequest
from pos.presentation import encode_text
from pos.terminal import Terminal
from sim.demo.devices import PRODUCTS, QR_MAX
from sim.wallet import Wallet
from ui.runtime.context import wall_clock
from ui.runtime.devices import QueueSource, RecordingRelay, SyncStatus


class InProcessDevices:
    """The customers' actions on in-process queue sources (``sim:nfc``, ``sim:qr``)."""

    def __init__(
        self, _base: Path, mode: str, wallets: list[Wallet], denied: Wallet, clock: Callable[[], int]
    ) -> None:
        self.nfc, self.qr = QueueSource("sim:nfc"), QueueSource("sim:qr")
        self.sources = [self.nfc, self.qr]
        self.recorder = RecordingRelay() if mode == "gate" else None
        self.relay = self.recorder
        self.machine = SimVendingMachine() if mode == "vending" else None
        self.vend = self.machine
        self.wallets, self.denied, self.clock = wallets, denied, clock
        self.turn = -1
        self.last_qr: str | None = None

    def _next(self) -> Wallet:
        self.turn = (self.turn + 1) % len(self.wallets)
        return self.wallets[self.turn]

    def _tap_by(self, wallet: Wallet) -> None:
        def make(request: PaymentRequest) -> Presentation:
            token = wallet.token(
                amount=request.amount, challenge=request.challenge, terminal_id=request.terminal_id,
                now=self.clock(),
            )  # fmt: skip
            return Presentation("bytes", token, self.nfc.url)

        self.nfc.feed(make)

    def _show_by(self, wallet: Wallet) -> None:
        self.last_qr = encode_text(wallet.token(max_amount=QR_MAX, now=self.clock()))
        self.qr.feed_text(self.last_qr)

    def tap(self) -> None:
        self._tap_by(self._next())

    def again(self) -> None:
        self._tap_by(self.wallets[max(self.turn, 0)])

    def pull_away(self) -> None:
        self.nfc.fail(CARD_REMOVED, "demo: phone moved away")

    def show_qr(self) -> None:
        self._show_by(self._next())

    def scan(self) -> bool:
        self._show_by(self._next())
        return True

    def double_spend(self) -> bool:
        if self.last_qr is None:
            return False
        self.qr.feed_text(self.last_qr)
        return True

    def blocked(self) -> None:
        self._show_by(self.denied)

    def select(self, index: int) -> bool:
        if self.machine is None or not 0 <= index < len(PRODUCTS):
            return False
        name, _item, price = PRODUCTS[index]
        self.machine.select(name, price)
        return True

    def jam(self) -> bool:
        if self.machine is None:
            return False
        self.machine.dispense_ok = False  # once: the vend in progress, or the next one
        return True

    def close(self) -> None:
        for source in self.sources:
            source.close()


@dataclass
class InProcessNetwork:
    """A network switch with a pretend collector: online, ``pump`` acknowledges every pending row."""

    online: bool = False
    last_upload: int | None = None
    clock: Callable[[], int] = wall_clock

    def toggle(self) -> bool:
        self.online = not self.online
        return self.online

    def probe(self) -> SyncStatus | None:
        return SyncStatus(True, self.last_upload) if self.online else None

    def on_sale(self) -> None:
        pass

    def pump(self, terminal: Terminal) -> None:
        """On the core thread, once per status tick."""
        if not self.online:
            return
        pending = [r["seq"] for r in terminal.journal.rows() if r["state"] == "pending"]
        if pending:
            terminal.journal.acknowledge(pending)
            self.last_upload = self.clock()

    def events(self) -> list[str]:
        return []

    def spend_elsewhere(self, token_text: str, amount: int) -> Decision:
        raise PosError("the in-process demo has no second shop (pos demo runs one)")

    def console_lines(self) -> list[str]:
        return []  # no collector, so no console

    def close(self) -> None:
        pass


def in_process_network(*_where: Any, clock: Callable[[], int] = wall_clock) -> InProcessNetwork:
    """``build``'s network factory for the in-process demo (base, scheme, data dir, keys, id)."""
    return InProcessNetwork(clock=clock)


@dataclass
class SimVendingMachine:
    """A vending machine with a selection queue; ``dispense_ok`` False simulates a jammed spiral."""

    dispense_ok: bool = True
    events: list[tuple[str, str, int]] = field(default_factory=list)
    _q: queue.Queue[VendRequest] = field(default_factory=queue.Queue)

    def select(self, item: str, price: int) -> None:
        self._q.put(VendRequest(price, item))

    def wait_selection(self, timeout: float) -> VendRequest | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def approve(self, request: VendRequest, seq: int) -> bool:
        dispensed, self.dispense_ok = self.dispense_ok, True  # a jam spoils one vend
        self.events.append(("approved" if dispensed else "vend_failed", request.item, seq))
        return dispensed

    def deny(self, request: VendRequest) -> None:
        self.events.append(("denied", request.item, 0))

    def cancel(self) -> None:
        self.events.append(("cancelled", "", 0))

"""The App of ``pos demo``: the mode screens plus the simulated customers' keys (``sim.demo.interactive``).

App-level bindings, so a screen's own keys (digits on the counter, Esc, F-keys) come first. The
network's events (uploads, the collector flagging a double spend, a deny list arriving) are shown
as notifications once a second; the gate's simulated relay board reports each switch.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from pos.errors import PosError
from sim.demo.devices import PRODUCTS
from ui.runtime.context import UiContext
from ui.tui.app import PosApp
from ui.tui.screens.listening import Decided
from ui.tui.screens.result import ResultScreen

NEWS_EVERY_S = 1.0  # how often the network's events are shown
NEWS_TIMEOUT_S = 8.0


class DemoApp(PosApp):
    """The App with the demo's simulator keys (app-level: the screens' own keys come first)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "demo('tap')", show=False),
        Binding("q", "demo('show_qr')", show=False),
        Binding("s", "demo('scan')", show=False),
        Binding("a", "demo('again')", show=False),
        Binding("d", "demo('double_spend')", show=False),
        Binding("x", "demo('pull_away')", show=False),
        Binding("m", "demo('blocked')", show=False),
        Binding("n", "demo('toggle_network')", show=False),
        Binding("e", "elsewhere", show=False),
        Binding("j", "demo('jam')", show=False),
        *[Binding(str(i + 1), f"select({i})", show=False) for i in range(len(PRODUCTS))],
    ]

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        board = getattr(ctx.extra_keys.devices, "board", None) if ctx.extra_keys is not None else None
        if board is not None:
            board.on_switch = self._gate_switched  # the simulated relay board, on screen

    def _gate_switched(self, channel: int, on: bool) -> None:
        """From the board's thread (``notify`` is thread-safe)."""
        self.notify(f"relay board: channel {channel} {'ON, gate open' if on else 'off, gate closed'}")

    async def on_mount(self) -> None:
        # Textual runs each class's on_mount: PosApp's own runs after this one, not instead of it.
        self.set_interval(NEWS_EVERY_S, self._news)

    def show_result(
        self, level: str, verdict: str, code: str | None, amount: int | None, decided: float = 0.0
    ) -> None:
        self.clear_notifications()  # a notice must never cover APPROVED or DECLINED
        super().show_result(level, verdict, code, amount, decided)

    def _news(self) -> bool:
        """Show what the network did since the last look (any thread); False when nothing. Held
        while a result is up, so a notice never covers it; shown once the result is gone."""
        if not self.screen_stack:  # the app is shutting down: this timer may tick once more
            return False
        if isinstance(self.screen, ResultScreen):
            return False
        demo = self.ctx.extra_keys
        lines = demo.network.events() if demo is not None else []
        for line in lines:
            self.notify(line, timeout=NEWS_TIMEOUT_S)
        return bool(lines)

    def action_demo(self, what: str) -> None:
        demo = self.ctx.extra_keys
        if demo is None:
            return
        try:
            result = getattr(demo, what)()
        except (PosError, OSError) as exc:
            self.notify(f"demo: {exc}", severity="warning")
            return
        if what == "double_spend" and result is False:
            self.notify("Show a QR code first (q), then present it again (d).", severity="warning")
        elif what == "toggle_network":
            if not self._news():
                self.notify("network: online" if result else "network: offline")
            self._tick()
        elif what == "jam":
            self.notify(
                "vending machine: the spiral jams on the vend in progress, or the next one "
                "(paid, not delivered: the payment is reversed)"
            )
        elif what == "scan" and result is False:
            self.notify("The scanner's port is full: nobody is reading it.", severity="warning")

    def action_elsewhere(self) -> None:
        """The last QR code, spent again at the second shop (DEMO-SHOP-2): a double spend that
        only the collector can see, once both terminals have uploaded."""
        demo = self.ctx.extra_keys
        if demo is None:
            return
        if demo.last_qr is None:
            self.notify("Show a QR code first (q), then take it to the other shop (e).", severity="warning")
            return
        if demo.paid_qr is None or demo.paid_qr != demo.last_qr:
            why = (
                "The last QR code was not paid here: e takes a code this terminal approved to the other shop."
            )
            self.notify(f"{why} Charge an amount and show a QR code (q) first.", severity="warning")
            return
        self.run_worker(self._spend_elsewhere, thread=True, group="demo-elsewhere", exit_on_error=False)

    def _spend_elsewhere(self) -> None:
        demo = self.ctx.extra_keys
        assert demo is not None
        try:
            demo.spend_elsewhere()
        except (PosError, OSError) as exc:
            self.notify(f"second shop: {exc}", severity="warning")
            return
        self._news()

    def on_decided(self, message: Decided) -> None:
        """Bubbled up from the counter or the vending screen: which QR code was paid here."""
        demo = self.ctx.extra_keys
        decision = message.attempt.decision
        if demo is not None:
            demo.decided(message.attempt.source, decision is not None and decision.approved)

    def action_select(self, index: int) -> None:
        demo = self.ctx.extra_keys
        if demo is not None and self.ctx.settings.mode == "vending" and not demo.select(index):
            self.notify("The machine is still busy with the last selection.", severity="warning")

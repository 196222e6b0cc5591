"""The vending machine: the machine owns the price; a compact screen for small displays.

Idle, a worker waits for the machine's selection (``VendSession.wait_selection``). A selection
starts a payment round at the machine's price; an approved (committed) payment is answered with
VEND APPROVED, a decline with VEND DENIED. When the machine then fails to dispense, the payment
is voided through the injected ``void(seq)`` and the customer is told they were not charged.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Label
from textual.worker import get_current_worker

from pos.decision import Decision
from pos.errors import PosError
from pos.ports import VendRequest
from ui.i18n import N_, _
from ui.runtime.acceptance import Attempt
from ui.runtime.receipt_printing import print_in_background
from ui.tui.screens.base import key_hints, out_of_service_text, redraw
from ui.tui.screens.listening import Decided, ListeningScreen, SourceNote
from ui.tui.widgets.money import MoneyDisplay
from ui.tui.widgets.result_banner import APPROVED, DECLINED, NOTICE, ResultBanner
from ui.tui.widgets.status_bar import StatusBar

IDLE, PAYING, VENDING, SHOWING = "idle", "paying", "vending", "showing"
VEND_FAILED = "vend_failed"  # approved, not dispensed, voided: not charged
VEND_FAILED_CHARGED = "vend_failed_charged"  # approved, not dispensed, the void failed
HINTS = (("Esc", N_("Cancel")),)


class Selected(Message):
    def __init__(self, request: VendRequest) -> None:
        super().__init__()
        self.request = request


class Vended(Message):
    def __init__(self, attempt: Attempt, code: str | None) -> None:
        super().__init__()
        self.attempt = attempt
        self.code = code


class VendingScreen(ListeningScreen):
    accepts_scans = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", show=False),
        ("f3", "history"),
        ("f4", "settings"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="mode-screen vending compact")
        self.state = IDLE
        self.selection: VendRequest | None = None
        self.shown: tuple[str, str, str | None, int | None] | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="vend-body", classes="centred"):
            yield Label(self._prompt(), id="vend-prompt", markup=False)
            yield MoneyDisplay(
                self.selection.price if self.selection else 0, self.ctx.currency, id="vend-price"
            )
            yield ResultBanner(self.ctx.currency, audience="customer", id="vend-result")
        yield key_hints(HINTS, self.extra_hints)

    def _prompt(self) -> str:
        if self.state == PAYING:
            return _("Tap the phone or show the QR code")
        if self.state == VENDING:
            return _("Approved: your product is coming")
        extra = self.ctx.extra_keys
        menu = extra.menu("vending", self.ctx.currency) if extra is not None else ""
        prompt = _("Select a product") + (f"\n{menu}" if menu else "")
        return out_of_service_text(self.pos_app.status) or prompt

    def on_mount(self) -> None:
        self._to_idle()
        self.watch(self.app, "status", lambda _s: self._show() if self.state == IDLE else None, init=False)

    def relabel(self) -> None:
        self._show()
        if self.shown is not None:
            self._banner(*self.shown)

    @redraw
    def _show(self) -> None:
        self.set_class(self.state in (PAYING, VENDING), "-paying")
        self.query_one("#vend-prompt", Label).update(self._prompt())
        self.query_one("#vend-price", MoneyDisplay).show(self.selection.price if self.selection else 0)

    # -- the machine's selection --------------------------------------------------------------
    def _to_idle(self) -> None:
        self.state = IDLE
        self.selection = None
        self.shown = None
        self.remove_class(f"-{APPROVED}", f"-{DECLINED}", f"-{NOTICE}", "-showing")
        self._show()
        if self.ctx.vend is not None:
            self._wait_selection()

    @work(thread=True, exclusive=True, group="vend-select", exit_on_error=False)
    def _wait_selection(self) -> None:
        vend = self.ctx.vend
        assert vend is not None
        worker = get_current_worker()
        while not worker.is_cancelled and self.is_attached:
            request = vend.wait_selection(self.ctx.settings.read_slice_s)
            if request is not None:
                self.post_message(Selected(request))
                return

    def on_selected(self, message: Selected) -> None:
        if self.state != IDLE:
            return
        self.selection = message.request
        self.state = PAYING
        rnd = self.start_round(message.request.price)
        self._show()
        self._timer = self.set_timer(self.ctx.settings.session_s, lambda: self._give_up(rnd.number))

    def _give_up(self, round_no: int) -> None:
        if self.state == PAYING and self.current(round_no):
            self.stop_round()
            self._answer(self.selection, None, None)
            self._result(NOTICE, N_("NOT CHARGED"), "source_timeout", None)

    def action_cancel(self) -> None:
        if self.state == PAYING:
            self.stop_round()
            self._answer(self.selection, None, None)
            self._to_idle()

    def scanned(self, data: bytes) -> None:
        if self.state == PAYING and self.ctx.wedge_source is not None:
            self.ctx.wedge_source.feed_text(data)

    # -- the payment and the vend -------------------------------------------------------------
    def on_source_note(self, note: SourceNote) -> None:
        if self.state == PAYING and self.current(note.round_no):
            self._result(NOTICE, N_("Try again"), note.outcome, None, back_to_paying=True)

    def on_decided(self, message: Decided) -> None:
        if self.state != PAYING or not self.current(message.round_no):
            return
        if self._timer is not None:
            self._timer.stop()
        decision = message.attempt.decision
        if decision is not None and decision.approved:
            self.state = VENDING
            self._show()
        self._answer(self.selection, message.attempt, decision)

    @work(thread=True, group="vend-answer", exit_on_error=False)
    def _answer(
        self, request: VendRequest | None, attempt: Attempt | None, decision: Decision | None
    ) -> None:
        """VEND APPROVED / DENIED / session end, on the machine's (blocking) link."""
        vend = self.ctx.vend
        if vend is None or request is None:
            return
        if attempt is None or decision is None:
            vend.cancel()
            return
        if not decision.approved:
            vend.deny(request)
            self.post_message(Vended(attempt, decision.reason))
            return
        assert decision.seq is not None
        if vend.approve(request, decision.seq):
            self.post_message(Vended(attempt, None))
            return
        self.post_message(Vended(attempt, self._void_failed_vend(decision)))

    def _void_failed_vend(self, decision: Decision) -> str:
        """The machine did not dispense after a committed payment: reverse it (worker thread)."""
        ctx = self.ctx
        seq = decision.seq
        assert seq is not None  # approved decisions carry their journal seq
        if ctx.void is None:
            ctx.audit.record("vend_void", ok=False, seq=seq, amount=decision.amount, error="no void function")
            return VEND_FAILED_CHARGED
        try:
            reversal = ctx.core.call(ctx.void, seq, VEND_FAILED)
        except (KeyError, ValueError, PosError) as exc:
            ctx.audit.record("vend_void", ok=False, seq=seq, amount=decision.amount, error=str(exc))
            return VEND_FAILED_CHARGED
        ctx.audit.record("vend_void", seq=seq, amount=decision.amount, reversal_seq=reversal)
        return VEND_FAILED

    def on_vended(self, message: Vended) -> None:
        decision = message.attempt.decision
        amount = decision.amount if decision is not None else None
        if message.code is None:
            self._result(APPROVED, N_("Thank you"), None, amount)
            # only once the product came out: a failed vend is reversed and gets no receipt
            print_in_background(self, decision.seq if decision is not None else None)
        elif message.code in (VEND_FAILED, VEND_FAILED_CHARGED):
            self._result(NOTICE, N_("Not delivered"), message.code, amount)
        else:
            self._result(DECLINED, N_("DECLINED"), message.code, amount)
        self.run_worker(self.pos_app.refresh_status(), exclusive=True, group="status")

    def _result(
        self, level: str, verdict: str, code: str | None, amount: int | None, *, back_to_paying: bool = False
    ) -> None:
        if not back_to_paying:
            self.state = SHOWING
            self._show()
        self._banner(level, verdict, code, amount)
        if not back_to_paying:
            self.set_timer(self.ctx.settings.result_s, self._to_idle)

    @redraw
    def _banner(self, level: str, verdict: str, code: str | None, amount: int | None) -> None:
        self.shown = (level, verdict, code, amount)
        for lv in (APPROVED, DECLINED, NOTICE):
            self.set_class(lv == level, f"-{lv}")
        self.add_class("-showing")
        self.query_one(ResultBanner).show(level, _(verdict), code, amount)

    def action_history(self) -> None:
        if self.state == IDLE:
            self.pos_app.action_history()

    def action_settings(self) -> None:
        if self.state == IDLE:
            self.pos_app.action_settings()

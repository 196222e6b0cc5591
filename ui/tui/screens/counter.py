"""The cashier's counter: amount on a keypad, then "tap or show QR" while every source listens,
then the large result. Void of the last payment and the settings sit behind the operator PIN.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from ui.i18n import N_, _, action_text, reason_text
from ui.i18n.money import AmountEntry, format_money
from ui.runtime.acceptance import Attempt
from ui.runtime.receipt_printing import print_in_background
from ui.tui.screens.base import hints_text, key_hints, redraw
from ui.tui.screens.listening import Decided, ListeningScreen, SourceNote
from ui.tui.widgets.keypad import BACKSPACE, CLEAR, OK, Keypad
from ui.tui.widgets.money import MoneyDisplay
from ui.tui.widgets.status_bar import StatusBar

ENTRY, WAITING = "entry", "waiting"
AFTER_RESULT_S = 0.1
ENTRY_HINTS = (
    ("0-9", N_("Amount")),
    ("Enter", N_("Charge")),
    ("Esc", N_("Clear")),
    ("F3", N_("History")),
    ("F4", N_("Settings")),
    ("F5", N_("Void last")),
)
WAITING_HINTS = (("Esc", N_("Cancel")),)


class CounterScreen(ListeningScreen):
    accepts_scans = True
    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(d, f"digit('{d}')", show=False) for d in "0123456789"],
        Binding("backspace", "backspace", show=False),
        Binding("delete", "clear", show=False),
        Binding("enter", "charge", show=False),
        Binding("escape", "cancel", show=False),
        Binding("f3", "history", show=False),
        Binding("f4", "settings", show=False),
        Binding("f5", "void", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(classes="mode-screen counter")
        self.state = ENTRY
        self.entry = AmountEntry("EUR")
        self.notice = ""
        self.charging = 0
        self.kept = False  # the amount a decline left: Enter retries it, a digit starts a new one

    def on_mount(self) -> None:
        self.entry.currency = self.ctx.currency
        self.entry.max_digits = min(self.entry.max_digits, len(str(self.ctx.policy.offline_total_max)))
        self._show()

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="counter-body"):
            with Vertical(id="entry-panel"):
                yield Label(_("Amount"), classes="caption")
                yield MoneyDisplay(self._shown_amount(), self.ctx.currency, id="amount")
                yield Label(self._prompt(), id="prompt", markup=False)
                yield Label(self.notice, id="notice", markup=False)
            yield Keypad(_("Charge"), id="keypad")
        yield key_hints(self._hints(), self.extra_hints)

    # -- display ------------------------------------------------------------------------------
    def _shown_amount(self) -> int:
        return self.charging if self.state == WAITING else self.entry.minor

    def _prompt(self) -> str:
        if self.state == WAITING:
            return _("Tap the phone or show the QR code")
        return _("Enter the amount, then Charge")

    def _hints(self) -> tuple[tuple[str, str], ...]:
        return WAITING_HINTS if self.state == WAITING else ENTRY_HINTS

    @redraw
    def _show(self) -> None:
        self.set_class(self.state == WAITING, "-waiting")
        self.query_one("#amount", MoneyDisplay).show(self._shown_amount())
        self.query_one("#prompt", Label).update(self._prompt())
        self.query_one("#notice", Label).update(self.notice)
        self.query_one("#hints", Label).update(hints_text(self._hints(), self.extra_hints))

    def _say(self, notice: str) -> None:
        self.notice = notice
        self._show()

    # -- keypad -------------------------------------------------------------------------------
    def on_keypad_pressed(self, event: Keypad.Pressed) -> None:
        actions = {BACKSPACE: self.action_backspace, CLEAR: self.action_cancel, OK: self.action_charge}
        if event.key in actions:
            actions[event.key]()
        else:
            self.action_digit(event.key)

    def action_digit(self, digit: str) -> None:
        if self.state == ENTRY and self.kept:
            self.entry.clear()  # 8.00 declined, then 3 2 0 is 3.20, not 8,003.20
        self.kept = False
        if self.state == ENTRY and self.entry.push(digit):
            self._say("")

    def action_backspace(self) -> None:
        if self.state == ENTRY:
            self.kept = False
            self.entry.backspace()
            self._say("")

    def action_clear(self) -> None:
        if self.state == ENTRY:
            self.entry.clear()
            self._say("")

    def action_cancel(self) -> None:
        if self.state == WAITING:
            self.stop_round()
            self.state = ENTRY
            self._say(_("Cancelled: nothing was charged."))
        else:
            self.action_clear()

    # -- a payment ----------------------------------------------------------------------------
    def action_charge(self) -> None:
        if self.state != ENTRY:
            return
        if self.entry.minor <= 0:
            self._say(_("Enter the amount first."))
            return
        if not self.ctx.all_sources:
            self._say(_("No reader is configured: check the devices section of the configuration."))
            return
        self.charging = self.entry.minor
        self.kept = False
        self.state = WAITING
        self.notice = ""
        rnd = self.start_round(self.charging)
        self._show()
        self.set_timer(self.ctx.settings.wait_s, lambda: self._give_up(rnd.number))

    def scanned(self, data: bytes) -> None:
        """A keyboard-wedge token: while waiting it is one more source; on entry it charges."""
        wedge = self.ctx.wedge_source
        if wedge is None:
            return
        if self.state == ENTRY:
            if self.entry.minor <= 0:
                self._say(_("Enter the amount first, then scan."))
                return
            wedge.feed_text(data)
            self.action_charge()
        else:
            wedge.feed_text(data)

    def _give_up(self, round_no: int) -> None:
        if self.state == WAITING and self.current(round_no):
            self.stop_round()
            self.state = ENTRY
            self.kept = True
            self._show()
            self._result(Attempt("", None, "source_timeout"))

    def on_source_note(self, note: SourceNote) -> None:
        if self.state == WAITING and self.current(note.round_no):
            self._say(f"{reason_text(note.outcome)} {action_text(note.outcome)}")

    def on_decided(self, message: Decided) -> None:
        if not self.current(message.round_no):
            return
        self.state = ENTRY
        decision = message.attempt.decision
        if decision is not None and decision.approved:
            self.entry.clear()
            self.notice = _("Last payment: {money} approved").format(
                money=format_money(decision.amount, self.ctx.currency)
            )
        else:
            self.notice = ""
            self.kept = True
        self._result(message.attempt)  # first: the result is what the customer waits for
        if decision is not None and decision.approved:
            print_in_background(self, decision.seq)  # a worker: the screen never waits for paper
        self.set_timer(AFTER_RESULT_S, self._after_result)

    def _after_result(self) -> None:
        """The counter under the result, and the status bar, redraw once the result is up."""
        self._show()
        self.run_worker(self.pos_app.refresh_status(), exclusive=True, group="status")

    def _result(self, attempt: Attempt) -> None:
        amount = attempt.decision.amount if attempt.decision is not None else self.charging
        self.pos_app.show_attempt(attempt, amount)

    # -- operator -----------------------------------------------------------------------------
    def action_history(self) -> None:
        if self.state == ENTRY:
            self.pos_app.action_history()

    def action_settings(self) -> None:
        if self.state == ENTRY:
            self.pos_app.action_settings()

    def action_void(self) -> None:
        if self.state == ENTRY:
            self.run_worker(self.pos_app.void_last(), exclusive=True, group="operator")

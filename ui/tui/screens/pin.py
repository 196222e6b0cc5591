"""Operator PIN entry: masked digits, a keypad, the scrypt check in a worker thread.

With ``check`` the screen verifies the PIN and dismisses with True; without, it collects a new
PIN (twice, to catch a slip) and dismisses with it. Cancel dismisses with None. Wrong PINs and
locks are written to the audit log; the PIN never is.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label

from ui.i18n import N_, _
from ui.runtime.operator import MAX_PIN, MIN_PIN, CheckResult, PinError, check_pin_format
from ui.tui.screens.base import PosModal, key_hints, redraw
from ui.tui.widgets.keypad import BACKSPACE, CLEAR, OK, Keypad

HINTS = (("0-9", N_("PIN")), ("Enter", N_("OK")), ("Esc", N_("Cancel")))


class PinChecked(Message):
    def __init__(self, result: CheckResult | None, error: str = "") -> None:
        super().__init__()
        self.result = result
        self.error = error


class PinScreen(PosModal):
    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(d, f"digit('{d}')", show=False) for d in "0123456789"],
        Binding("backspace", "backspace", show=False),
        Binding("enter", "submit", show=False),
        Binding("escape", "cancel", show=False),
    ]

    def __init__(self, title: str, purpose: str, *, verify: bool = True) -> None:
        super().__init__(classes="pin-screen")
        self.title_text = title
        self.purpose = purpose
        self.verify = verify
        self.digits = ""
        self.first: str | None = None  # new PIN: the first of the two entries
        self.message = ""
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-box"):
            yield Label(self.title_text, id="pin-title", markup=False)
            yield Label(self._prompt(), id="pin-prompt")
            yield Label(self._mask(), id="pin-mask")
            yield Label(self.message, id="pin-message", markup=False)
            yield Keypad(_("OK"), id="pin-keypad")
            yield key_hints(HINTS)

    def _prompt(self) -> str:
        if self.verify:
            return _("Enter the operator PIN")
        if self.first is None:
            return _("Enter the new PIN ({low} to {high} digits)").format(low=MIN_PIN, high=MAX_PIN)
        return _("Enter the new PIN again")

    def _mask(self) -> str:
        return "● " * len(self.digits) or "_"

    @redraw
    def _show(self) -> None:
        self.query_one("#pin-prompt", Label).update(self._prompt())
        self.query_one("#pin-mask", Label).update(self._mask())
        self.query_one("#pin-message", Label).update(self.message)

    def on_keypad_pressed(self, event: Keypad.Pressed) -> None:
        if event.key == OK:
            self.action_submit()
        elif event.key == BACKSPACE:
            self.action_backspace()
        elif event.key == CLEAR:
            self.digits = ""
            self._show()
        else:
            self.action_digit(event.key)

    def action_digit(self, digit: str) -> None:
        if not self.busy and len(self.digits) < MAX_PIN:
            self.digits += digit
            self.message = ""
            self._show()

    def action_backspace(self) -> None:
        self.digits = self.digits[:-1]
        self._show()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        if self.busy:
            return
        pin, self.digits = self.digits, ""
        if not self.verify:
            self._new_pin(pin)
            return
        self.busy = True
        self.message = _("Checking…")
        self._show()
        self._check(pin)

    def _new_pin(self, pin: str) -> None:
        try:
            check_pin_format(pin)
        except PinError:
            self.message = _("A PIN is {low} to {high} digits.").format(low=MIN_PIN, high=MAX_PIN)
            self._show()
            return
        if self.first is None:
            self.first = pin
            self.message = ""
            self._show()
        elif pin == self.first:
            self.dismiss(pin)
        else:
            self.first = None
            self.message = _("The two PINs differ. Start again.")
            self._show()

    @work(thread=True, exclusive=True, group="pin", exit_on_error=False)
    def _check(self, pin: str) -> None:
        """The scrypt check and the audit line, both off the UI loop."""
        audit = self.ctx.audit
        try:
            result = self.ctx.pin.check(pin)
        except PinError as exc:
            audit.record("pin_unavailable", ok=False, purpose=self.purpose)
            self.post_message(PinChecked(None, str(exc)))
            return
        if result.locked_for and result.failures:
            audit.record("pin_locked", ok=False, purpose=self.purpose, seconds=result.locked_for)
        elif not result.ok and not result.locked_for:
            audit.record("pin_failed", ok=False, purpose=self.purpose, failures=result.failures)
        self.post_message(PinChecked(result))

    def on_pin_checked(self, message: PinChecked) -> None:
        self.busy = False
        result = message.result
        if result is None:
            self.message = (
                _("No operator PIN is set on this terminal.")
                + " "
                + _("Set one with: pos run --config pos.toml --set-pin")
            )
        elif result.ok:
            self.dismiss(True)
            return
        elif result.locked_for:
            self.message = _("Too many wrong PINs. Locked for {minutes} min.").format(
                minutes=-(-result.locked_for // 60)
            )
        else:
            self.message = _("Wrong PIN.")
        self._show()

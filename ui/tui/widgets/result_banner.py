"""The result: a large glyph and verdict, the amount, what happened and what to do next.

Colour carries the verdict from across a room (the screen's ``-approved`` / ``-declined`` /
``-notice`` class in app.tcss); the glyph carries it for colour-blind eyes. The banner is composed
once and updated in place for each result: composing and mounting widgets per result costs tens of
milliseconds on a small terminal, updating a few labels costs well under one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from ui.i18n import action_text, customer_text, reason_text
from ui.tui.widgets.money import MoneyDisplay

APPROVED, DECLINED, NOTICE = "approved", "declined", "notice"
LEVELS = (APPROVED, DECLINED, NOTICE)

GLYPHS = {
    APPROVED: "        ██\n       ██ \n ██   ██  \n  ██ ██   \n   ███    ",
    DECLINED: " ██   ██ \n  ██ ██  \n   ███   \n  ██ ██  \n ██   ██ ",
    NOTICE: "   ███   \n   ███   \n   ███   \n         \n   ███   ",
}


class ResultBanner(Vertical):
    def __init__(self, currency: str, *, audience: str = "action", id: str | None = None) -> None:
        super().__init__(id=id, classes="result-banner")
        self.currency = currency
        self.audience = audience

    def compose(self) -> ComposeResult:
        yield Static(GLYPHS[NOTICE], classes="glyph")
        yield Label("", classes="verdict", markup=False)
        yield MoneyDisplay(0, self.currency)
        yield Label("", classes="reason", markup=False)
        yield Label("", classes="hint", markup=False)

    def show(self, level: str, verdict: str, code: str | None, amount: int | None) -> None:
        """Draw one result: ``verdict`` already translated, ``code`` None for approved."""
        for lv in LEVELS:
            self.set_class(lv == level, f"-{lv}")
        self.query_one(".glyph", Static).update(GLYPHS[level])
        self.query_one(".verdict", Label).update(verdict)
        money = self.query_one(MoneyDisplay)
        money.display = amount is not None
        if amount is not None:
            money.show(amount)
        self.query_one(".reason", Label).update(reason_text(code))
        hint = customer_text(code) if self.audience == "customer" else action_text(code)
        label = self.query_one(".hint", Label)
        label.update(hint)
        label.display = bool(hint)

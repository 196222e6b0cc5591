"""An amount in large digits with its currency code, from minor units."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Digits, Label

from ui.i18n.money import number


class MoneyDisplay(Horizontal):
    def __init__(self, minor: int, currency: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="money")
        self.minor = minor
        self.currency = currency

    def compose(self) -> ComposeResult:
        yield Label(self.currency, classes="currency")
        yield Digits(number(self.minor, self.currency), classes="amount")

    def show(self, minor: int) -> None:
        self.minor = minor
        for digits in self.query(Digits):  # none while (re)composing: compose draws self.minor
            digits.update(number(minor, self.currency))

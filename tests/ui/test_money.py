"""Money from minor units per currency (ISO 4217 exponents), integers only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ui.i18n.money import AmountEntry, exponent, format_money, number


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "EUR", "12.50"),
        (5, "EUR", "0.05"),
        (0, "EUR", "0.00"),
        (123456789, "EUR", "1,234,567.89"),
        (125000, "JPY", "125,000"),
        (1234, "KWD", "1.234"),
        (-250, "EUR", "-2.50"),
        (99, "CLF", "0.0099"),
    ],
)
def test_number_per_currency(minor: int, currency: str, text: str) -> None:
    assert number(minor, currency) == text


def test_format_money_leads_with_the_code_and_refuses_floats() -> None:
    assert format_money(1250, "eur") == "EUR 12.50"
    assert exponent("XYZ") == 2
    with pytest.raises(TypeError):
        number(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        number(True, "EUR")


def test_keypad_entry_shifts_digits_in_like_a_till() -> None:
    entry = AmountEntry("EUR")
    for d in "0012x50":
        entry.push(d)
    assert entry.minor == 1250 and entry.text() == "12.50"
    entry.backspace()
    assert entry.minor == 125
    entry.clear()
    assert entry.minor == 0
    yen = AmountEntry("JPY", max_digits=3)
    for d in "12345":
        yen.push(d)
    assert yen.minor == 123 and yen.text() == "123"


def test_money_module_has_no_float_arithmetic() -> None:
    tree = ast.parse((Path(__file__).resolve().parents[2] / "ui" / "i18n" / "money.py").read_text())
    floats = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    divisions = [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "float"]
    assert floats == divisions == calls == []

"""Money on screen: minor units in, text out; integers only, never a float.

Amounts everywhere in the terminal are integers of the currency's minor unit (SPEC 1: limits and
amounts are minor units). The number of decimals per currency follows ISO 4217; a currency not
listed has 2. The keypad enters digits the way a till does: typing 1 2 5 0 in EUR is 12.50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# ISO 4217 minor-unit exponents that are not 2 (the default).
_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND"), 0
    ),
    **dict.fromkeys(("VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
MAX_ENTRY_DIGITS: Final = 9  # a till's amount field; far below any cap, far below 2**63


def exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (ISO 4217 alpha code)."""
    return _EXPONENTS.get(currency.upper(), 2)


def _group(digits: str, sep: str = ",") -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sep.join(parts)


def number(minor: int, currency: str) -> str:
    """``1250, "EUR"`` -> ``"12.50"``; ``125000, "JPY"`` -> ``"125,000"``; negative keeps its sign."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError(f"amounts are integers of minor units, not {type(minor).__name__}")
    sign = "-" if minor < 0 else ""
    exp = exponent(currency)
    units, cents = divmod(abs(minor), 10**exp)
    text = _group(str(units))
    if exp:
        text += "." + str(cents).rjust(exp, "0")
    return sign + text


def format_money(minor: int, currency: str) -> str:
    """``"EUR 12.50"``: the ISO code first, as receipts and the customer display show it."""
    return f"{currency.upper()} {number(minor, currency)}"


@dataclass
class AmountEntry:
    """The keypad's amount field: digits shift in from the right, as on a till."""

    currency: str
    digits: str = ""
    max_digits: int = MAX_ENTRY_DIGITS

    def push(self, digit: str) -> bool:
        """Add one digit; return False (ignored) for a non-digit, a leading zero or a full field."""
        if len(digit) != 1 or digit not in "0123456789":
            return False
        if digit == "0" and not self.digits:
            return False
        if len(self.digits) >= self.max_digits:
            return False
        self.digits += digit
        return True

    def backspace(self) -> None:
        self.digits = self.digits[:-1]

    def clear(self) -> None:
        self.digits = ""

    def set(self, minor: int) -> None:
        self.digits = str(minor) if minor > 0 else ""

    @property
    def minor(self) -> int:
        return int(self.digits) if self.digits else 0

    def text(self) -> str:
        return number(self.minor, self.currency)

"""How the ``pos`` commands say counts, times and money to a person (JSON output keeps raw values):
a count agrees with its noun, a time is ISO 8601 UTC with its age, an amount carries its currency
and the currency's exponent (``ui.i18n.money``)."""

from __future__ import annotations

import time

from ui.i18n.money import format_money


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 row``, ``2 rows``; ``nouns`` for an irregular plural (``batch``, ``batches``)."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def age(seconds: int) -> str:
    """The largest unit, rounded down: ``45 s``, ``12 min``, ``5 h``, ``7 d``."""
    s = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}"
    return f"{s} s"


def when(t: int, now: int) -> str:
    """``2026-12-13T14:00:00Z (in 7 d)`` or ``... (3 h ago)``."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    rel = "now" if t == now else f"in {age(t - now)}" if t > now else f"{age(now - t)} ago"
    return f"{stamp} ({rel})"


def money(minor: int, currency: str | None) -> str:
    """``EUR 5.50``; without a configured currency the minor units, said as such."""
    return format_money(minor, currency) if currency else f"{minor:,} minor units (no terminal.currency)"

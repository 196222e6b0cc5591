"""What a receipt says on paper, independent of the printer: lines of text and the QR text.

    slip = make_slip(receipt.fields, receipt.text, money=format_money)
    print(slip_text(slip, width=32))

Money is formatted by the caller's ``money(minor, currency)`` (the UI's ISO 4217 formatter: an
integer of minor units in, text out, never a float), so drivers never import ``ui``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from pos.receipt import ReceiptFields

DEFAULT_WIDTH = 32  # characters of font A on 58 mm paper; 80 mm paper takes 42 or 48
APPROVED = "APPROVED"
FOOTER = ("Signed receipt: keep it.", "Check: pos receipt verify")

Money = Callable[[int, str], str]


@dataclass(frozen=True, slots=True)
class Slip:
    title: str  # the merchant or terminal line
    rows: tuple[tuple[str, str], ...]  # (label, value), printed left and right
    verdict: str
    qr_text: str  # the signed receipt, "OWR1:..."
    footer: tuple[str, ...] = FOOTER


def short_wallet(wallet_id: bytes) -> str:
    """The last 4 bytes of the wallet id, as card receipts show the last digits."""
    return "****" + wallet_id[-4:].hex()


def when(t: int, tz: tzinfo | None = None) -> str:
    """Epoch seconds as the receipt's date and time, with the zone (``None``: the machine's).

    A time past the calendar (a receipt signed by its own key may carry any uint64) is shown as
    the number it is, not raised: ``pos receipt verify`` must say what it was given.
    """
    try:
        moment = datetime.fromtimestamp(t, tz) if tz is not None else datetime.fromtimestamp(t).astimezone()
    except (OverflowError, ValueError, OSError):
        return f"{t} s after 1970 (outside the calendar)"
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + (moment.tzname() or moment.strftime("%z"))


def make_slip(
    fields: ReceiptFields,
    qr_text: str,
    *,
    money: Money,
    merchant: str | None = None,
    tz: tzinfo | None = None,
) -> Slip:
    """The receipt's lines; the title is the merchant, or the terminal id when none is given."""
    terminal = (("Terminal", fields.terminal_id),) if merchant else ()
    rows = (
        *terminal,
        ("Date", when(fields.time, tz)),
        ("Amount", money(fields.amount, fields.currency)),
        ("Wallet", short_wallet(fields.wallet_id)),
        ("Counter", str(fields.counter)),
        ("Receipt no.", str(fields.seq)),
    )
    return Slip(merchant or fields.terminal_id, rows, APPROVED, qr_text)


def row_lines(label: str, value: str, width: int) -> list[str]:
    """``label`` left and ``value`` right on one line, or the value on its own line if too long."""
    if len(label) + 1 + len(value) <= width:
        return [label + value.rjust(width - len(label))]
    return [label, value.rjust(width)] if len(value) <= width else [label, value]


def body_lines(slip: Slip, width: int = DEFAULT_WIDTH) -> list[str]:
    out: list[str] = []
    for label, value in slip.rows:
        out += row_lines(label, value, width)
    return out


def slip_text(slip: Slip, width: int = DEFAULT_WIDTH) -> str:
    """The plain-text receipt (screen, text file): the QR is given as its text."""
    rule = "-" * width
    lines = [
        slip.title.center(width).rstrip(),
        rule,
        *body_lines(slip, width),
        rule,
        slip.verdict.center(width).rstrip(),
        rule,
        *[f.center(width).rstrip() for f in slip.footer],
        slip.qr_text,
    ]
    return "\n".join(lines) + "\n"

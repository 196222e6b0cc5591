"""Printing the customer's signed receipt after an approved payment, off the screen's path.

The receipt is signed on the core thread (it reads the journal row, whose connection lives
there) and printed on a worker thread; the screen never waits for the printer. A printer that
fails shows a notice to the cashier; the payment is committed already and is not touched.
"""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from pos import receipt as receipts
from pos.errors import ConfigError
from pos.receipt import Receipt
from pos.terminal import Terminal
from ui.i18n import _
from ui.i18n.money import format_money

if TYPE_CHECKING:
    from drivers.printer import ReceiptPrinter, Slip
    from ui.runtime.context import UiContext

log = logging.getLogger("pos.ui.receipt")
GROUP = "receipt"


def open_configured(url: str | None) -> ReceiptPrinter | None:
    """``[devices] printer`` (None: no printer). Nothing is opened yet: a printer that is off
    fails its first receipt with a notice, not the terminal's start; a bad URL is a config error."""
    if url is None:
        return None
    from drivers.printer import open_printer  # python-escpos only when a printer is configured

    try:
        return open_printer(url)
    except ValueError as exc:
        raise ConfigError(f"devices.printer: {exc}") from None


def issue_on(terminal: Terminal, seq: int | None = None) -> Receipt:
    """On the core thread: the signed receipt of journal payment ``seq`` (default: the newest)."""
    journal = terminal.journal
    return receipts.issue(journal.db, journal.identity, seq)


def slip_of(receipt: Receipt, tz: tzinfo | None = None, merchant: str | None = None) -> Slip:
    from drivers.printer import make_slip

    return make_slip(receipt.fields, receipt.text, money=format_money, tz=tz, merchant=merchant)


def print_receipt(ctx: UiContext, seq: int) -> None:
    """Blocking (a worker thread): sign on the core thread, then print. Raises what failed."""
    printer = ctx.printer
    if printer is None:
        return
    receipt = ctx.core.call(issue_on, ctx.core.terminal, seq)
    printer.print_slip(slip_of(receipt, ctx.tz))
    log.info("receipt printed for payment seq %d", seq)


def print_in_background(screen: Any, seq: int | None) -> None:
    """From a screen after an approved (committed) payment: print its receipt in a thread worker."""
    ctx: UiContext = screen.ctx
    if ctx.printer is None or seq is None:
        return
    app = screen.app

    def job() -> None:
        try:
            print_receipt(ctx, seq)
        except Exception as exc:  # noqa: BLE001 - any printer failure is a notice, never a payment fault
            log.error("receipt for payment seq %d not printed: %s", seq, exc)
            notice = _("Receipt not printed: {error}").format(error=exc)
            try:
                app.call_from_thread(app.notify, notice, severity="warning")
            except RuntimeError:  # the App has stopped meanwhile
                pass

    # the App's worker, not the screen's: a screen change does not cancel a receipt half printed
    app.run_worker(job, thread=True, group=GROUP, exit_on_error=False, name=f"receipt {seq}")

"""Today's payments, their totals, and what is still waiting for upload (read on the core thread).

A void is a ``reversal`` row in the journal naming the payment's (wallet id, counter): it is
listed (negative), the payment it reverses is marked voided, and the net total leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from pos.terminal import Terminal
from ui.i18n import N_, _
from ui.i18n.money import format_money
from ui.tui.screens.base import PosScreen, key_hints
from ui.tui.widgets.status_bar import StatusBar

HINTS = (("Esc", N_("Back")),)


@dataclass(frozen=True)
class Day:
    rows: list[dict[str, Any]]
    voided: set[int]
    summary: dict[str, int]

    @property
    def payments(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["kind"] == "payment"]

    @property
    def net_total(self) -> int:
        return sum(r["amount"] for r in self.payments if r["seq"] not in self.voided)


def day_start(now: int, tz: tzinfo | None) -> int:
    local = datetime.fromtimestamp(now, tz) if tz else datetime.fromtimestamp(now).astimezone()
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def read_day(terminal: Terminal, since: int) -> Day:
    """On the core thread. A reversal may come on a later day than its payment: all are read."""
    rows = list(terminal.journal.rows())
    reversed_ = {(r["wallet_id"], r["counter"]) for r in rows if r["kind"] == "reversal"}
    voided = {
        r["seq"] for r in rows if r["kind"] == "payment" and (r["wallet_id"], r["counter"]) in reversed_
    }
    today = [r for r in rows if r["time"] >= since]
    return Day(today, voided, terminal.journal.summary())


def clock_text(t: int, tz: tzinfo | None) -> str:
    local = datetime.fromtimestamp(t, tz) if tz else datetime.fromtimestamp(t).astimezone()
    return local.strftime("%H:%M:%S")


class HistoryScreen(PosScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", show=False),
        Binding("f3", "back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(classes="history-screen")
        self.day: Day | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Label(_("Today"), id="history-title")
        table: DataTable[str] = DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Label(self._totals(), id="history-totals", markup=False)
        yield key_hints(HINTS)

    async def on_mount(self) -> None:
        ctx = self.ctx
        self.day = await ctx.core.run(read_day, ctx.core.terminal, day_start(ctx.clock(), ctx.tz))
        self._fill()

    def relabel(self) -> None:
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(_("Time"), _("No."), _("Type"), _("Amount"), _("Upload"), _("Note"))
        day = self.day
        if day is None:
            return
        kinds = {"payment": _("payment"), "reversal": _("reversal")}
        modes = {"qr": "QR", "nfc": "NFC"}
        for r in reversed(day.rows):
            sign = -1 if r["kind"] == "reversal" else 1
            table.add_row(
                clock_text(r["time"], self.ctx.tz),
                str(r["seq"]),
                f"{kinds.get(r['kind'], r['kind'])} {modes.get(r['mode'], r['mode'] or '')}".strip(),
                format_money(sign * r["amount"], r["currency"]),
                _("sent") if r["state"] == "acknowledged" else _("waiting"),
                _("voided") if r["seq"] in day.voided else "",
            )
        self.query_one("#history-totals", Label).update(self._totals())

    def _totals(self) -> str:
        day = self.day
        if day is None:
            return _("Loading…")
        cur = self.ctx.currency
        return _("{n} payments today, net {total} · {pending} waiting for upload ({pending_total})").format(
            n=len(day.payments),
            total=format_money(day.net_total, cur),
            pending=day.summary["pending_count"],
            pending_total=format_money(day.summary["pending_total"], cur),
        )

    def action_back(self) -> None:
        self.dismiss(None)

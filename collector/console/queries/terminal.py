"""The terminal page's read: its row of the fleet, batches, payments, flags and chain checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.console.queries import events as ev
from collector.console.queries import payments as pay
from collector.console.queries.fleet import FleetRow, fleet
from collector.db import Database
from collector.judge import CHAIN_FLAGS

BATCHES = 50
EVENTS = 100


@dataclass
class Batch:
    stored_at: int
    first_seq: int
    last_seq: int
    rows: int
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class TerminalPage:
    row: FleetRow
    current_deny_seq: int
    batches: list[Batch]
    payments: list[pay.Payment]
    flags: list[ev.Event]
    chain_checks: list[ev.Event]
    revoked: tuple[int, str, str] | None  # (at, who, reason)


def terminal_page(db: Database, tid: str, now: int) -> TerminalPage | None:
    page = fleet(db, now=now, tids=[tid], limit=1)
    if not page.rows:
        return None
    with db.read() as tx:
        raw = tx.all(
            "SELECT ingested_at, min(seq), max(seq), count(*) FROM entries WHERE terminal_id = ?"
            " GROUP BY ingested_at ORDER BY ingested_at DESC LIMIT ?",
            (tid, BATCHES),
        )
        batches = {r[0]: Batch(r[0], r[1], r[2], r[3]) for r in raw}
        if batches:
            for at, status, n in tx.all(
                "SELECT ingested_at, status, count(*) FROM entries WHERE terminal_id = ? AND ingested_at >= ?"
                " GROUP BY ingested_at, status",
                (tid, min(batches)),
            ):
                if at in batches:
                    batches[at].statuses[status] = int(n)
        rev: Any = tx.one("SELECT at, who, reason FROM revoked_terminals WHERE terminal_id = ?", (tid,))
    payments, _next = pay.search(db, pay.PaymentFilter(terminal_id=tid), limit=20)
    flags, _more = ev.events(db, kind="flag", limit=EVENTS, terminal_id=tid)
    return TerminalPage(
        page.rows[0], page.current_deny_seq, list(batches.values()), payments,
        [f for f in flags if f.kind not in CHAIN_FLAGS], [f for f in flags if f.kind in CHAIN_FLAGS],
        tuple(rev) if rev else None,
    )  # fmt: skip

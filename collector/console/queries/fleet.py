"""The fleet page's read: terminals with what the collector knows of each, sorted and filtered.

One page of terminals (``limit`` from ``offset``) comes from the ``terminals`` table with its marks, last list
fetch and revocation; the per-terminal figures that need ``entries`` or ``events`` (payments
and amount uploaded, the last row's mode, the chain status) are read for that page only, by
index, so the page costs the same with a million payments as with ten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.db import Database, Tx
from collector.judge import CHAIN_FLAGS
from collector.schema import amount_sum_sql
from pos.tokens import TYP_DENY_LIST

ONLINE_S = 300  # a contact (upload or signed list fetch) this recent: online
STALE_S = 3600  # older than ONLINE_S, younger than this: stale; older: offline
SORTS = {
    "id": "t.terminal_id",
    "upload": "coalesce(t.last_seen, 0)",
    "fetch": "coalesce(f.at, 0)",
    "flags": "t.flags",
    "seq": "t.last_seq",
    "deny": "coalesce(m.deny_seq, 0)",
}
STATUSES = ("online", "stale", "offline", "revoked", "flagged")
MAX_LIMIT = 2000
_CHAIN_NAMES = {"chain_gap": "gap", "chain_fork": "fork", "row_edited": "edited"}
_COLUMNS = (
    "SELECT t.terminal_id, t.enrolled_at, t.last_seq, t.last_seen, t.flags, m.max_time, m.deny_seq,"
    " f.at, r.at FROM terminals t"
    " LEFT JOIN terminal_marks m ON m.terminal_id = t.terminal_id"
    " LEFT JOIN list_fetches f ON f.terminal_id = t.terminal_id"
    " LEFT JOIN revoked_terminals r ON r.terminal_id = t.terminal_id"
)


@dataclass
class FleetRow:
    terminal_id: str
    enrolled_at: int
    last_seq: int
    last_upload: int | None
    flags: int
    deny_seq: int
    last_fetch: int | None
    revoked_at: int | None
    clock_ahead_s: int | None
    status: str = "offline"
    mode: str | None = None
    chain: str = "ok"
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)  # currency -> (count, amount)


@dataclass
class FleetPage:
    rows: list[FleetRow]
    current_deny_seq: int
    counts: dict[str, int]
    total: int


def status_of(now: int, last_upload: int | None, last_fetch: int | None, revoked: bool) -> str:
    if revoked:
        return "revoked"
    contact = max(last_upload or 0, last_fetch or 0)
    if now - contact <= ONLINE_S:
        return "online"
    return "stale" if now - contact <= STALE_S else "offline"


def _status_sql(status: str, now: int) -> tuple[str, list[Any]]:
    online, stale = now - ONLINE_S, now - STALE_S
    seen, fetched = "coalesce(t.last_seen, 0)", "coalesce(f.at, 0)"
    contact = f"(CASE WHEN {seen} > {fetched} THEN {seen} ELSE {fetched} END)"
    if status == "revoked":
        return "r.at IS NOT NULL", []
    if status == "flagged":
        return "t.flags > 0", []
    if status == "online":
        return f"r.at IS NULL AND {contact} >= ?", [online]
    if status == "stale":
        return f"r.at IS NULL AND {contact} < ? AND {contact} >= ?", [online, stale]
    return f"r.at IS NULL AND {contact} < ?", [stale]


def current_deny_seq(tx: Tx) -> int:
    row = tx.one("SELECT max(seq) FROM lists WHERE typ = ?", (TYP_DENY_LIST,))
    return int(row[0]) if row and row[0] is not None else 0


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fleet(
    db: Database, *, now: int, sort: str = "id", desc: bool = False, query: str = "",
    status: str = "", limit: int = 100, offset: int = 0, tids: list[str] | None = None,
) -> FleetPage:  # fmt: skip
    """One page of the fleet; ``tids`` reads just those terminals (the live updates)."""
    where: list[str] = []
    params: list[Any] = []
    if query:
        where.append("t.terminal_id LIKE ? ESCAPE '\\'")
        params.append(_like(query))
    if status in STATUSES:
        sql, more = _status_sql(status, now)
        where.append(sql)
        params += more
    order = f"{SORTS.get(sort, SORTS['id'])} {'DESC' if desc else 'ASC'}, t.terminal_id"
    with db.read() as tx:
        if tids is not None:
            clause, more = tx.in_clause("t.terminal_id", tids or [""])
            where.append(clause)
            params += more
        sql = _COLUMNS + (" WHERE " + " AND ".join(where) if where else "")
        # OFFSET over the terminals table only (thousands of rows, not the payments' millions)
        raw = tx.all(
            f"{sql} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, max(1, min(limit, MAX_LIMIT)), max(0, offset)],
        )
        rows = [_row(r, now) for r in raw]
        _details(tx, rows)
        counts = _counts(tx, now) if tids is None else {}
        return FleetPage(rows, current_deny_seq(tx), counts, sum(counts.get(s, 0) for s in STATUSES[:4]))


def _row(r: Any, now: int) -> FleetRow:
    tid, enrolled, last_seq, seen, flags, max_time, deny_seq, fetched, revoked = r
    ahead = max(0, int(max_time) - int(seen)) if max_time and seen else None
    row = FleetRow(tid, enrolled, last_seq, seen, flags, deny_seq or 0, fetched, revoked, ahead)
    row.status = status_of(now, seen, fetched, revoked is not None)
    return row


def _details(tx: Tx, rows: list[FleetRow]) -> None:
    if not rows:
        return
    by_id = {r.terminal_id: r for r in rows}
    clause, params = tx.in_clause("e.terminal_id", list(by_id))
    for tid, currency, n, amount in tx.all(
        f"SELECT e.terminal_id, e.currency, count(*), {amount_sum_sql('e.amount', tx.pg)} FROM entries e"
        f" WHERE {clause} AND e.status = 'accepted' AND e.reversed_seq IS NULL"
        " GROUP BY e.terminal_id, e.currency",
        params,
    ):
        by_id[tid].totals[currency] = (int(n), int(amount))
    for tid, mode in tx.all(
        "SELECT e.terminal_id, e.mode FROM entries e JOIN terminals t"
        f" ON t.terminal_id = e.terminal_id AND e.seq = t.last_seq WHERE {clause}",
        params,
    ):
        by_id[tid].mode = mode
    kinds, kparams = tx.in_clause("kind", list(CHAIN_FLAGS))
    clause, params = tx.in_clause("terminal_id", list(by_id))
    latest: dict[str, int] = {}
    for tid, kind, eid in tx.all(
        f"SELECT terminal_id, kind, max(id) FROM events WHERE {clause} AND {kinds}"
        " GROUP BY terminal_id, kind",
        [*params, *kparams],
    ):
        if eid > latest.get(tid, -1):
            latest[tid] = eid
            by_id[tid].chain = _CHAIN_NAMES.get(kind, kind)


def _counts(tx: Tx, now: int) -> dict[str, int]:
    """How many terminals have each status: one pass over the fleet."""
    parts, params = [], []
    for status in STATUSES:
        sql, more = _status_sql(status, now)
        parts.append(f"sum(CASE WHEN {sql} THEN 1 ELSE 0 END)")
        params += more
    row = tx.one(
        f"SELECT {', '.join(parts)} FROM terminals t"
        " LEFT JOIN list_fetches f ON f.terminal_id = t.terminal_id"
        " LEFT JOIN revoked_terminals r ON r.terminal_id = t.terminal_id",
        params,
    )
    return {s: int(n or 0) for s, n in zip(STATUSES, row, strict=True)}

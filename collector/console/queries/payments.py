"""The payments page's reads: a search with keyset pagination, and the settlement per day.

Payments are the accepted entries (as in ``collector.export``). The search is ordered newest
first by (time, terminal_id, seq) and pages with a cursor on those three (``WHERE (...) < (...)``),
never OFFSET. A time range is an index range scan however deep (``entries_time`` on
PostgreSQL, ``entries_pay_time`` on SQLite); a wallet's rows come by its index
(``entries_wallet`` / ``entries_once``) and a terminal's by the primary key, then sorted
(one wallet or terminal holds few rows a month next to the table). docs/scale.md lists them.

The settlement is ``collector.export.settlement`` split by the day (UTC) the collector stored
each payment, over the same selection (``ingested_at`` from ``since``): its rows add up to the
export's for the same filter.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.db import Database, cvalue
from collector.export import FIELDS
from collector.schema import amount_sum_sql, token_digest_sql

PAGE = 50
MAX_PAGE = 500
DAY = 86400
CSV_FIELDS = ["day", *FIELDS]


@dataclass(frozen=True)
class PaymentFilter:
    wallet_id: bytes | None = None
    terminal_id: str | None = None
    since: int | None = None  # payment time, inclusive
    until: int | None = None  # payment time, exclusive
    min_amount: int | None = None
    max_amount: int | None = None


@dataclass(frozen=True)
class Payment:
    time: int
    terminal_id: str
    seq: int
    wallet_id: str
    counter: int
    amount: int
    currency: str
    mode: str
    token_digest: str
    ingested_at: int
    reversed_seq: int | None


Cursor = tuple[int, str, int]


def encode_cursor(c: Cursor) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(c)).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor | None:
    """The cursor of a "next page" link, or None when it is not one (bad input is no page)."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if (
        isinstance(doc, list) and len(doc) == 3 and type(doc[0]) is int and type(doc[1]) is str
        and type(doc[2]) is int and abs(doc[0]) < 1 << 62 and abs(doc[2]) < 1 << 62
    ):  # fmt: skip
        return doc[0], doc[1], doc[2]
    return None


def _where(f: PaymentFilter) -> tuple[list[str], list[Any]]:
    where, params = ["status = 'accepted'"], []
    for sql, value in (
        ("wallet_id = ?", f.wallet_id), ("terminal_id = ?", f.terminal_id), ("time >= ?", f.since),
        ("time < ?", f.until), ("amount >= ?", f.min_amount), ("amount <= ?", f.max_amount),
    ):  # fmt: skip
        if value is not None:
            where.append(sql)
            params.append(value)
    return where, params


def search(
    db: Database, f: PaymentFilter, after: Cursor | None = None, limit: int = PAGE
) -> tuple[list[Payment], Cursor | None]:
    """One page of payments newest first, and the cursor of the next page (None at the end)."""
    where, params = _where(f)
    if after is not None:
        where.append("(time, terminal_id, seq) < (?, ?, ?)")
        params += list(after)
    limit = max(1, min(limit, MAX_PAGE))
    sql = (
        "SELECT time, terminal_id, seq, wallet_id, counter, amount, currency, mode,"
        f" {token_digest_sql(db.dialect == 'postgres')},"
        f" ingested_at, reversed_seq FROM entries WHERE {' AND '.join(where)}"
        " ORDER BY time DESC, terminal_id DESC, seq DESC LIMIT ?"
    )
    with db.read() as tx:
        raw = tx.all(sql, [*params, limit + 1])
    rows = [
        Payment(t, tid, seq, bytes(w).hex(), cvalue(c), a, cur, mode, bytes(d).hex(), ing, rev)
        for t, tid, seq, w, c, a, cur, mode, d, ing, rev in raw[:limit]
    ]
    more = len(raw) > limit
    return rows, ((rows[-1].time, rows[-1].terminal_id, rows[-1].seq) if more else None)


def day_text(day: int) -> str:
    return datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")


def settlement_by_day(db: Database, since: int = 0, terminal_id: str | None = None) -> list[dict[str, Any]]:
    """Per day (UTC, of ``ingested_at``), terminal and currency: ``collector.export.settlement``'s sums."""
    where = "status = 'accepted' AND ingested_at >= ?"
    params: list[Any] = [since]
    if terminal_id:
        where += " AND terminal_id = ?"
        params.append(terminal_id)
    with db.read() as tx:
        pg = tx.pg
        rows = tx.all(
            "SELECT ingested_at / 86400 AS day, terminal_id, currency,"
            " sum(CASE WHEN reversed_seq IS NULL THEN 1 ELSE 0 END),"
            f" {amount_sum_sql('CASE WHEN reversed_seq IS NULL THEN amount ELSE 0 END', pg)},"
            " sum(CASE WHEN reversed_seq IS NULL THEN 0 ELSE 1 END),"
            f" {amount_sum_sql('CASE WHEN reversed_seq IS NULL THEN 0 ELSE amount END', pg)}"
            f" FROM entries WHERE {where}"
            " GROUP BY ingested_at / 86400, terminal_id, currency ORDER BY day, terminal_id, currency",
            params,
        )
    return [
        dict(zip(CSV_FIELDS, (day_text(int(r[0])), r[1], r[2], *(int(x) for x in r[3:])), strict=True))
        for r in rows
    ]

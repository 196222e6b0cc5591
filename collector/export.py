"""``pos collector export``: accepted payments and flagged events as JSON lines, settlement CSV.

Payments are the accepted entries (each (wallet id, counter) once across the fleet); events
are the flags (double spends with both payments as evidence, offline-limit breaches, chain
gaps, forks and edited rows, and the terminal faults of ``collector.judge``). An event that
flags a terminal says so (``"flag": true``) with its kind, terminal id, the row's seq and time,
and the detail: one JSON line per flag. ``--since`` (epoch seconds) selects by the time the collector
stored them. The settlement summary is per terminal and currency: count and total, in minor
units, over the same selection. Rows are streamed, never all held in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from collector.db import Database, cvalue
from collector.judge import TERMINAL_FLAGS
from collector.schema import ROW_TERMINAL_SQL, amount_sum_sql, token_digest_sql


def payments(db: Database, since: int = 0) -> Iterator[dict[str, Any]]:
    sql = (
        f"SELECT terminal_id, seq, time, wallet_id, counter, amount, currency, mode, {ROW_TERMINAL_SQL},"
        f" {token_digest_sql(db.dialect == 'postgres')}, ingested_at, reversed_seq FROM entries"
        " WHERE status = 'accepted'"
        " AND ingested_at >= ?"
        " ORDER BY ingested_at, terminal_id, seq"
    )
    with db.stream(sql, (since,)) as rows:
        for tid, seq, t, wid, counter, amount, currency, mode, row_tid, digest, ingested, rev in rows:
            yield {
                "type": "payment", "terminal_id": tid, "seq": seq, "time": t,
                "wallet_id": bytes(wid).hex(), "counter": cvalue(counter), "amount": amount,
                "currency": currency, "mode": mode, "row_terminal_id": row_tid,
                "token_digest": bytes(digest).hex(), "ingested_at": ingested, "reversed_by_seq": rev,
            }  # fmt: skip


def events(db: Database, since: int = 0) -> Iterator[dict[str, Any]]:
    sql = (
        "SELECT id, kind, terminal_id, wallet_id, counter, detail, created_at FROM events"
        " WHERE created_at >= ? ORDER BY id"
    )
    with db.stream(sql, (since,)) as rows:
        for eid, kind, tid, wid, counter, detail, created in rows:
            doc = json.loads(detail)
            yield {
                "type": "event", "id": eid, "kind": kind, "terminal_id": tid,
                "flag": kind in TERMINAL_FLAGS, "seq": doc.get("seq"), "time": doc.get("time", created),
                "wallet_id": bytes(wid).hex() if wid is not None else None,
                "counter": cvalue(counter) if counter is not None else None,
                "detail": doc, "created_at": created,
            }  # fmt: skip


FIELDS = ["terminal_id", "currency", "count", "total", "reversed_count", "reversed_total"]


def settlement(db: Database, since: int = 0) -> list[dict[str, Any]]:
    """Per terminal and currency: what to settle (count, total, net of reversals), and the
    reversed payments (voids, failed vends) apart."""
    with db.read() as tx:
        pg = tx.pg
        rows = tx.all(
            "SELECT terminal_id, currency,"
            " sum(CASE WHEN reversed_seq IS NULL THEN 1 ELSE 0 END),"
            f" {amount_sum_sql('CASE WHEN reversed_seq IS NULL THEN amount ELSE 0 END', pg)},"
            " sum(CASE WHEN reversed_seq IS NULL THEN 0 ELSE 1 END),"
            f" {amount_sum_sql('CASE WHEN reversed_seq IS NULL THEN 0 ELSE amount END', pg)}"
            " FROM entries WHERE status = 'accepted' AND ingested_at >= ?"
            " GROUP BY terminal_id, currency ORDER BY terminal_id, currency",
            (since,),
        )
    return [dict(zip(FIELDS, (r[0], r[1], *(int(x) for x in r[2:])), strict=True)) for r in rows]


def write_jsonl(db: Database, out: IO[str], since: int = 0) -> tuple[int, int]:
    n_pay = n_ev = 0
    for doc in payments(db, since):
        out.write(json.dumps(doc, sort_keys=True) + "\n")
        n_pay += 1
    for doc in events(db, since):
        out.write(json.dumps(doc, sort_keys=True) + "\n")
        n_ev += 1
    return n_pay, n_ev


def write_csv(db: Database, out: IO[str], since: int = 0) -> int:
    rows = settlement(db, since)
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)

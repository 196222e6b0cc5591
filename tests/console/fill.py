"""Bulk data for the console's query tests and ``scripts/bench console``: plain SQL, no HTTP.

Terminals with marks and list fetch times, and accepted payments spread over them, written
straight into a collector database (``COPY`` on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from collector import partitions
from collector.db import Database, ckey
from pos import chain

ENTRY_COLUMNS = (
    "terminal_id", "seq", "time", "kind", "wallet_id", "counter", "amount", "currency", "mode",
    "row_terminal_id", "token_digest", "hash", "status", "ingested_at",
)  # fmt: skip
CHUNK = 20_000


def tid_of(i: int) -> str:
    return f"T{i:06d}"


def wallet_of(i: int) -> bytes:
    return (0x5741_0000_0000_0000 + i).to_bytes(8, "big")


def fill_terminals(db: Database, n: int, now: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    terms, marks, fetches = [], [], []
    for i in range(n):
        seen = now - rnd.choice((5, 60, 900, 7200, 86400 * 3))
        terms.append(
            (tid_of(i), rnd.randbytes(32), now - 86400 * 30, 0, chain.GENESIS, seen, rnd.choice((0, 0, 0, 1)))
        )
        marks.append((tid_of(i), seen - 10, rnd.randint(1, 5), 0))
        fetches.append((tid_of(i), seen + 30))
    _insert(
        db, "terminals (terminal_id, public_key, enrolled_at, last_seq, last_hash, last_seen, flags)", terms
    )
    _insert(db, "terminal_marks (terminal_id, max_time, deny_seq, deny_from_seq)", marks)
    _insert(db, "list_fetches (terminal_id, at)", fetches)


def payment_rows(
    n: int, terminals: int, wallets: int, now: int, span_s: int, seed: int = 2
) -> Iterator[tuple[Any, ...]]:
    """``n`` accepted payments, seqs 1.. per terminal, times spread over ``span_s`` before ``now``."""
    rnd = random.Random(seed)
    seqs = [0] * terminals
    counters = [0] * wallets
    for k in range(n):
        t = k % terminals
        w = rnd.randrange(wallets)
        seqs[t] += 1
        counters[w] += 1
        when = now - span_s + (k * span_s) // max(1, n)
        yield (
            tid_of(t), seqs[t], when, "payment", wallet_of(w), ckey(counters[w]), rnd.randint(50, 5000),
            "EUR", rnd.choice(("nfc", "qr")), tid_of(t), rnd.randbytes(32), rnd.randbytes(32), "accepted",
            when + rnd.randint(1, 600),
        )  # fmt: skip


def fill_payments(
    db: Database, n: int, terminals: int, wallets: int, now: int, span_s: int = 30 * 86400
) -> None:
    if db.layout == "partitioned":  # PostgreSQL: the months the rows were stored in
        with db.write() as tx:
            partitions.ensure(tx, now - span_s, ahead=(span_s // (28 * 86400)) + 2)
    _insert(db, f"entries ({', '.join(ENTRY_COLUMNS)})", payment_rows(n, terminals, wallets, now, span_s))
    with db.write() as tx:
        tx.execute(
            "UPDATE terminals SET last_seq = (SELECT coalesce(max(seq), 0) FROM entries e"
            " WHERE e.terminal_id = terminals.terminal_id)"
        )
    if db.dialect == "postgres":
        with db._pool.connection() as conn:
            conn.execute("ANALYZE")


def _insert(db: Database, target: str, rows: Any) -> None:
    cols = target[target.index("(") + 1 : target.index(")")]
    width = len(cols.split(","))
    if db.dialect == "postgres":
        with db._pool.connection() as conn, conn.transaction():
            with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    batch: list[tuple[Any, ...]] = []
    sql = f"INSERT INTO {target} VALUES ({','.join('?' * width)})"
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            with db.write() as tx:
                tx.executemany(sql, batch)
            batch = []
    with db.write() as tx:
        tx.executemany(sql, batch)

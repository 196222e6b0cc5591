"""The payments queries search indexes on PostgreSQL's partitioned layout (docs/scale.md,
"Storage and indexes"): EXPLAIN on real tables of 24,000 rows over two months, ANALYZEd.

Each query is the one a part of the collector runs (ingest's chain, single-use and exposure
checks) or the operator console's searches: by wallet id, by terminal and time, by time range
with keyset pagination on (time, terminal_id, seq); a time range bounded below also bounds
``ingested_at`` (an accepted row is stored no earlier than its time less the clock skew), which
prunes the months before it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from collector import claims, partitions
from collector.db import Database, ckey
from tests.sync.pg import PgCluster

SKEW = 30
PER_MONTH = 12_000
FILLED = (partitions.partition_name(2026, 1), partitions.partition_name(2026, 2))


@pytest.fixture(scope="module")
def filled(pg_cluster: PgCluster) -> Iterator[tuple[Database, dict[str, Any]]]:
    db = Database(pg_cluster.new_database())
    rng = random.Random(15)
    old = partitions.month_start(2026, 1)
    new = partitions.month_start(2026, 2)
    wallets = [rng.randbytes(8) for _ in range(3000)]
    rows, pairs = [], []
    for base in (old, new):
        db.ensure_partitions(base)
        for i in range(PER_MONTH):
            tid, seq = f"T-{i % 300}", base // 1000 + i
            t = base + i * 200
            w, c = wallets[rng.randrange(len(wallets))], rng.randrange(1, 10**6)
            amount, digest, h = rng.randint(1, 500), rng.randbytes(32), rng.randbytes(32)
            rows.append((tid, seq, t, "payment", w, ckey(c), amount, "EUR", "qr", tid, digest, None, h,
                         "accepted", None, 50_000, t + 60))  # fmt: skip
            pairs.append((w, ckey(c), tid, seq, t + 60))
    with db.write() as tx:
        claims.copy_entries(tx, rows)
        sql = "COPY claims (wallet_id, counter, terminal_id, seq, ingested_at) FROM STDIN"
        with tx.conn.cursor() as cur, cur.copy(sql) as copy:
            for pair in set(pairs):
                copy.write_row(pair)
    with db.read() as tx:
        tx.execute("ANALYZE")
    probe = {"wallet": rows[5][4], "counter": rows[5][5], "tid": "T-7", "t0": new + 3600 * 24 * 5,
             "old": FILLED[0], "new": FILLED[1]}  # fmt: skip
    try:
        yield db, probe
    finally:
        db.close()


def _plan(db: Database, sql: str, params: list[Any]) -> str:
    with db.read() as tx:
        return "\n".join(r[0] for r in tx.all("EXPLAIN " + sql, params))


def _uses_indexes(plan: str) -> None:
    """No sequential scan of a table that holds rows (the empty partitions made ahead cost 0)."""
    assert "Index" in plan, plan
    for line in plan.splitlines():
        if "Seq Scan" in line:
            assert "entries_p2026" not in line or line.split(" on ")[1].split()[0] not in FILLED, plan


def test_search_by_wallet_id_uses_the_wallet_index(filled: tuple[Database, dict[str, Any]]) -> None:
    db, q = filled
    plan = _plan(db, "SELECT terminal_id, seq, time, amount, status FROM entries WHERE wallet_id = ?"
                 " ORDER BY ingested_at DESC LIMIT 50", [q["wallet"]])  # fmt: skip
    _uses_indexes(plan)
    assert "wallet_id_ingested_at" in plan, plan


def test_time_range_keyset_page_walks_the_time_index_and_prunes_earlier_months(
    filled: tuple[Database, dict[str, Any]],
) -> None:
    db, q = filled
    sql = (
        "SELECT time, terminal_id, seq, amount FROM entries WHERE time >= ? AND time < ?"
        " AND ingested_at >= ? AND (time, terminal_id, seq) > (?, ?, ?)"
        " ORDER BY time, terminal_id, seq LIMIT 50"
    )
    t0 = q["t0"]
    plan = _plan(db, sql, [t0, t0 + 86400, t0 - SKEW, t0 + 600, "T-0", 0])
    _uses_indexes(plan)
    assert "_time_idx" in plan and q["new"] in plan and q["old"] not in plan, plan


def test_console_newest_first_page_walks_the_time_index_backwards_and_sorts_only_within_a_second(
    filled: tuple[Database, dict[str, Any]],
) -> None:
    """The console's own query (``collector.console.queries.payments.search``): the time index
    is on ``time`` alone, so the order by (time, terminal_id, seq) is an incremental sort of the
    rows of one second, never a sort of the range."""
    db, q = filled
    sql = (
        "SELECT time, terminal_id, seq, amount FROM entries WHERE status = 'accepted' AND time >= ?"
        " AND time < ? AND (time, terminal_id, seq) < (?, ?, ?)"
        " ORDER BY time DESC, terminal_id DESC, seq DESC LIMIT ?"
    )
    t0 = q["t0"]
    plan = _plan(db, sql, [t0 - 86400 * 20, t0 + 86400, t0, "T-5", 10**9, 51])
    _uses_indexes(plan)
    assert "_time_idx" in plan and "Backward" in plan, plan
    assert "Incremental Sort" in plan or "Sort" not in plan, plan


def test_terminal_and_time_search_and_the_chain_lookup_use_indexes(
    filled: tuple[Database, dict[str, Any]],
) -> None:
    db, q = filled
    plan = _plan(db, "SELECT seq, time, amount FROM entries WHERE terminal_id = ? AND time >= ? AND time < ?"
                 " ORDER BY seq DESC LIMIT 50", [q["tid"], q["t0"], q["t0"] + 86400])  # fmt: skip
    _uses_indexes(plan)  # a short range: the time index (terminal_id second); a long one: the key
    assert "pkey" in plan or "_time_idx" in plan, plan
    plan = _plan(db, "SELECT seq, hash FROM entries WHERE terminal_id = ? AND seq BETWEEN ? AND ?",
                 [q["tid"], 1, 500])  # fmt: skip
    _uses_indexes(plan)
    assert "pkey" in plan, plan


def test_ingest_checks_search_claims_and_the_wallet_index(filled: tuple[Database, dict[str, Any]]) -> None:
    db, q = filled
    plan = _plan(
        db,
        "SELECT c.terminal_id, e.time FROM claims c LEFT JOIN entries e ON e.terminal_id = c.terminal_id"
        " AND e.seq = c.seq AND e.ingested_at = c.ingested_at"
        " WHERE (c.wallet_id, c.counter) IN (SELECT * FROM unnest(?::bytea[], ?::bytea[]))",
        [[q["wallet"]], [q["counter"]]],
    )
    _uses_indexes(plan)
    assert "claims_pkey" in plan, plan
    plan = _plan(
        db,
        "SELECT wallet_id, amount, offline_limit FROM entries"
        " WHERE status = 'accepted' AND ingested_at > ? AND wallet_id = ANY(?::bytea[])",
        [q["t0"], [q["wallet"]]],
    )
    _uses_indexes(plan)
    assert q["old"] not in plan, plan

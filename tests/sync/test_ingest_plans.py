"""The ingest transaction's lookups search indexes: their cost must not grow with the history.

The fleet-wide (wallet id, counter) check runs on every batch; a plan that scans the accepted
entries made each batch cost as much as the whole history (measured: 13 ms per 500-row batch
at 20,000 entries, growing linearly). SQLite, on disk, real schema.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from collector.console.queries.payments import PaymentFilter, search
from collector.db import Database, ckey
from collector.payments import _existing, sqlite_pairs_query


def _plan(db: Database, sql: str, params: list[object]) -> str:
    with db.read() as tx:
        return "\n".join(str(r[3]) for r in tx.all("EXPLAIN QUERY PLAN " + sql, params))


def _fill(db: Database, n: int) -> None:
    with db.write() as tx:
        tx.executemany(
            "INSERT INTO entries (terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode,"
            " row_terminal_id, token_digest, token, hash, status, reason, offline_limit, ingested_at)"
            " VALUES ('T', ?, 1, 'payment', ?, ?, 5, 'EUR', 'qr', 'T', ?, NULL, ?, 'accepted', NULL, 100, 2)",
            [(i, i.to_bytes(8, "big"), ckey(i), bytes(32), bytes(32)) for i in range(1, n + 1)],
        )
        tx.execute("ANALYZE")


def test_double_spend_lookup_searches_the_unique_index(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        _fill(db, 2000)
        pairs = [(i.to_bytes(8, "big"), ckey(i)) for i in (5, 7)]
        plan = _plan(db, sqlite_pairs_query(2), [x for pair in pairs for x in pair])
        assert "SEARCH e USING INDEX entries_once" in plan, plan
        assert "SCAN e" not in plan and "SCAN entries" not in plan, plan
    finally:
        db.close()


def test_double_spend_lookup_finds_only_the_accepted_pairs_asked_for(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        _fill(db, 300)
        with db.write() as tx:
            tx.execute("UPDATE entries SET status = 'rejected' WHERE seq = 9")
            found = _existing(tx, [(i.to_bytes(8, "big"), i) for i in (3, 9, 250)] + [(b"\x01" * 8, 3)])
        assert sorted(found) == [((3).to_bytes(8, "big"), 3), ((250).to_bytes(8, "big"), 250)]
        assert found[((3).to_bytes(8, "big"), 3)]["seq"] == 3
    finally:
        db.close()


def _traced_plan(db: Database, run: Callable[[], object]) -> str:
    """The plans of the statements ``run`` sends, as SQLite expanded them (parameters inline)."""
    sent: list[str] = []
    conn = db._sqlite_conn()
    conn.set_trace_callback(sent.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in sent if s.lstrip().upper().startswith("SELECT") and "FROM entries" in s]
    assert selects, sent
    return "\n".join(_plan(db, s, []) for s in selects)


def test_wallet_search_and_exact_exposure_check_search_the_single_use_index(tmp_path: Path) -> None:
    """SQLite keeps no index for these alone: each random-key index costs every commit a page
    per row (``collector.schema``), so they ride on ``entries_once``."""
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        _fill(db, 2000)
        wallet = (7).to_bytes(8, "big")
        plan = _traced_plan(db, lambda: search(db, PaymentFilter(wallet_id=wallet)))
        assert "USING INDEX entries_once (wallet_id=?)" in plan, plan
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
        sql = (
            "SELECT wallet_id, amount, offline_limit FROM entries WHERE status = 'accepted'"
            " AND ingested_at > ? AND wallet_id IN (?, ?)"
        )
        plan = _plan(db, sql, [0, wallet, (9).to_bytes(8, "big")])
        assert "USING INDEX entries_once (wallet_id=?)" in plan, plan
        assert "SCAN e" not in plan and "SCAN entries" not in plan, plan
        with db.read() as tx:
            names = {r[0] for r in tx.all("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "entries_exposure" not in names
    finally:
        db.close()

"""The console's reads on real SQLite and PostgreSQL: keyset pages, settlement, fleet, live marker."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from collector import export
from collector.console.live import MAX_TIDS, RELOAD, FleetWatch
from collector.console.queries import payments as q
from collector.console.queries.fleet import STATUSES, fleet
from collector.db import Database
from tests.console.fill import fill_payments, fill_terminals, tid_of, wallet_of
from tests.sync.conftest import pg_cluster  # noqa: F401 - the throw-away PostgreSQL cluster
from tests.sync.pg import PgCluster

NOW = 1_800_000_000
TERMINALS, PAYMENTS, WALLETS = 20, 400, 30


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('console-db') / 'collector.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.new_database()
    database = Database(url, pool_size=2)
    fill_terminals(database, TERMINALS, NOW)
    fill_payments(database, PAYMENTS, TERMINALS, WALLETS, NOW, span_s=5 * 86400)
    try:
        yield database
    finally:
        database.close()


def _all_pages(db: Database, f: q.PaymentFilter, limit: int = 37) -> list[q.Payment]:
    out: list[q.Payment] = []
    after = None
    while True:
        rows, after = q.search(db, f, after, limit)
        out += rows
        if after is None:
            return out


def test_payment_pages_follow_the_cursor_through_every_row_once_newest_first(db: Database):
    rows = _all_pages(db, q.PaymentFilter())
    keys = [(r.time, r.terminal_id, r.seq) for r in rows]
    assert len(keys) == PAYMENTS and len(set(keys)) == PAYMENTS
    assert keys == sorted(keys, reverse=True)


def test_payment_search_filters_by_wallet_terminal_time_and_amount(db: Database):
    everything = _all_pages(db, q.PaymentFilter(), limit=500)
    wid = wallet_of(3)
    by_wallet = _all_pages(db, q.PaymentFilter(wallet_id=wid))
    assert by_wallet and {r.wallet_id for r in by_wallet} == {wid.hex()}
    assert len(by_wallet) == sum(1 for r in everything if r.wallet_id == wid.hex())
    by_terminal = _all_pages(db, q.PaymentFilter(terminal_id=tid_of(4)))
    assert len(by_terminal) == PAYMENTS // TERMINALS
    lo, hi = NOW - 3 * 86400, NOW - 2 * 86400
    ranged = _all_pages(db, q.PaymentFilter(since=lo, until=hi, min_amount=1000, max_amount=3000))
    assert ranged == [r for r in everything if lo <= r.time < hi and 1000 <= r.amount <= 3000]


def test_a_cursor_that_is_not_one_is_refused_not_a_crash():
    for bad in ("", "abc", "W10", "WyJhIiwiYiIsImMiXQ", "!!", "eyJhIjoxfQ"):
        assert q.decode_cursor(bad) is None
    assert q.decode_cursor(q.encode_cursor((5, "T1", 3))) == (5, "T1", 3)


def test_settlement_per_day_sums_to_the_export_for_the_same_selection(db: Database):
    for since in (0, NOW - 2 * 86400):
        days = q.settlement_by_day(db, since)
        assert len({d["day"] for d in days}) > 1
        summed: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for d in days:
            acc = summed[d["terminal_id"], d["currency"]]
            for i, k in enumerate(("count", "total", "reversed_count", "reversed_total")):
                acc[i] += d[k]
        want = {
            (s["terminal_id"], s["currency"]): [s[k] for k in export.FIELDS[2:]]
            for s in export.settlement(db, since)
        }
        assert dict(summed) == want


def test_fleet_sorts_filters_and_counts_every_terminal(db: Database):
    page = fleet(db, now=NOW, sort="upload", desc=True)
    assert len(page.rows) == TERMINALS == page.total
    seen = [r.last_upload or 0 for r in page.rows]
    assert seen == sorted(seen, reverse=True)
    assert sum(page.counts[s] for s in STATUSES[:4]) == TERMINALS
    for status in ("online", "stale", "offline"):
        assert {r.status for r in fleet(db, now=NOW, status=status).rows} <= {status}
    one = fleet(db, now=NOW, query=tid_of(7))
    assert [r.terminal_id for r in one.rows] == [tid_of(7)]
    row = one.rows[0]
    assert row.totals["EUR"][0] == PAYMENTS // TERMINALS and row.mode in ("nfc", "qr") and row.chain == "ok"
    assert fleet(db, now=NOW, query="%").rows == []  # LIKE wildcards are text


def test_live_watch_names_the_terminal_an_upload_changed_and_a_revocation(db: Database):
    watch = FleetWatch(db)
    assert watch.poll() == set()  # the first poll only takes the marker
    assert watch.poll() == set()
    with db.write() as tx:
        tx.execute(
            "UPDATE terminals SET last_seq = last_seq + 1, last_seen = ? WHERE terminal_id = ?",
            (NOW + 5, tid_of(2)),
        )
    assert watch.poll() == {tid_of(2)}
    assert watch.poll() == set()
    with db.write() as tx:
        tx.execute(
            "INSERT INTO revoked_terminals (terminal_id, at, who, reason) VALUES (?, ?, 'op', 'test')",
            (tid_of(9), NOW),
        )
    assert watch.poll() == {tid_of(9)}
    with db.write() as tx:
        tx.execute("DELETE FROM revoked_terminals")


def test_live_streams_are_capped_and_a_slow_page_holds_a_bounded_set_not_a_queue(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}", pool_size=1)

    async def scenario() -> None:
        watch = FleetWatch(db, poll_s=0.01, max_clients=2)
        a, b = watch.subscribe(), watch.subscribe()
        assert a is not None and b is not None and watch.subscribe() is None  # the third is refused
        for i in range(MAX_TIDS * 3):  # a page that never reads: its pending set is capped
            a.tell({f"T{i}"})
        assert a.pending == {RELOAD}
        watch.unsubscribe(a)
        assert watch.subscribe() is not None  # a freed place is taken again
        for s in list(watch.subs):
            watch.unsubscribe(s)
        await asyncio.sleep(0.05)  # the watcher stops polling when nobody listens
        assert watch._task is not None and watch._task.done()

    try:  # a thread of its own: Playwright's sync API may hold this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, scenario()).result()
    finally:
        db.close()

"""The per-day wallet sums behind the exposure check (``collector.wallet_days``), on both databases.

The sums are only a first look: a wallet within its limit by them is within it exactly, and
the others are read from ``entries``. These tests drive ``collector.exposure`` through batches
ingested on different days, so a cutoff in an earlier day's row, a cutoff older than the kept
days, pruning, and a database made before the table all meet the exact check's answer.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from collector import wallet_days
from collector.db import Database, ckey
from collector.exposure import check_exposure
from pos.wire import protocol as p

DAY = wallet_days.DAY
LIMIT = 1000
MARGIN = 60


@pytest.fixture
def db(db_url: str) -> Any:
    database = Database(db_url, pool_size=1)
    yield database
    database.close()


def _ingest(
    db: Database, tid: str, seq: int, wid: bytes, amount: int, t: int, now: int
) -> list[dict[str, Any]]:
    """One accepted payment stored as ``collector.payments`` stores it, then the exposure check."""
    token = hashlib.sha256(f"{tid}{seq}".encode()).digest()
    counter = int.from_bytes(token[:4], "big")  # one per (terminal, seq)
    row = p.BatchRow(seq, t, "payment", wid, counter, amount, "EUR", "qr", tid,
                     hashlib.sha256(token).digest(), token, bytes(32))  # fmt: skip
    events: list[dict[str, Any]] = []
    db.ensure_partitions(now)
    with db.write() as tx:
        tx.execute(
            "INSERT INTO entries (terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode,"
            " row_terminal_id, token_digest, token, hash, status, reason, offline_limit, ingested_at)"
            " VALUES (?, ?, ?, 'payment', ?, ?, ?, 'EUR', 'qr', ?, ?, ?, ?, 'accepted', NULL, ?, ?)",
            (tid, seq, t, wid, ckey(counter), amount, tid, row.token_digest, token, row.hash, LIMIT, now),
        )
        check_exposure(tx, [row], {seq: LIMIT}, now, MARGIN, events)
    return events


def _sums(db: Database, wid: bytes) -> list[tuple[int, int, int]]:
    with db.read() as tx:
        rows = tx.all(
            "SELECT day, total, min_limit FROM wallet_days WHERE wallet_id = ? ORDER BY day", (wid,)
        )
    return [(int(d), int(t), int(m)) for d, t, m in rows]


def _now() -> int:
    import time

    return (int(time.time()) // DAY) * DAY + DAY // 2  # noon today: a day back stays in range


def test_sums_add_up_per_wallet_and_day(db: Database) -> None:
    now, wid = _now(), b"W" * 8
    _ingest(db, "T-A", 1, wid, 300, now - 7200, now - DAY)
    _ingest(db, "T-A", 2, wid, 200, now - 3600, now)
    _ingest(db, "T-A", 3, wid, 100, now - 1800, now)
    assert _sums(db, wid) == [(now // DAY - 1, 300, LIMIT), (now // DAY, 300, LIMIT)]


def test_an_earlier_days_payments_count_towards_todays_check(db: Database) -> None:
    """A offline across midnight: its payment stored yesterday, B's of the same hour uploaded
    today; only yesterday's row of the sums shows the wallet over its limit."""
    now, wid = _now(), b"X" * 8
    t = now - DAY - 3600  # yesterday, before A's upload
    assert _ingest(db, "T-A", 1, wid, 700, t, now - DAY + 600) == []
    events = _ingest(db, "T-B", 1, wid, 700, t + 60, now)
    assert [e["kind"] for e in events] == ["offline_limit_exceeded"]
    assert events[0]["detail"]["unacknowledged"] == 1400


def test_a_cutoff_older_than_the_kept_days_goes_to_the_exact_check(db: Database) -> None:
    now, wid = _now(), b"Y" * 8
    t = now - (wallet_days.KEEP_DAYS + 2) * DAY
    assert _ingest(db, "T-A", 1, wid, 700, t, now - DAY) == []
    with db.write() as tx:
        wallet_days.prune(tx, now + 10 * DAY)  # the sums are gone; the entries are not
    assert _sums(db, wid) == []
    events = _ingest(db, "T-B", 1, wid, 700, t + 60, now)
    assert [e["kind"] for e in events] == ["offline_limit_exceeded"]


def test_within_the_limit_by_the_sums_reads_no_entries(db: Database) -> None:
    now, wid = _now(), b"Z" * 8
    _ingest(db, "T-A", 1, wid, 400, now - 3600, now)
    with db.write() as tx:
        assert wallet_days.over_limit(tx, {wid: (400, LIMIT)}, now - 3600, now) == []
        assert wallet_days.over_limit(tx, {wid: (1001, LIMIT)}, now - 3600, now) == [wid]


def test_pruning_keeps_the_kept_days(db: Database) -> None:
    now, wid = _now(), b"P" * 8
    for back in range(wallet_days.KEEP_DAYS + 3):
        _ingest(db, "T-A", back + 1, wid, 10, now - back * DAY - 60, now - back * DAY)
    with db.write() as tx:
        wallet_days.prune(tx, now)
    days = [d for d, _t, _m in _sums(db, wid)]
    assert min(days) == now // DAY - wallet_days.KEEP_DAYS - 1 and max(days) == now // DAY


def test_a_database_made_before_the_table_gets_it_filled(db_url: str) -> None:
    now, wid = _now(), b"U" * 8
    database = Database(db_url, pool_size=1)
    try:
        _ingest(database, "T-A", 1, wid, 700, now - 3600, now - 600)
        with database.write() as tx:
            tx.execute("DROP TABLE wallet_days")
    finally:
        database.close()
    database = Database(db_url, pool_size=1)  # a collector of this version starts on it
    try:
        assert _sums(database, wid) == [(now // DAY, 700, LIMIT)]
        events = _ingest(database, "T-B", 1, wid, 700, now - 3500, now)
        assert [e["kind"] for e in events] == ["offline_limit_exceeded"]
    finally:
        database.close()


class _Undo(Exception):
    """Raised to roll a write transaction back: each look starts from the same sums."""


def _first_look(db: Database, rows: list[p.BatchRow], limits: dict[int, int | None], cutoff: int,
                now: int, one_statement: bool) -> list[bytes]:  # fmt: skip
    try:
        with db.write() as tx:
            if one_statement:  # PostgreSQL: the upsert answers (SQLite reads as below)
                added = wallet_days.add(tx, rows, limits, now, cutoff // DAY)
                found = wallet_days.over_limit(tx, added.today, cutoff, now, added)
            else:
                added = wallet_days.add(tx, rows, limits, now)
                found = wallet_days.over_limit(tx, added.today, cutoff, now)
            raise _Undo(found)
    except _Undo as undo:
        return list(undo.args[0])


def test_the_upserts_own_answer_names_the_wallets_the_separate_read_names(db: Database) -> None:
    """The upsert that adds a batch's rows names the wallets over their limit by the sums since
    the cutoff's day in the same statement (PostgreSQL): exactly the wallets its separate read
    of the earlier days names, over random sums, limits and limits not known (NULL)."""
    import random

    rng = random.Random(7)
    now = _now()
    day = now // DAY
    wallets = [bytes([i]) * 8 for i in range(40)]
    with db.write() as tx:
        for wid in wallets:
            for d in range(day - wallet_days.KEEP_DAYS, day + 1):
                if rng.random() < 0.6:
                    limit = rng.choice([None, 500, 900, 1500])
                    tx.execute(
                        "INSERT INTO wallet_days (wallet_id, day, total, min_limit) VALUES (?, ?, ?, ?)",
                        (wid, d, rng.randint(0, 900), limit),
                    )
    rows = [
        p.BatchRow(seq, now - 60, "payment", rng.choice(wallets), seq, rng.randint(1, 600), "EUR", "qr",
                   "T-A", bytes(32), None, bytes(32))
        for seq in range(1, 61)
    ]  # fmt: skip
    limits = {r.seq: rng.choice([None, 400, 1000, 2000]) for r in rows}
    for back in range(wallet_days.KEEP_DAYS + 1):
        cutoff = now - back * DAY
        one = _first_look(db, rows, limits, cutoff, now, one_statement=True)
        assert one == _first_look(db, rows, limits, cutoff, now, one_statement=False)
        assert one, "some wallets are over their limit in every case"


def test_a_wallet_at_its_limit_is_not_over_it_and_one_unit_more_is(db: Database) -> None:
    now = _now()
    at, past, unknown = b"E" * 8, b"F" * 8, b"G" * 8
    rows = [
        p.BatchRow(seq, now - 60, "payment", wid, seq, amount, "EUR", "qr", "T-A", bytes(32), None, bytes(32))
        for seq, wid, amount in ((1, at, 600), (2, at, 400), (3, past, 1001), (4, unknown, 5000))
    ]
    limits = {1: LIMIT, 2: LIMIT, 3: LIMIT, 4: None}
    for cutoff in (now - 30, now - DAY):  # today's sums alone, and with yesterday's (none)
        for one in (True, False):
            assert _first_look(db, rows, limits, cutoff, now, one_statement=one) == [past]


def test_an_answer_for_later_days_than_the_cutoffs_is_refused_not_trusted() -> None:
    now = _now()
    added = wallet_days.Added({}, [], now // DAY)  # worked out from today only
    with pytest.raises(ValueError, match="other days"):
        wallet_days.over_limit(None, {}, now - DAY, now, added)  # type: ignore[arg-type]
    assert wallet_days.over_limit(None, {}, now - 60, now, added) == []  # type: ignore[arg-type]

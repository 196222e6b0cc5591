"""Each wallet's accepted amounts per day of ingest: the cheap first look of the exposure check.

``collector.exposure`` needs, for each wallet of a batch, the accepted amounts stored since a
cutoff and their smallest offline limit. Reading them from ``entries`` visits every stored
payment of the wallet (a commuter's day, a vending customer's week); this table keeps one row
per wallet and day of ingest (``total``, ``min_limit``), added to by every batch in the ingest
transaction. Its sums since the cutoff's day can only be larger, and its limit only smaller,
than the exact ones, so a wallet within its limit here is within it there; only the others are
read from ``entries`` (``collector.exposure``).

The upsert also orders batches of one wallet: on PostgreSQL its row locks are held to the
commit, so of two batches of a wallet the second waits, then sees the first's rows (what
per-wallet advisory locks did, without a separate statement). Wallets are written in sorted
order, so two batches never wait on each other. SQLite holds one writer at a time anyway.

Days older than ``KEEP_DAYS`` are pruned (with the nonces, ``collector.ingest``); a batch whose
cutoff is older than that goes straight to the exact check. A database made before this table
gets it filled from ``entries`` when it is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector.pg_arrays import Byteas, Int8s
from collector.schema import INT64_MAX, TYPES
from pos.wire import protocol as p

if TYPE_CHECKING:
    from collector.db import Tx

DAY = 86400
KEEP_DAYS = 3
_SQLITE_CHUNK = 500  # wallets per statement: 4 parameters each, far below SQLite's 32,766

TABLE = """
CREATE TABLE IF NOT EXISTS wallet_days (
    wallet_id {BLOB} NOT NULL,
    day {INT} NOT NULL,
    total {INT} NOT NULL,
    min_limit {INT},
    PRIMARY KEY (wallet_id, day)
)
"""

# A day's total stops at the databases' largest integer instead of failing the batch: a
# certificate may allow any amount (SPEC 3.2's integers reach 2**64 - 1), and a sum that passes
# 2**63 - 1 is over every limit a database can hold anyway.
_SATURATED = (
    f"CASE WHEN wallet_days.total > {INT64_MAX} - excluded.total THEN {INT64_MAX}"
    " ELSE wallet_days.total + excluded.total END"
)
_UPSERT_PG = (
    "INSERT INTO wallet_days (wallet_id, day, total, min_limit)"
    " SELECT w, ?::bigint, t, l FROM unnest(?::bytea[], ?::bigint[], ?::bigint[]) AS v (w, t, l)"
    " ON CONFLICT (wallet_id, day) DO UPDATE SET total = " + _SATURATED + ","
    " min_limit = least(wallet_days.min_limit, excluded.min_limit)"
    " RETURNING wallet_id, total, min_limit"
)
# The upsert answering only the wallets over their limit by today's sums, or by the sums of the
# days from ``since_day`` (``over_limit``, in the same statement). A NULL limit is no limit
# known: never over (``least`` skips NULLs, as ``smaller_limit`` does). sum() of bigint is
# numeric: no overflow. The earlier days' rows are read in the statement's snapshot: the upsert
# waits only on today's rows, so a batch of an earlier day still open is no more seen by a
# statement after it than by this one (the batches of one day are ordered by today's rows).
_OVER_TODAY_PG = f"WITH up AS ({_UPSERT_PG}) SELECT wallet_id FROM up WHERE total > min_limit"
_OVER_SINCE_PG = (
    f"WITH up AS ({_UPSERT_PG})"
    " SELECT up.wallet_id FROM up LEFT JOIN LATERAL"
    " (SELECT sum(d.total) AS total, min(d.min_limit) AS min_limit FROM wallet_days d"
    " WHERE d.wallet_id = up.wallet_id AND d.day >= ? AND d.day < ?) e ON true"
    " WHERE up.total + coalesce(e.total, 0) > least(up.min_limit, e.min_limit)"
)
_UPSERT_SQLITE = (
    "INSERT INTO wallet_days (wallet_id, day, total, min_limit) VALUES {values}"
    " ON CONFLICT (wallet_id, day) DO UPDATE SET total = " + _SATURATED + ","
    " min_limit = coalesce(min(wallet_days.min_limit, excluded.min_limit),"
    " wallet_days.min_limit, excluded.min_limit)"
    " RETURNING wallet_id, total, min_limit"
)

Totals = dict[bytes, tuple[int, int | None]]  # wallet id -> (total, smallest limit)


def create(tx: Tx, now: int) -> None:
    """The table; filled from the accepted entries of the kept days when it is new."""
    if tx.pg:
        new = tx.one("SELECT to_regclass('wallet_days')")[0] is None
    else:
        new = tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wallet_days'") is None
    tx.execute(TABLE.format(**TYPES["postgres" if tx.pg else "sqlite"]))
    if new:
        tx.execute(
            "INSERT INTO wallet_days (wallet_id, day, total, min_limit)"
            f" SELECT wallet_id, ingested_at / {DAY}, sum(amount), min(offline_limit) FROM entries"
            " WHERE status = 'accepted' AND ingested_at >= ? GROUP BY wallet_id, ingested_at / " + str(DAY),
            ((now // DAY - KEEP_DAYS) * DAY,),
        )


def smaller_limit(a: int | None, b: int | None) -> int | None:
    """The smaller of two offline limits; None is no limit known."""
    if a is None:
        return b
    return a if b is None or a <= b else b


@dataclass
class Added:
    """What ``add`` upserted and read back: today's totals of its wallets; or, on PostgreSQL
    when asked with ``since_day``, only the wallets over their limit by the sums of the days
    from ``since_day`` to today, worked out by the upsert's own statement (``over``)."""

    today: Totals
    over: list[bytes] | None = None
    since_day: int | None = None


def add(
    tx: Tx, fresh: list[p.BatchRow], limits: dict[int, int | None], now: int, since_day: int | None = None
) -> Added:
    """Add these accepted rows to today's rows of their wallets and read today's totals after
    it; on PostgreSQL with ``since_day`` (at most today's), the wallets over their limit by
    the days from ``since_day`` in the same statement instead (``over_limit``'s first look, one
    round trip and a hundred rows fewer). ``limits``: each row's offline limit, by seq."""
    sums: dict[bytes, list[Any]] = {}
    for r in fresh:
        s = sums.setdefault(r.wallet_id, [0, None])
        s[0] = min(s[0] + r.amount, INT64_MAX)
        s[1] = smaller_limit(s[1], limits.get(r.seq))
    wallets = sorted(sums)
    day = now // DAY
    if not tx.pg:
        got = []
        for i in range(0, len(wallets), _SQLITE_CHUNK):
            part = wallets[i : i + _SQLITE_CHUNK]
            sql = _UPSERT_SQLITE.format(values=", ".join(["(?, ?, ?, ?)"] * len(part)))
            got += tx.all(sql, [x for w in part for x in (w, day, sums[w][0], sums[w][1])])
        return Added(_totals(got))
    totals, lims = Int8s([sums[w][0] for w in wallets]), Int8s([sums[w][1] for w in wallets])
    args = [day, Byteas(wallets), totals, lims]
    if since_day is None or since_day > day:
        return Added(_totals(tx.all(_UPSERT_PG, args)))
    if since_day == day:
        over = tx.all(_OVER_TODAY_PG, args)
    else:
        over = tx.all(_OVER_SINCE_PG, [*args, since_day, day])
    return Added({}, [bytes(w) for (w,) in over], since_day)


def _totals(got: list[Any]) -> Totals:
    return {bytes(w): (int(t), None if lim is None else int(lim)) for w, t, lim in got}


def over_limit(tx: Tx, today: Totals, cutoff: int, now: int, added: Added | None = None) -> list[bytes]:
    """The wallets whose accepted amounts since ``cutoff`` may pass their limit (sorted).

    ``added``: an ``add`` that worked them out from a day no later than ``cutoff``'s (more
    days only make the sums larger): its answer, nothing more is read."""
    day, first = now // DAY, cutoff // DAY
    if added is not None and added.over is not None and added.since_day is not None:
        if added.since_day <= first and first >= day - KEEP_DAYS:
            return sorted(added.over)
        raise ValueError("add() answered for other days than this cutoff needs")
    if first < day - KEEP_DAYS:
        return sorted(today)  # older than the kept days: the exact check decides for all
    totals = dict(today)
    if first < day and totals:
        where, params = tx.in_clause("wallet_id", sorted(totals))
        for wid, total, lim in tx.all(  # summed here: SQLite's sum() fails past 2**63 - 1
            f"SELECT wallet_id, total, min_limit FROM wallet_days WHERE day >= ? AND day < ? AND {where}",
            [first, day, *params],
        ):
            t, m = totals[bytes(wid)]
            totals[bytes(wid)] = (t + int(total), smaller_limit(m, None if lim is None else int(lim)))
    return sorted(w for w, (t, lim) in totals.items() if lim is not None and t > lim)


def prune(tx: Tx, now: int) -> None:
    tx.execute("DELETE FROM wallet_days WHERE day < ?", (now // DAY - KEEP_DAYS - 1,))

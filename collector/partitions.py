"""The payments table on PostgreSQL: partitioned by the month the collector stored a row.

``entries`` is declaratively partitioned by range of ``ingested_at`` (the collector's own
clock, never a time a terminal states), one partition per UTC month (``entries_pYYYYMM``),
created ahead: this month and the next two at start, and again whenever ingest meets a month
not made yet (``Database.ensure_partitions``). A month therefore stops growing when it ends,
which is what lets ``pos collector archive`` settle and drop whole months.

A unique index on a partitioned table must include the partition key, so (wallet id, counter)
once across the fleet cannot be an index of ``entries``: it is the ``claims`` table (not
partitioned, keyed by (wallet id, counter), naming the entry that holds it and until when its
certificate is valid). Claims outlive archived months; ``prune_claims`` deletes those whose
certificate expired more than the clock skew ago (SPEC 1: such a wallet can no longer pay).

Databases made before this layout (an unpartitioned ``entries``) keep working as they are: the
claims table is added and filled from their accepted entries once, at the first start; only
``archive`` refuses them (``layout`` says which one a database has).
"""

from __future__ import annotations

import calendar
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.db import Database, Tx

# Columns in alignment order (the 8-byte integers first, then the variable-length ones, the
# token last): no padding between them. Two columns are stored only where they say something
# the row does not (``collector.payments``): ``row_terminal_id`` is NULL when it is the
# uploading terminal's id, ``token_digest`` is NULL when the token is stored (its SHA-256,
# checked at ingest). Readers use ``ROW_TERMINAL_SQL`` and ``collector.schema.token_digest_sql``.
ENTRIES_PG = """
CREATE TABLE IF NOT EXISTS entries (
    seq BIGINT NOT NULL,
    time BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    offline_limit BIGINT,
    ingested_at BIGINT NOT NULL,
    reversed_seq BIGINT,
    terminal_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    wallet_id BYTEA NOT NULL,
    counter BYTEA NOT NULL,
    currency TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    row_terminal_id TEXT,
    token_digest BYTEA,
    hash BYTEA NOT NULL,
    token BYTEA,
    PRIMARY KEY (terminal_id, seq, ingested_at)
) PARTITION BY RANGE (ingested_at)
"""

# Indexes of the partitioned table (each partition gets its own); docs/scale.md, "Storage and indexes".
# A database made by an older collector keeps the indexes it has (the same names).
INDEXES_PG = [
    # Exposure check (accepted amounts and limits of a wallet since a time) and the console's
    # search by wallet id. No INCLUDE: the rows it finds are recent, so not yet all-visible,
    # and an index-only scan visits their heap pages anyway.
    "CREATE INDEX IF NOT EXISTS entries_wallet ON entries (wallet_id, ingested_at)",
    # The console's time ranges, keyset-paginated on (time, terminal_id, seq): the index walks
    # time, an incremental sort orders the few rows of one second by terminal and seq (a
    # quarter of the index's size; an older database keeps its three-column one).
    "CREATE INDEX IF NOT EXISTS entries_time ON entries (time)",
]

# A database made before the compact columns: they may hold NULL from now on (no rewrite).
_NULLABLE = ("row_terminal_id", "token_digest")

CLAIMS_PG = """
CREATE TABLE IF NOT EXISTS claims (
    wallet_id BYTEA NOT NULL,
    counter BYTEA NOT NULL,
    terminal_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ingested_at BIGINT NOT NULL,
    until BIGINT,
    PRIMARY KEY (wallet_id, counter)
);
CREATE TABLE IF NOT EXISTS claims_horizon (
    one INT PRIMARY KEY CHECK (one = 1),
    until BIGINT NOT NULL
)
"""

MONTHS_AHEAD = 2
# Advisory lock between ingest (shared, from its nonce claim to its commit) and ``prune_claims``
# (exclusive): a batch that read the claims horizon cannot claim a pair the pruning frees.
CLAIMS_PRUNE_LOCK_KEY = 0x4F575433


def month_of(t: int) -> tuple[int, int]:
    tm = time.gmtime(t)
    return tm.tm_year, tm.tm_mon


def month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0))


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def partition_name(year: int, month: int) -> str:
    return f"entries_p{year:04d}{month:02d}"


def layout(tx: Tx) -> str:
    """``partitioned``, ``unpartitioned`` (a database made before), or ``none`` (no table yet)."""
    row = tx.one("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('entries')")
    if row is None:
        return "none"
    return "partitioned" if row[0] == "p" else "unpartitioned"


def create(tx: Tx) -> None:
    """The entries table (partitioned when new), its indexes, and the claims table (backfilled
    from an older database's accepted entries when it is first made)."""
    kind = layout(tx)
    if kind == "none":
        tx.execute(ENTRIES_PG)
    fresh_claims = tx.one("SELECT to_regclass('claims')")[0] is None
    for stmt in CLAIMS_PG.split(";"):
        tx.execute(stmt)
    if kind == "unpartitioned" and fresh_claims:
        tx.execute(
            "INSERT INTO claims (wallet_id, counter, terminal_id, seq, ingested_at, until)"
            " SELECT wallet_id, counter, terminal_id, seq, ingested_at, NULL FROM entries"
            " WHERE status = 'accepted' ON CONFLICT DO NOTHING"
        )
    for sql in INDEXES_PG:
        tx.execute(sql)
    _allow_null(tx)


def _allow_null(tx: Tx) -> None:
    """Drop NOT NULL from the compact columns where an older collector made them so (checked
    first: the ALTER takes the table's exclusive lock, so it runs once, not at every start)."""
    strict = [
        name
        for (name,) in tx.all(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('entries')"
            " AND attnotnull AND attname = ANY(?::text[])",
            [list(_NULLABLE)],
        )
    ]
    if strict:
        tx.execute("ALTER TABLE entries " + ", ".join(f"ALTER COLUMN {c} DROP NOT NULL" for c in strict))


def existing_months(tx: Tx) -> list[tuple[int, int]]:
    rows = tx.all(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass('entries')"
    )
    out = []
    for (name,) in rows:
        if name.startswith("entries_p") and name[9:].isdigit() and len(name) == 15:
            out.append((int(name[9:13]), int(name[13:15])))
    return sorted(out)


def ensure(tx: Tx, now: int, ahead: int = MONTHS_AHEAD) -> list[tuple[int, int]]:
    """Partitions for the month of ``now`` and ``ahead`` more (the caller holds the schema lock)."""
    if layout(tx) != "partitioned":
        return []
    have = set(existing_months(tx))
    ym = month_of(now)
    made = []
    for _ in range(ahead + 1):
        if ym not in have:
            ensure_month(tx, ym)
            made.append(ym)
        ym = next_month(*ym)
    return made


def ensure_month(tx: Tx, ym: tuple[int, int]) -> None:
    lo, hi = month_start(*ym), month_start(*next_month(*ym))
    tx.execute(
        f"CREATE TABLE IF NOT EXISTS {partition_name(*ym)} PARTITION OF entries"
        f" FOR VALUES FROM ({lo}) TO ({hi})"
    )


def raise_claims_horizon(tx: Tx, now: int, skew: int) -> int:
    """Record that claims of certificates expired before ``now - skew`` may be gone: ingest
    rejects a later payment under such a certificate (``collector.claims``), as its single use
    can no longer be checked. Waits for the batches being ingested (the pruning lock), and
    batches that start before this commits wait for it, then read the new horizon."""
    horizon = now - skew
    tx.lock_global(CLAIMS_PRUNE_LOCK_KEY)
    tx.execute(
        "INSERT INTO claims_horizon (one, until) VALUES (1, ?)"
        " ON CONFLICT (one) DO UPDATE SET until = greatest(claims_horizon.until, excluded.until)",
        (horizon,),
    )
    return horizon


def delete_claims_before(tx: Tx, horizon: int) -> int:
    """Delete the claims of certificates expired before ``horizon``, once it is committed (no
    batch tries to claim such a pair after that, so this needs no lock and ingest goes on)."""
    cur = tx.execute("DELETE FROM claims WHERE until IS NOT NULL AND until < ?", (horizon,))
    return max(0, int(cur.rowcount))


def prune_claims(tx: Tx, now: int, skew: int) -> int:
    """Both in one transaction (the pruning lock held through the ``DELETE``)."""
    return delete_claims_before(tx, raise_claims_horizon(tx, now, skew))


def storage_stats(db: Database) -> dict[str, Any]:
    """What the payments take on disk: rows of ``entries``, bytes of its tables and indexes
    (every partition) and of the claims, and bytes per stored payment. PostgreSQL measures
    ``pg_total_relation_size``; SQLite the whole file (every table: an upper bound)."""
    with db.read() as tx:
        rows = int(tx.one("SELECT count(*) FROM entries")[0])
        if tx.pg:
            parts = tx.one(
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits"
                " WHERE inhparent = to_regclass('entries')"
            )[0]
            entries = int(parts) + int(tx.one("SELECT pg_total_relation_size('entries')")[0])
            claims = int(tx.one("SELECT pg_total_relation_size('claims')")[0])
        else:
            pages, size = tx.one("PRAGMA page_count")[0], tx.one("PRAGMA page_size")[0]
            entries, claims = int(pages) * int(size), 0
    per = round((entries + claims) / rows, 1) if rows else 0.0
    return {"rows": rows, "entries_bytes": entries, "claims_bytes": claims, "bytes_per_payment": per}

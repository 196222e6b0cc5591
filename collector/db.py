"""One schema, two databases: SQLite (default, one file) and PostgreSQL (fleets, psycopg 3).

SQL is written once with ``?`` placeholders and the few type names that differ are filled in per
dialect (the tables: ``collector.schema``). SQLite: WAL, ``synchronous=FULL`` (an
acknowledgement lets the terminal forget a row, so it must be on disk first; the ingest's
commit is synced just after the write lock instead, ``collector.wal_sync``), writers serialised
by a lock and ``BEGIN IMMEDIATE``. PostgreSQL: a small connection pool (psycopg_pool); ingest
serialises per terminal with ``SELECT ... FOR UPDATE`` on the terminal's row, per (wallet id,
counter) with the claims' unique index and per wallet with the rows of ``wallet_days``, each
taken in sorted order, so concurrent batches from many terminals never deadlock and never both
miss a double spend or an exposure over the limit. There the payments table is
partitioned by month and single use is the claims table (``collector.partitions``);
``Tx.pipeline`` sends several statements in one round trip.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from collector import partitions, pg_arrays, wallet_days
from collector.console import schema as console_schema
from collector.schema import ENTRIES_SQLITE, TYPES, schema_for
from collector.wal_sync import WalSync, WalSyncError

_ARRAY_PARAM = re.compile(r"\?(?=::\w+\[\])")
_POOL_WAIT_S = 60.0  # a request waits this long for a pooled connection before 503
SCHEMA_LOCK_KEY = 0x4F575432  # advisory lock key (collector.lists uses 0x4F575431)
WAL_CHECKPOINT_PAGES = 10_000  # SQLite: see ``Database._sqlite_conn``


class DatabaseError(Exception):
    """The collector's database is unreachable or refused a statement."""


def ckey(counter: int) -> bytes:
    return counter.to_bytes(8, "big")


def cvalue(stored: Any) -> int:
    return int.from_bytes(bytes(stored), "big")


class Tx:
    """A transaction (or a read) on one connection, with ``?`` placeholders on both dialects.

    ``lazy``: PostgreSQL, ``Database.write(lazy=True)``: the ``BEGIN`` is not sent on entry but
    with the first statement (in the block's first pipeline, in the same round trip), and
    ``commit_last`` puts the ``COMMIT`` into the last pipeline: two round trips a batch fewer.
    """

    def __init__(self, conn: Any, dialect: str, *, lazy: bool = False) -> None:
        self.conn = conn
        self.dialect = dialect
        self.pg = dialect == "postgres"
        self.lazy = lazy and self.pg
        self.begin_owed = self.lazy
        self.committed = False

    def begin(self) -> None:
        """Send the ``BEGIN`` a lazy transaction still owes (queued, in a pipeline)."""
        if self.begin_owed:
            self.begin_owed = False
            self.conn.execute("BEGIN")

    def commit_last(self) -> None:
        """A lazy transaction's ``COMMIT``, queued as the last call of its last pipeline block,
        after which nothing may fail in Python: the block's end sends it with what was queued
        before and waits for all of it, so the block ends only once the commit is durable; a
        statement before it that fails makes the server skip it (then ``write`` rolls back).
        Elsewhere (SQLite, an eager transaction) the block's end commits as before."""
        if self.lazy and not self.begin_owed and not self.committed:
            self.conn.execute("COMMIT")
            self.committed = True

    def _sql(self, sql: str) -> str:
        """``?`` placeholders; on PostgreSQL an array parameter (``?::bytea[]``) goes in binary
        (measured: a 500-element array of ids costs 8x less to send than as text)."""
        if not self.pg:
            return sql
        return _ARRAY_PARAM.sub("%b", sql).replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.begin_owed:
            self.begin()
        return self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.pg:
            self.begin()
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)
        else:
            self.conn.executemany(sql, rows)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """PostgreSQL: the statements in the block go out together, one round trip (a fetch in
        the block waits for what was sent before it); SQLite: nothing to do."""
        if not self.pg:
            yield
            return
        with self.conn.pipeline():
            yield

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    def in_clause(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column IN (...)`` as SQL and parameters, one array parameter on PostgreSQL."""
        if self.pg:
            if values and isinstance(values[0], bytes):
                return f"{column} = ANY(?::bytea[])", [pg_arrays.Byteas(values)]
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def lock_global(self, key: int) -> None:
        if self.pg:
            self.execute("SELECT pg_advisory_xact_lock(?)", [key])


class Database:
    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.dialect, self._target = parse_url(url)
        self.pool_size = pool_size
        self._lock = threading.RLock()
        self._sqlite: sqlite3.Connection | None = None
        self._wal = WalSync(self._target)
        self._pool: Any = self._pg_pool() if self.dialect == "postgres" else None
        self._months: set[tuple[int, int]] = set()
        self.layout = "sqlite"
        with self.write() as tx:
            # Two nodes starting on one PostgreSQL database at once: CREATE TABLE IF NOT EXISTS
            # is not atomic there (a UniqueViolation on pg_type), so creation is serialised.
            tx.lock_global(SCHEMA_LOCK_KEY)
            for stmt in schema_for(self.dialect).split(";"):
                if stmt.strip():
                    tx.execute(stmt)
            console_schema.upgrade(tx)
            if self.dialect == "postgres":
                partitions.create(tx)
                self.layout = partitions.layout(tx)
            else:
                for stmt in ENTRIES_SQLITE.format(**TYPES["sqlite"]).split(";"):
                    if stmt.strip():
                        tx.execute(stmt)
            wallet_days.create(tx, int(time.time()))
        self.ensure_partitions(int(time.time()))

    def ensure_partitions(self, now: int) -> None:
        """PostgreSQL, partitioned: the partitions of ``now``'s month and the next ones exist
        (a set lookup when they do; else made under the schema lock, outside any ingest)."""
        if self.layout != "partitioned":
            return
        ym = partitions.month_of(now)
        if ym in self._months and partitions.next_month(*ym) in self._months:
            return
        with self.write() as tx:
            tx.lock_global(SCHEMA_LOCK_KEY)
            partitions.ensure(tx, now)
            self._months.update(partitions.existing_months(tx))

    # -- connections ------------------------------------------------------------------------
    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._sqlite is None:
            Path(self._target).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._target, isolation_level=None, check_same_thread=False, timeout=30)
            self._wal.setup(conn, conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")  # 64 MB: the indexes are keyed by random ids
            # A checkpoint every 10,000 WAL pages (40 MB), not SQLite's 1,000: a batch dirties a
            # page per row in each random-key index, and a page rewritten by many commits is
            # copied to the database once per checkpoint. The WAL is cut back to 64 MB after one.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={64 << 20}")
            self._sqlite = conn
        return self._sqlite

    def _pg_pool(self) -> Any:
        """psycopg_pool: it replaces a connection the server dropped and opens them on demand
        up to ``pool_size``; autocommit, so a read takes no transaction."""
        from psycopg_pool import ConnectionPool, PoolTimeout

        pool = ConnectionPool(
            self._target,
            min_size=1,
            max_size=max(1, self.pool_size),
            kwargs={"autocommit": True, "connect_timeout": 10},
            timeout=_POOL_WAIT_S,
            open=False,
            name="collector",
            configure=pg_arrays.register,
        )
        try:
            pool.open(wait=True, timeout=15)
        except PoolTimeout as exc:
            pool.close()
            raise DatabaseError(f"cannot connect to PostgreSQL: {exc}") from exc
        return pool

    @contextmanager
    def write(self, *, lazy: bool = False) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on any exception.

        ``lazy`` (the ingest's transaction): on PostgreSQL ``BEGIN`` and ``COMMIT`` ride in the
        block's pipelines (``Tx``); on SQLite the commit is synced to disk after the write lock
        is released, before ``write`` returns (``collector.wal_sync``)."""
        if self.dialect == "sqlite":
            with self._lock:
                conn = self._sqlite_conn()
                owed = self._wal.before(conn, deferred=lazy)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(conn, "sqlite")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            if owed:
                try:
                    self._wal.sync()
                except WalSyncError as exc:
                    raise DatabaseError(str(exc)) from exc
            return
        if not lazy:
            with self._pool.connection() as conn, conn.transaction():
                yield Tx(conn, "postgres")
            return
        with self._pool.connection() as conn:
            tx = Tx(conn, "postgres", lazy=True)
            try:
                yield tx
                tx.commit_last()  # unless the block's last pipeline did
            except BaseException:
                _roll_back(conn)
                raise

    @contextmanager
    def read(self) -> Iterator[Tx]:
        if self.dialect == "sqlite":
            with self._lock:
                yield Tx(self._sqlite_conn(), "sqlite")
            return
        with self._pool.connection() as conn:
            yield Tx(conn, "postgres")

    @contextmanager
    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Iterator[Any]]:
        """Rows of a large query without holding them all (a server-side cursor on PostgreSQL)."""
        if self.dialect == "sqlite":
            path = self._target
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                yield iter(conn.execute(sql, params))
            finally:
                conn.close()
            return
        with self._pool.connection() as conn, conn.transaction(), conn.cursor(name="export") as cur:
            cur.itersize = 2000
            cur.execute(sql.replace("?", "%s"), params)
            yield iter(cur)

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
        if self._pool is not None:
            self._pool.close()


def _roll_back(conn: Any) -> None:
    """End a lazy transaction that failed (a failed COMMIT has ended it already); a broken
    connection is left to the pool, which replaces it."""
    from psycopg import pq

    if conn.closed or conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        return
    try:
        conn.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the batch's own error is the one to report
        conn.close()


def parse_url(url: str) -> tuple[str, str]:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or a bare path; ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres", url
    if url.startswith("sqlite://"):
        parts = urlsplit(url)
        if parts.netloc:
            raise ValueError(f"{url!r}: write sqlite:///relative.db or sqlite:////absolute/path.db")
        path = unquote(parts.path)
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ValueError(f"{url!r} names no file")
        return "sqlite", path
    if "://" in url:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")
    return "sqlite", url

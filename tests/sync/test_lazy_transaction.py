"""PostgreSQL: the ingest's transaction sends its BEGIN and COMMIT inside its pipelines.

``Database.write(lazy=True)`` saves the two round trips a batch spent on them. What it must
keep: nothing of a block that fails is stored, whether the failure is the server's (inside
the pipeline that carries the COMMIT) or Python's; a block that ends after ``commit_last``
has committed (the answer to a terminal follows it); the pooled connection comes back idle.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.db import Database
from tests.sync.pg import PgCluster


@pytest.fixture
def db(pg_cluster: PgCluster) -> Iterator[Database]:
    database = Database(pg_cluster.new_database(), pool_size=1)
    with database.write() as tx:
        tx.execute("CREATE TABLE lazy_t (k BIGINT PRIMARY KEY)")
    yield database
    database.close()


def _keys(db: Database) -> list[int]:
    with db.read() as tx:
        return [int(k) for (k,) in tx.all("SELECT k FROM lazy_t ORDER BY k")]


def _idle(db: Database) -> bool:
    from psycopg import pq

    with db._pool.connection() as conn:  # the pool's one connection
        return bool(conn.pgconn.transaction_status == pq.TransactionStatus.IDLE)


class Boom(Exception):
    pass


def test_a_block_that_commits_in_its_last_pipeline_is_stored_when_the_pipeline_ends(db: Database) -> None:
    seen_inside: list[int] = []
    with db.write(lazy=True) as tx:
        with tx.pipeline():
            tx.execute("INSERT INTO lazy_t VALUES (?)", (1,))
            tx.execute("INSERT INTO lazy_t VALUES (?)", (2,))
            tx.commit_last()
        other = Database(db.url, pool_size=1)  # another connection sees it before the block ends
        try:
            seen_inside = _keys(other)
        finally:
            other.close()
    assert seen_inside == [1, 2]
    assert _keys(db) == [1, 2] and _idle(db)


def test_a_statement_failing_before_the_commit_in_its_pipeline_stores_nothing(db: Database) -> None:
    with pytest.raises(Exception, match="duplicate key"), db.write(lazy=True) as tx:
        tx.execute("INSERT INTO lazy_t VALUES (?)", (1,))
        with tx.pipeline():
            tx.execute("INSERT INTO lazy_t VALUES (?)", (2,))
            tx.execute("INSERT INTO lazy_t VALUES (?)", (1,))  # the same key: refused
            tx.commit_last()
    assert _keys(db) == [] and _idle(db)


def test_python_failing_after_statements_were_sent_stores_nothing(db: Database) -> None:
    with pytest.raises(Boom), db.write(lazy=True) as tx:
        with tx.pipeline():
            tx.execute("INSERT INTO lazy_t VALUES (?)", (1,))
        tx.execute("INSERT INTO lazy_t VALUES (?)", (2,))
        raise Boom
    with pytest.raises(Boom), db.write(lazy=True) as tx, tx.pipeline():
        tx.execute("INSERT INTO lazy_t VALUES (?)", (3,))  # queued, then sent as the block fails
        raise Boom
    assert _keys(db) == [] and _idle(db)


def test_a_block_left_without_commit_last_commits_at_its_end(db: Database) -> None:
    with db.write(lazy=True) as tx:
        tx.execute("INSERT INTO lazy_t VALUES (?)", (5,))
    assert _keys(db) == [5] and _idle(db)


def test_a_block_that_sends_nothing_sends_no_begin(db: Database) -> None:
    with db.write(lazy=True) as tx:
        assert tx.begin_owed
    assert _idle(db)


def test_failed_blocks_leave_the_connections_prepared_statements_usable(db: Database) -> None:
    """psycopg prepares a statement from its sixth run, inside whatever pipeline it is in: a
    pipeline that fails while a statement is being prepared must not leave the connection
    believing in a statement the server never made."""
    stored = []
    for i in range(1, 15):
        fail = i % 3 == 0
        try:
            with db.write(lazy=True) as tx:
                with tx.pipeline():
                    tx.execute("INSERT INTO lazy_t VALUES (?)", (i,))
                    tx.execute("INSERT INTO lazy_t VALUES (?)", (1 if fail else -i,))
                    tx.commit_last()
        except Exception as exc:  # noqa: BLE001
            assert fail and "duplicate key" in str(exc)
        else:
            assert not fail
            stored += [-i, i]
    assert _keys(db) == sorted(stored) and _idle(db)

"""SQLite: the ingest's commit reaches the disk after the write lock and before any answer.

The ingest commits with ``synchronous=NORMAL`` and syncs the WAL itself once the lock is free
(``collector.wal_sync``), so other writers do not wait for its disk; every other write stays
``FULL``. Real SQLite files; ``os.fdatasync`` is watched (and made to fail) where it is called,
the sync itself is the real one.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from collector.db import Database, DatabaseError
from collector.wal_sync import WalSync
from pos.wire import protocol as p
from tests.sync.harness import SchemeEnv
from tests.sync.test_storage import Clock, Term, _collector


def _lock_is_free(db: Database) -> bool:
    """Whether another thread could take the database's lock now (it is re-entrant in ours)."""
    free: list[bool] = []

    def probe() -> None:
        got = db._lock.acquire(blocking=False)
        if got:
            db._lock.release()
        free.append(got)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return free[0]


def _watch_syncs(mp: pytest.MonkeyPatch, db: Database, events: list[Any], fail: bool = False) -> None:
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("sync", Path(path).name, _lock_is_free(db)))
        if fail:
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    mp.setattr(os, "fdatasync", fdatasync)


def _trace(db: Database, events: list[Any]) -> None:
    db._sqlite_conn().set_trace_callback(lambda sql: events.append(("sql", sql.split()[0].upper(), None)))


def test_an_ingest_commit_is_synced_after_the_lock_is_released_and_before_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        events: list[Any] = []
        _trace(db, events)
        _watch_syncs(monkeypatch, db, events)
        with db.write(lazy=True) as tx:
            tx.execute("INSERT INTO nonces (terminal_id, nonce, seen_at) VALUES ('T', x'01', 1)")
            assert tx.one("PRAGMA synchronous")[0] == 1  # NORMAL: the commit itself does not sync
        events.append(("returned", None, None))
        kinds = [(k, what) for k, what, _ in events if k != "sql" or what in ("BEGIN", "COMMIT")]
        assert kinds == [("sql", "BEGIN"), ("sql", "COMMIT"), ("sync", "c.db-wal"), ("returned", None)]
        assert [free for k, _, free in events if k == "sync"] == [True]
    finally:
        db.close()


def test_every_other_write_commits_with_full_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        events: list[Any] = []
        _watch_syncs(monkeypatch, db, events)
        with db.write(lazy=True) as tx:
            tx.execute("INSERT INTO nonces (terminal_id, nonce, seen_at) VALUES ('T', x'01', 1)")
        with db.write() as tx:
            assert tx.one("PRAGMA synchronous")[0] == 2  # FULL: durable before anyone sees it
            tx.execute("INSERT INTO nonces (terminal_id, nonce, seen_at) VALUES ('T', x'02', 1)")
        assert len(events) == 1  # the ingest's own sync; FULL commits sync inside SQLite
        with db.write(lazy=True) as tx:
            assert tx.one("PRAGMA synchronous")[0] == 1
    finally:
        db.close()


def test_a_database_not_in_wal_mode_syncs_every_commit_itself(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    try:
        wal = WalSync(str(tmp_path / "c.db"))
        wal.setup(conn, conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0])
        assert wal.before(conn, deferred=True) is False
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        conn.close()


def test_a_batch_whose_sync_fails_is_not_acknowledged_and_its_resend_is_stored_once(
    env: SchemeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    coll = _collector(env, f"sqlite:///{tmp_path / 'c.db'}", Clock(env.now))
    try:
        term = Term(coll, tmp_path / "t", "T-SYNC", env.now)
        wallet = env.wallet()
        prev = term.prev
        rows = term.rows([(wallet.token(max_amount=5, now=env.now), 5) for _ in range(3)], env.now)
        events: list[Any] = []
        with monkeypatch.context() as m:
            _watch_syncs(m, coll.db, events, fail=True)
            with pytest.raises(DatabaseError, match="syncing the SQLite WAL failed"):
                term.send(rows, prev, env.now)  # answered 503 storage_unavailable
        assert [name for _, name, _ in events] == ["c.db-wal"]
        again = term.send(rows, prev, env.now)  # the same rows, a new nonce
        assert [r[1:] for r in again] == [[p.DUPLICATE, "duplicate"]] * 3
        with coll.db.read() as tx:
            assert tx.one("SELECT count(*) FROM entries WHERE terminal_id = 'T-SYNC'")[0] == 3
    finally:
        coll.close()

"""SQLite: the ingest's commit made durable after the write lock, not under it.

SQLite has one writer at a time across every serving process. With ``synchronous=FULL`` a
commit holds that lock through the WAL's ``fsync`` (measured: 2-4 ms a batch, longer than the
transaction's own work), so the other processes' batches queue behind the disk. The ingest's
transaction instead commits with ``synchronous=NORMAL`` (the frames are written to the WAL, not
synced) and, once the lock is released, ``WalSync.sync`` syncs the WAL file before the caller
goes on: the answer that lets a terminal forget its rows still leaves only after its rows are
on disk, and the other writers wait for the transaction's work only.

Why that is as durable as FULL for what anyone is told:

- The WAL is one file that frames are appended to; recovery after a power loss replays it up
  to the last commit frame whose checksum chain holds. Syncing it makes every frame written so
  far durable: this transaction's and every one committed before it.
- A transaction that read this one's rows (a double spend found against them, a deny-list
  entry built on them) commits after it, into the same WAL, and is acknowledged only after its
  own sync, which covers this one's frames: nothing durable depends on anything lost.
- When the WAL is reused after a checkpoint, SQLite (``NORMAL`` included) has synced the WAL
  before the checkpoint and the database after it, and syncs the new header.
- A new WAL file's directory entry is synced the first time its inode is seen.
- Everything else (enrolments, lists, operator actions) commits with ``FULL``: durable before
  any other connection sees it.

What is given up: for a few milliseconds another reader (the console, an export) may see an
ingested batch that a power loss would then take back; the terminal, not acknowledged, sends it
again and it is stored as it was. A database that is not in WAL mode (a file system without
shared memory) keeps ``FULL`` for every commit.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from pos.fsutil import fsync_dir

FULL, NORMAL = 2, 1


class WalSyncError(OSError):
    """The WAL could not be synced: the transaction is committed but may not be on disk
    (``collector.db`` answers it as the storage being unavailable: the terminal sends again)."""


class WalSync:
    """The WAL of one SQLite database, synced from outside SQLite after a ``NORMAL`` commit."""

    def __init__(self, db_path: str) -> None:
        self.wal = db_path + "-wal"
        self.db_path = db_path
        self.enabled = False  # set by ``setup``: the database is in WAL mode
        self.mode = FULL
        self._inode = -1

    def setup(self, conn: sqlite3.Connection, journal_mode: str) -> None:
        """After ``PRAGMA journal_mode=WAL`` answered ``journal_mode``: commits are ``FULL``."""
        self.enabled = journal_mode.lower() == "wal"
        conn.execute("PRAGMA synchronous=FULL")
        self.mode = FULL

    def before(self, conn: sqlite3.Connection, *, deferred: bool) -> bool:
        """Before ``BEGIN``: the mode the next commit needs; whether ``sync`` is owed after it."""
        deferred = deferred and self.enabled
        want = NORMAL if deferred else FULL
        if want != self.mode:
            conn.execute(f"PRAGMA synchronous={want}")
            self.mode = want
        return deferred

    def sync(self) -> None:
        """Make every committed frame durable (``WalSyncError`` if the disk refuses)."""
        try:
            fd = self._open()
            try:
                inode = os.fstat(fd).st_ino
                os.fdatasync(fd)
                if inode != self._inode:
                    fsync_dir(Path(self.db_path).parent)
                    self._inode = inode
            finally:
                os.close(fd)
        except OSError as exc:
            raise WalSyncError(exc.errno, f"syncing the SQLite WAL failed: {exc.strerror}") from exc

    def _open(self) -> int:
        try:
            return os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            # No WAL: the last connection checkpointed it into the database and removed it.
            return os.open(self.db_path, os.O_RDONLY)

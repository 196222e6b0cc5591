"""When each terminal last fetched a list, for the console's fleet page.

Recorded on signed deny-list requests (``collector.routes.lists``), after the signature check:
an unsigned or forged claim of a terminal id never records a fetch. A fetch is a read, and most
polls are a 304 answered from memory, so the record is thinned out: each serving process checks
the signature and notes a terminal's time at most once per ``EVERY_S`` (the fleet page shows
minutes; a terminal polling every 60 s costs one check in five polls), and the noted times are
written together, one statement per ``FLUSH_S`` for all of them, by a thread of the serving
process (a stop loses at most that second of fetch times, which the next poll writes again).
The serving processes of one node share the noted times (``share_between_processes``, before
they are forked), so a terminal costs one check per ``EVERY_S`` per node, not per process.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import threading
import time

from collector.db import Database

log = logging.getLogger("collector.fetches")

EVERY_S = 300
FLUSH_S = 1.0
_last: dict[str, float] = {}
_pending: dict[str, int] = {}  # terminal id -> fetch time, checked and waiting for the write
_lock = threading.Lock()
_MAX_REMEMBERED = 100_000
_writer: list[threading.Thread] = []  # this process's flushing thread, started at the first note
_target: list[Database] = []  # the database of the latest note (one per serving process)
_UPSERT = (
    "INSERT INTO list_fetches (terminal_id, at) VALUES (?, ?)"
    " ON CONFLICT (terminal_id) DO UPDATE SET at = excluded.at"
)


_shared: list[memoryview] = []  # the node's table of noted times, when its processes share one


def share_between_processes(slots: int = 1 << 18) -> None:
    """Note fetch times in memory that processes forked after this call share: one 64-bit word
    per slot, a 32-bit tag of the terminal id and the 32-bit time (one aligned store, so a
    reader never sees half of it). Two ids in one slot evict each other: an extra check, never
    a skipped one for an id that was not noted."""
    _shared[:] = [memoryview(mmap.mmap(-1, 8 * slots)).cast("Q")]


def _slot(tid: str) -> tuple[memoryview, int, int] | None:
    if not _shared:
        return None
    h = int.from_bytes(hashlib.blake2b(tid.encode(), digest_size=8).digest(), "little")
    table = _shared[0]
    return table, (h >> 32) % len(table), h & 0xFFFFFFFF


def _noted_at(tid: str) -> float:
    where = _slot(tid)
    if where is None:
        return _last.get(tid, 0.0)
    table, i, tag = where
    word = table[i]
    return float(word & 0xFFFFFFFF) if word >> 32 == tag else 0.0


def due(tid: str | None, now: float | None = None) -> bool:
    """Whether ``tid``'s fetch time is older here than ``EVERY_S`` (the id is only claimed yet:
    ``note`` runs after the signature check)."""
    if tid is None:
        return False
    now = time.time() if now is None else now
    with _lock:
        return now - _noted_at(tid) >= EVERY_S


def note(db: Database, tid: str, now: float | None = None) -> None:
    """Record that ``tid`` (whose signature was checked) fetched a list ``now``; written within
    ``FLUSH_S`` by this process's writer thread."""
    now = time.time() if now is None else now
    with _lock:
        if now - _noted_at(tid) < EVERY_S:
            return
        where = _slot(tid)
        if where is not None:
            table, i, tag = where
            table[i] = tag << 32 | (int(now) & 0xFFFFFFFF)
        else:
            if len(_last) >= _MAX_REMEMBERED:
                _last.clear()
            _last[tid] = now
        _pending[tid] = int(now)
        _target[:] = [db]
        if not _writer or not _writer[0].is_alive():
            _writer[:] = [threading.Thread(target=_write_every, name="fetch-times", daemon=True)]
            _writer[0].start()


def flush(db: Database) -> int:
    """Write the noted fetch times in one statement; how many."""
    with _lock:
        rows = sorted(_pending.items())  # a fixed order: concurrent writers lock rows alike
        _pending.clear()
    if rows:
        try:
            with db.write() as tx:
                tx.executemany(_UPSERT, rows)
        except Exception:
            with _lock:
                for tid, at in rows:  # tried again at the next flush unless a newer time came
                    _pending[tid] = max(at, _pending.get(tid, 0))
            raise
    return len(rows)


def _write_every() -> None:
    while True:
        time.sleep(FLUSH_S)
        try:
            flush(_target[0])
        except Exception:  # storage down: the rows wait for the next round
            log.exception("could not record list fetch times")

"""When each terminal last fetched a list, for the console's fleet page.

Recorded on signed deny-list requests (``collector.routes.lists``), after the signature check:
an unsigned or forged claim of a terminal id never records a fetch. A fetch is a read, and most
polls are a 304 answered from memory, so the record is thinned out: each serving process checks
the signature and notes a terminal's time at most once per ``EVERY_S`` (the fleet page shows
minutes; a terminal polling every 60 s costs one check in five polls), and the noted times are
written together, one statement per ``FLUSH_S`` for all of them, by a thread of the serving
process (a stop loses at most that second of fetch times, which the next poll writes again).
"""

from __future__ import annotations

import logging
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
_UPSERT = (
    "INSERT INTO list_fetches (terminal_id, at) VALUES (?, ?)"
    " ON CONFLICT (terminal_id) DO UPDATE SET at = excluded.at"
)


def due(tid: str | None, now: float | None = None) -> bool:
    """Whether ``tid``'s fetch time is older here than ``EVERY_S`` (the id is only claimed yet:
    ``note`` runs after the signature check)."""
    if tid is None:
        return False
    now = time.time() if now is None else now
    with _lock:
        return now - _last.get(tid, 0.0) >= EVERY_S


def note(db: Database, tid: str, now: float | None = None) -> None:
    """Record that ``tid`` (whose signature was checked) fetched a list ``now``; written within
    ``FLUSH_S`` by this process's writer thread."""
    now = time.time() if now is None else now
    with _lock:
        if now - _last.get(tid, 0.0) < EVERY_S:
            return
        if len(_last) >= _MAX_REMEMBERED:
            _last.clear()
        _last[tid] = now
        _pending[tid] = int(now)
        if not _writer or not _writer[0].is_alive():
            _writer[:] = [threading.Thread(target=_write_every, args=(db,), name="fetch-times", daemon=True)]
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


def _write_every(db: Database) -> None:
    while True:
        time.sleep(FLUSH_S)
        try:
            flush(db)
        except Exception:  # storage down: the rows wait for the next round
            log.exception("could not record list fetch times")

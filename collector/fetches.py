"""When each terminal last fetched a list, for the console's fleet page.

Recorded on signed deny-list requests (``collector.routes.lists``). A fetch is a read, and most
polls are a 304 answered from memory, so the record is thinned out: each serving process checks
the signature and writes a terminal's time at most once per ``EVERY_S`` (the fleet page shows
minutes; a terminal polling every 60 s costs one check and one write in five polls).
"""

from __future__ import annotations

import threading
import time

from collector.db import Database

EVERY_S = 300
_last: dict[str, float] = {}
_lock = threading.Lock()
_MAX_REMEMBERED = 100_000


def due(tid: str | None, now: float | None = None) -> bool:
    """Whether ``tid``'s fetch time is older here than ``EVERY_S`` (the id is only claimed yet:
    ``note`` runs after the signature check)."""
    if tid is None:
        return False
    now = time.time() if now is None else now
    with _lock:
        return now - _last.get(tid, 0.0) >= EVERY_S


def note(db: Database, tid: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with _lock:
        if now - _last.get(tid, 0.0) < EVERY_S:
            return
        if len(_last) >= _MAX_REMEMBERED:
            _last.clear()
        _last[tid] = now
    with db.write() as tx:
        tx.execute(
            "INSERT INTO list_fetches (terminal_id, at) VALUES (?, ?)"
            " ON CONFLICT (terminal_id) DO UPDATE SET at = excluded.at",
            (tid, int(now)),
        )

"""When each terminal last fetched a list, for the console's fleet page.

Recorded on signed list requests (``collector.terminal_auth``). A fetch is a read, so the
write is thinned out: each serving process writes a terminal's time at most once per
``EVERY_S`` (the fleet page shows minutes, not seconds).
"""

from __future__ import annotations

import threading
import time

from collector.db import Database

EVERY_S = 30
_last: dict[str, float] = {}
_lock = threading.Lock()
_MAX_REMEMBERED = 100_000


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

"""Which lists changed, pushed by PostgreSQL: ``LISTEN`` in a thread of each serving process.

A deny poll of a terminal that holds the newest list (most of a fleet's polls, every minute)
should cost no database round trip. Every publication and import sends ``NOTIFY`` on
``CHANNEL`` in its own transaction (``collector.lists``), delivered when it commits; each
serving process keeps one connection listening and bumps ``generation`` on each. The list
cache asks the database again only when the generation moved, so nodes on one database see
each other's lists within the notification's delivery, not within a polling period. While the
listening connection is down ``live`` is False and the cache asks the database every time, as
it does on SQLite (an in-process read there, a few microseconds).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("collector.lists")

CHANNEL = "owt_lists"
_RETRY_S = 1.0


class ListWatch:
    def __init__(self, url: str) -> None:
        self.url = url
        self.generation = 0
        self.live = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread on first use (after the fork, never in the supervising parent)."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="list-watch", daemon=True)
                    self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.generation += 1  # anything may have changed while nobody listened
                    self.live = True
                    while not self._stop.is_set():
                        for _note in conn.notifies(timeout=_RETRY_S, stop_after=1):
                            self.generation += 1
            except psycopg.Error as exc:  # the server went away: ask the database until it is back
                log.warning("list watch: %s; reading lists from the database meanwhile", exc)
            finally:
                self.live = False
                self.generation += 1
            self._stop.wait(_RETRY_S)

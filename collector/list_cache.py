"""The published lists as served to terminals: read-only, from memory while nothing changed.

Every ``GET /v1/lists/deny`` used to run ``publish_deny()`` in a write transaction and fetch the
whole signed list (9 MB at a million wallets) from the database. A list changes only when one is
published, so this cache asks the database only for the newest seq of each kind (an index
lookup on ``lists``' primary key), keeps the signed bytes of the newest list, and keeps the few
deltas terminals ask for (most hold the previous seq). Publication is the writers' business: the
ingest that denies a wallet publishes at once, and ``Republisher`` re-issues an ageing list.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from collector.db import Database
from collector.list_watch import ListWatch
from collector.lists import Lists, Published
from pos.errors import ListError
from pos.tokens import TYP_DENY_LIST, TYP_TRUST_LIST

log = logging.getLogger("collector.lists")

_DELTAS_KEPT = 16
REPUBLISH_EVERY_S = 60.0


class ListCache:
    def __init__(self, db: Database, lists: Lists) -> None:
        self.db = db
        self.lists = lists
        self._lock = threading.Lock()
        self._latest: dict[int, Published] = {}
        self._generation: dict[int, int] = {}  # the watch's generation each cached list was read at
        self.watch = ListWatch(db.url) if db.dialect == "postgres" else None
        self._deltas: OrderedDict[tuple[int, int], bytes | None] = OrderedDict()
        self._noted: dict[str, int] = {}  # terminal id -> deny seq recorded (only signed requests)

    def noted(self, terminal_id: str | None) -> int:
        """The newest deny seq this process recorded as served to ``terminal_id`` (-1: none)."""
        return self._noted.get(terminal_id, -1) if terminal_id is not None else -1

    def note(self, terminal_id: str, seq: int) -> None:
        with self._lock:
            if self._noted.get(terminal_id, -1) < seq:
                self._noted[terminal_id] = seq

    def known(self, typ: int) -> Published | None:
        """The newest list of ``typ`` without a database read, when nothing can have changed."""
        watch = self.watch
        if watch is None:
            return None
        watch.ensure_started()
        if not watch.live:
            return None
        cached = self._latest.get(typ)
        return cached if cached is not None and self._generation.get(typ) == watch.generation else None

    def latest(self, typ: int) -> Published | None:
        known = self.known(typ)
        if known is not None:
            return known
        generation = self.watch.generation if self.watch is not None else 0  # read before the query
        with self.db.read() as tx:
            row = tx.one("SELECT max(seq) FROM lists WHERE typ = ?", (typ,))
            seq = row[0] if row else None
            if seq is None:
                return None
            with self._lock:
                cached = self._latest.get(typ)
            if cached is not None and cached.seq == seq:
                with self._lock:
                    self._generation[typ] = generation
                return cached
            fresh = self.lists.latest(tx, typ)
        if fresh is not None:
            with self._lock:
                self._latest[typ] = fresh
                self._generation[typ] = generation
        return fresh

    def deny_known(self, have: int | None, full: bool) -> tuple[Published | None, bytes | None] | None:
        """``deny``'s answer when it needs no database read or signature work, else None."""
        current = self.known(TYP_DENY_LIST)
        if current is None:
            return None
        if full or have is None or have >= current.seq:
            return current, None
        key = (have, current.seq)
        with self._lock:
            return (current, self._deltas[key]) if key in self._deltas else None

    def trust(self) -> Published | None:
        return self.latest(TYP_TRUST_LIST)

    def deny(self, have: int | None, full: bool) -> tuple[Published | None, bytes | None]:
        """The newest deny list, and a delta from ``have`` when one can be made."""
        current = self.latest(TYP_DENY_LIST)
        if current is None or full or have is None or have >= current.seq:
            return current, None
        key = (have, current.seq)
        with self._lock:
            if key in self._deltas:
                self._deltas.move_to_end(key)
                return current, self._deltas[key]
        try:
            with self.db.read() as tx:
                delta = self.lists.deny_delta(tx, have, current)
        except ListError as exc:
            log.error("%s", exc)
            return current, None
        with self._lock:
            self._deltas[key] = delta
            while len(self._deltas) > _DELTAS_KEPT:
                self._deltas.popitem(last=False)
        return current, delta


class Republisher:
    """A serving process's thread that publishes a deny list when one is due: wallets left
    waiting (a publication that failed after its ingest) or a list in force that ages
    (``collector.lists.DENY_REFRESH_S``), so terminals never go stale for want of a GET."""

    def __init__(self, lists: Lists, every_s: float = REPUBLISH_EVERY_S) -> None:
        self.lists = lists
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deny-republisher", daemon=True)

    def start(self) -> Republisher:
        if self.lists.signer is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.lists.publish_deny()
            except Exception:  # a storage hiccup: try again next round
                log.exception("could not publish the deny list")

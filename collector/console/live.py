"""Live fleet updates: ``GET /console/live/fleet``, server-sent events (sse-starlette).

The collector may serve from several processes and nodes on one database, so an upload is
seen through the database, not an in-process signal: one watcher per process polls a cheap
change marker every ``POLL_S`` (the terminals seen in the last seconds, by the
``terminals_seen`` index; the count of terminals and of revocations) while
at least one page is connected, and tells every connected page which terminals changed. A page
then fetches those rows (``/console/fleet/rows``) and swaps them in (``static/live.js``).

Bounded: at most ``MAX_CLIENTS`` streams per process (503 past it); each subscriber holds a set
of changed terminal ids (coalesced, never a growing queue); a stream ends after ``LIFETIME_S``
(the browser reconnects) and a client that stops reading is dropped after ``SEND_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from collector.db import Database

log = logging.getLogger("collector.console")

POLL_S = 0.5
MAX_CLIENTS = 64
LIFETIME_S = 600.0
SEND_TIMEOUT_S = 10.0
PING_S = 15
MAX_TIDS = 200  # more changed at once: the page reloads its table instead
RELOAD = "*"


@dataclass(eq=False)
class Subscriber:
    pending: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def tell(self, tids: set[str]) -> None:
        if RELOAD in tids or len(self.pending) + len(tids) > MAX_TIDS:
            self.pending = {RELOAD}
        elif RELOAD not in self.pending:
            self.pending |= tids
        self.wake.set()

    def take(self) -> set[str]:
        out, self.pending = self.pending, set()
        self.wake.clear()
        return out


class FleetWatch:
    """One per process: polls while pages are connected, fans changed terminal ids out."""

    def __init__(self, db: Database, poll_s: float = POLL_S, max_clients: int = MAX_CLIENTS) -> None:
        self.db = db
        self.poll_s = poll_s
        self.max_clients = max_clients
        self.subs: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._since: int | None = None
        self._marker: tuple[Any, ...] | None = None

    def subscribe(self) -> Subscriber | None:
        if len(self.subs) >= self.max_clients:
            return None
        sub = Subscriber()
        self.subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subs.discard(sub)

    async def _run(self) -> None:
        while self.subs:
            try:
                changed = await run_in_threadpool(self.poll)
            except Exception:  # a database hiccup must not end live updates
                log.exception("fleet watch poll failed")
                changed = set()
            if changed:
                for sub in list(self.subs):
                    sub.tell(changed)
            await asyncio.sleep(self.poll_s)
        self._marker = None  # the next page starts from a fresh marker

    def poll(self) -> set[str]:
        """The terminals changed since the last poll: uploads (by ``last_seen``), enrollments
        and revocations (by their times, read only when their count moved)."""
        with self.db.read() as tx:
            marker = tuple(
                tx.one(
                    "SELECT (SELECT count(*) FROM terminals), (SELECT count(*) FROM revoked_terminals),"
                    " (SELECT max(last_seen) FROM terminals)"
                )
            )
            newest = marker[2] or 0
            since = newest - 2 if self._since is None else self._since
            rows = tx.all(
                "SELECT terminal_id, last_seq, last_seen, flags FROM terminals WHERE last_seen >= ?", (since,)
            )
            first = self._marker is None
            moved: set[str] = set()
            if not first and marker[0] != self._marker[0]:  # type: ignore[index]
                moved |= {
                    r[0]
                    for r in tx.all("SELECT terminal_id FROM terminals WHERE enrolled_at >= ?", (since - 60,))
                }
            if not first and marker[1] != self._marker[1]:  # type: ignore[index]
                moved |= {
                    r[0]
                    for r in tx.all("SELECT terminal_id FROM revoked_terminals WHERE at >= ?", (since - 60,))
                }
        changed = {r[0] for r in rows if self._seen.get(r[0]) != tuple(r[1:])} | moved
        self._seen = {r[0]: tuple(r[1:]) for r in rows}
        self._since = max(since, newest - 2)
        self._marker = marker
        return set() if first else changed


def watch_of(request: Request) -> FleetWatch:
    state = request.app.state
    watch: FleetWatch | None = getattr(state, "console_fleet_watch", None)
    if watch is None:
        watch = FleetWatch(state.served.collector.db)
        state.console_fleet_watch = watch
    return watch


async def fleet_stream(request: Request) -> Response:
    """The event stream of one fleet page (the caller checked the session)."""
    watch = watch_of(request)
    sub = watch.subscribe()
    if sub is None:
        return PlainTextResponse("too many live pages; reload later", status_code=503)

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"event": "ready", "data": "{}", "retry": 2000}
            end = time.monotonic() + LIFETIME_S
            while time.monotonic() < end:
                try:
                    await asyncio.wait_for(sub.wake.wait(), timeout=min(PING_S, end - time.monotonic()))
                except TimeoutError:
                    continue
                tids = sub.take()
                doc = {"reload": True} if RELOAD in tids else {"tids": sorted(tids)}
                yield {"event": "fleet", "data": json.dumps(doc)}
        finally:
            watch.unsubscribe(sub)

    return EventSourceResponse(
        events(), ping=PING_S, send_timeout=SEND_TIMEOUT_S, headers={"Cache-Control": "no-store"}
    )

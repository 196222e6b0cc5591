"""The collector's HTTP routes, one module per resource; ``collector.app`` assembles them.

Handlers raise ``collector.service.Reject`` for a refusal; the app's exception handlers turn it
(and storage failures) into the JSON error body, so no route catches for itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import anyio
from starlette.requests import Request

from collector.access import FailedAttempts, Throttled, bearer, client_key, token_matches
from collector.list_cache import ListCache
from collector.service import Collector, Reject

DEFAULT_MAX_BODY = 8 << 20
BODY_TIMEOUT_S = 30.0
# Batches a serving process ingests at once (the others wait their turn on the event loop).
# Parsing and judging hold the GIL for most of a row, so more threads only fight over it.
# Measured with 2 processes on 2 cores: on PostgreSQL, 2,000 simulated terminals and 32
# requests in flight, 2 gave 7,109 payments/s, 1 gave 6,018 (no overlap with the database's
# turn), 3 gave 6,513 and the thread pool's 40 gave 5,840. On SQLite, which writes one batch at
# a time, 1 did a little better in that fleet (7,383 against about 6,900) and worse with 4
# terminals posting 500-row batches (8,561 against 9,873, ``scripts/bench sync``): 2 for both.
INGEST_THREADS = 2


@dataclass
class Served:
    """What every route of one app reads: the collector and this server's limits and tokens."""

    collector: Collector
    max_body: int = DEFAULT_MAX_BODY
    body_timeout_s: float = BODY_TIMEOUT_S
    metrics_token: str | None = None
    ingest_threads: int = INGEST_THREADS
    attempts: FailedAttempts = field(default_factory=FailedAttempts)
    lists: ListCache = field(init=False)
    _ingest: anyio.CapacityLimiter | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.lists = ListCache(self.collector.db, self.collector.lists)

    @property
    def ingest_limiter(self) -> anyio.CapacityLimiter:
        """Made on first use, inside the server's event loop."""
        if self._ingest is None:
            self._ingest = anyio.CapacityLimiter(self.ingest_threads)
        return self._ingest


def served(request: Request) -> Served:
    ctx: Served = request.app.state.served
    return ctx


def client_of(request: Request) -> str:
    return client_key(request.client.host) if request.client else ""


async def read_body(request: Request, cap: int) -> bytes:
    """The body, refused unread past ``cap`` (413) and cut off at the body deadline (408)."""
    ctx = served(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # "²".isdigit(), int("²") raises
            raise ctx.collector.reject(400, "bad_content_length")
        if int(declared) > cap:
            raise ctx.collector.reject(413, "body_too_large", f"the cap is {cap} bytes")
    buf = bytearray()

    async def pull() -> None:
        async for chunk in request.stream():
            buf.extend(chunk)
            if len(buf) > cap:
                raise ctx.collector.reject(413, "body_too_large", f"the cap is {cap} bytes")

    try:
        await asyncio.wait_for(pull(), ctx.body_timeout_s)
    except TimeoutError:
        raise ctx.collector.reject(408, "body_timeout") from None
    return bytes(buf)


def guard_tokens(request: Request) -> None:
    """429 while this client address has used up its failed token attempts."""
    ctx = served(request)
    try:
        ctx.attempts.check(client_of(request))
    except Throttled as exc:
        ctx.collector.request_rejects.add(exc.code)
        raise


def require_token(request: Request, *expected: str | None) -> None:
    """Pass when the bearer token is one of ``expected``; count a failure against the address."""
    guard_tokens(request)
    given = bearer(request.headers.get("authorization"))
    if not any(token_matches(given, e) for e in expected):
        served(request).attempts.failed(client_of(request))
        raise served(request).collector.reject(401, "bad_token", "a bearer token is required")


def note_failed_token(request: Request, exc: Reject) -> None:
    if exc.code in ("bad_operator_token", "bad_enroll_code"):
        served(request).attempts.failed(client_of(request))

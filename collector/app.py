"""The collector's HTTP API (Starlette, served by uvicorn through ``collector.server``).

    POST /v1/enroll            operator token in Authorization: Bearer; JSON {tid, key, time, sig}
    POST /v1/batches           application/cbor signed batch -> JSON per-row answer
    GET  /v1/lists/trust       the trust list (application/cose), ETag / If-None-Match
    GET  /v1/lists/deny        ?have=SEQ -> delta (application/vnd.owt1.deny-delta+cbor) or full
    GET  /v1/terminals/{tid}   operator: a terminal's head, flags and events
    GET  /metrics              Prometheus text format; the metrics or operator bearer token
    GET  /healthz

The routes live in ``collector/routes/`` (terminals, lists, health). Bodies are capped before
they are read: a ``Content-Length`` over the cap is refused unread, and a chunked body is
counted while it streams and refused at the cap (413). Reading a body has a deadline (408).
Every refusal is JSON ``{"error": code, "detail": ...}`` with a 4xx status, made here by the
exception handlers; a failed token is counted per client address and answered 429 with
``Retry-After`` past the limit (``collector.access``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import ExceptionHandler

from collector.access import Throttled
from collector.console import console_middleware, console_routes
from collector.db import DatabaseError
from collector.routes import (
    BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY,
    INGEST_THREADS,
    Served,
    health,
    lists,
    site,
    terminals,
)
from collector.service import Collector, Reject

log = logging.getLogger("collector.http")

__all__ = ["BODY_TIMEOUT_S", "DEFAULT_MAX_BODY", "INGEST_THREADS", "create_app"]


def _error(status: int, code: str, detail: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


async def _rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Reject)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Throttled) else None
    return _error(exc.status, exc.code, exc.detail, headers)


async def _storage_down(request: Request, exc: Exception) -> Response:
    log.error("storage unavailable: %s", exc)
    return _error(503, "storage_unavailable", "try again later")


async def _gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=400)  # the client left: nobody reads this


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s", request.method, request.scope.get("path"), exc_info=exc)
    return _error(500, "internal")


def _storage_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg

        return (DatabaseError, psycopg.OperationalError, psycopg.InterfaceError)
    except ImportError:  # pragma: no cover
        return (DatabaseError,)


def create_app(
    collector: Collector,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout_s: float = BODY_TIMEOUT_S,
    metrics_token: str | None = None,
    ingest_threads: int = INGEST_THREADS,
) -> Starlette:
    handlers: dict[Any, ExceptionHandler] = {
        Reject: _rejected,
        ClientDisconnect: _gone,
        **dict.fromkeys(_storage_errors(), _storage_down),
        Exception: _internal,
    }
    app = Starlette(
        routes=[
            # the lists first: a fleet's every-minute polls are most requests, and the router
            # tries each route's pattern in turn (no two of these routes match one path)
            *lists.ROUTES,
            *terminals.ROUTES,
            *site.ROUTES,
            *health.ROUTES,
            Mount("/console", routes=console_routes(), middleware=console_middleware()),
        ],
        exception_handlers=handlers,
    )
    app.state.served = Served(collector, max_body, body_timeout_s, metrics_token, ingest_threads)
    return app

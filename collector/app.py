"""The collector's HTTP API (Starlette, served by uvicorn).

    POST /v1/enroll            operator token in Authorization: Bearer; JSON {tid, key, time, sig}
    POST /v1/batches           application/cbor signed batch -> JSON per-row answer
    GET  /v1/lists/trust       the trust list (application/cose), ETag / If-None-Match
    GET  /v1/lists/deny        ?have=SEQ -> delta (application/vnd.owt1.deny-delta+cbor) or full
    GET  /v1/terminals/{tid}   operator: a terminal's head, flags and events
    GET  /metrics              Prometheus text format
    GET  /healthz

Bodies are capped before they are read: a ``Content-Length`` over the cap is refused unread,
and a chunked body is counted while it streams and refused at the cap (413). Reading a body has
a deadline (408), so a client that stalls mid-body does not hold a worker forever. Every refusal
is JSON ``{"error": code, "detail": ...}`` with a 4xx status; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector import metrics
from collector.db import DatabaseError
from collector.service import Collector, Reject
from pos.sync import protocol as p

log = logging.getLogger("collector.http")

DEFAULT_MAX_BODY = 8 << 20
ENROLL_MAX_BODY = 4096
BODY_TIMEOUT_S = 30.0


def _error(status: int, code: str, detail: str = "") -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _storage_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg

        return (DatabaseError, psycopg.OperationalError, psycopg.InterfaceError)
    except ImportError:  # pragma: no cover
        return (DatabaseError,)


def create_app(
    collector: Collector, *, max_body: int = DEFAULT_MAX_BODY, body_timeout_s: float = BODY_TIMEOUT_S
) -> Starlette:
    storage_errors = _storage_errors()

    async def read_body(request: Request, cap: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):  # "²".isdigit(), int("²") raises
                raise collector.reject(400, "bad_content_length")
            if int(declared) > cap:
                raise collector.reject(413, "body_too_large", f"the cap is {cap} bytes")
        buf = bytearray()

        async def pull() -> None:
            async for chunk in request.stream():
                buf.extend(chunk)
                if len(buf) > cap:
                    raise collector.reject(413, "body_too_large", f"the cap is {cap} bytes")

        try:
            await asyncio.wait_for(pull(), body_timeout_s)
        except TimeoutError:
            raise collector.reject(408, "body_timeout") from None
        return bytes(buf)

    async def guarded(fn: Any, *args: Any) -> Any:
        try:
            return await fn(*args)
        except Reject as exc:
            return _error(exc.status, exc.code, exc.detail)
        except storage_errors as exc:
            log.error("storage unavailable: %s", exc)
            return _error(503, "storage_unavailable", "try again later")
        except Exception:
            log.exception("internal error")
            return _error(500, "internal")

    async def batches(request: Request) -> Response:
        async def handle() -> Response:
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            if ctype != p.CONTENT_TYPE:
                raise collector.reject(415, "unsupported_media_type", f"send {p.CONTENT_TYPE}")
            body = await read_body(request, max_body)
            answer = await run_in_threadpool(collector.ingest, body)
            return JSONResponse(answer)

        return await guarded(handle)  # type: ignore[no-any-return]

    async def enroll(request: Request) -> Response:
        async def handle() -> Response:
            body = await read_body(request, ENROLL_MAX_BODY)
            status, doc = await run_in_threadpool(
                collector.enroll, request.headers.get("authorization"), body
            )
            return JSONResponse(doc, status_code=status)

        return await guarded(handle)  # type: ignore[no-any-return]

    def _not_modified(request: Request, etag: str) -> bool:
        inm = request.headers.get("if-none-match", "")
        return any(t.strip() in (etag, "*") for t in inm.split(",")) if inm else False

    async def trust(request: Request) -> Response:
        async def handle() -> Response:
            lst = await run_in_threadpool(collector.trust_list)
            if lst is None:
                return _error(404, "no_trust_list")
            etag = f'"trust-{lst.seq}"'
            headers = {"ETag": etag, "Cache-Control": "no-cache"}
            if _not_modified(request, etag):
                return Response(status_code=304, headers=headers)
            return Response(lst.raw, media_type=p.COSE_TYPE, headers=headers)

        return await guarded(handle)  # type: ignore[no-any-return]

    async def deny(request: Request) -> Response:
        async def handle() -> Response:
            have_arg = request.query_params.get("have")
            if have_arg is not None and not (have_arg.isascii() and have_arg.isdigit()):
                raise collector.reject(400, "bad_have", "have is the seq of the list in force")
            have = int(have_arg) if have_arg is not None else None
            full = request.query_params.get("full") == "1"
            wants_delta = p.DENY_DELTA_TYPE in request.headers.get("accept", "")
            current, delta = await run_in_threadpool(collector.deny_list, have, full or not wants_delta)
            if current is None:
                return _error(404, "no_deny_list")
            etag = f'"deny-{current.seq}"'
            headers = {"ETag": etag, "Cache-Control": "no-cache"}
            if _not_modified(request, etag) or (have == current.seq and not full):
                return Response(status_code=304, headers=headers)
            if delta is not None:
                return Response(delta, media_type=p.DENY_DELTA_TYPE, headers=headers)
            return Response(current.raw, media_type=p.COSE_TYPE, headers=headers)

        return await guarded(handle)  # type: ignore[no-any-return]

    async def terminal(request: Request) -> Response:
        async def handle() -> Response:
            expected = collector.settings.operator_token
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not expected or not hmac.compare_digest(
                hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
            ):
                raise collector.reject(401, "bad_operator_token")
            info = await run_in_threadpool(collector.terminal_info, request.path_params["tid"])
            if info is None:
                return _error(404, "unknown_terminal")
            return JSONResponse(info)

        return await guarded(handle)  # type: ignore[no-any-return]

    async def metrics_endpoint(request: Request) -> Response:
        async def handle() -> Response:
            text = await run_in_threadpool(metrics.render, collector)
            return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

        return await guarded(handle)  # type: ignore[no-any-return]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/v1/batches", batches, methods=["POST"]),
        Route("/v1/enroll", enroll, methods=["POST"]),
        Route("/v1/lists/trust", trust, methods=["GET"]),
        Route("/v1/lists/deny", deny, methods=["GET"]),
        Route("/v1/terminals/{tid:str}", terminal, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes)

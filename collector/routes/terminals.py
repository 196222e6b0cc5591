"""Terminals: ``POST /v1/enroll``, ``POST /v1/batches``, ``GET /v1/terminals/{tid}``."""

from __future__ import annotations

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.routes import client_of, guard_tokens, note_failed_token, read_body, require_token, served
from collector.service import Reject
from collector.terminal_auth import signed_by
from pos.wire import protocol as p

ENROLL_MAX_BODY = 4096


async def batches(request: Request) -> Response:
    ctx = served(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != p.CONTENT_TYPE:
        raise ctx.collector.reject(415, "unsupported_media_type", f"send {p.CONTENT_TYPE}")
    body = await read_body(request, ctx.max_body)
    answer = await anyio.to_thread.run_sync(ctx.collector.ingest, body, limiter=ctx.ingest_limiter)
    return JSONResponse(answer)


async def enroll(request: Request) -> Response:
    ctx = served(request)
    guard_tokens(request)
    body = await read_body(request, ENROLL_MAX_BODY)
    try:
        status, doc = await run_in_threadpool(
            ctx.collector.enroll, request.headers.get("authorization"), body, client_of(request)
        )
    except Reject as exc:
        note_failed_token(request, exc)
        raise
    return JSONResponse(doc, status_code=status)


async def terminal(request: Request) -> Response:
    ctx = served(request)
    tid = request.path_params["tid"]
    # The operator, or the terminal itself on a signed request (collector.terminal_auth).
    itself = await run_in_threadpool(signed_by, ctx.collector, request.headers, request.scope["path"])
    if itself != tid:
        try:
            require_token(request, ctx.collector.settings.operator_token)
        except Reject as exc:
            if exc.code != "bad_token":
                raise
            raise ctx.collector.reject(401, "bad_operator_token") from None
    info = await run_in_threadpool(ctx.collector.terminal_info, tid)
    if info is None:
        raise Reject(404, "unknown_terminal")
    return JSONResponse(info)


ROUTES = [
    Route("/v1/batches", batches, methods=["POST"]),
    Route("/v1/enroll", enroll, methods=["POST"]),
    Route("/v1/terminals/{tid:str}", terminal, methods=["GET"]),
]

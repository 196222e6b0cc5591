"""Lists: ``GET /v1/lists/trust`` and ``GET /v1/lists/deny`` (ETag / If-None-Match, deny deltas).

Served from ``collector.list_cache``: a GET never publishes; a signed GET records once which
deny list the terminal was served (``collector.terminal_auth``), since it binds its later rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector import fetches, marks
from collector.routes import Served, served
from collector.service import Reject
from collector.terminal_auth import signed_by
from pos.wire import protocol as p


def _not_modified(request: Request, etag: str) -> bool:
    inm = request.headers.get("if-none-match", "")
    return any(t.strip() in (etag, "*") for t in inm.split(",")) if inm else False


def _query(request: Request) -> Mapping[str, str]:
    """The query's fields; a plain one (``have=12``, every poll's) split here without
    Starlette's general parse, one with escapes or ``+`` through it."""
    qs: bytes = request.scope["query_string"]
    if b"%" in qs or b"+" in qs:
        return request.query_params
    out: dict[str, str] = {}
    for field in qs.decode("latin-1").split("&"):
        if field:
            name, _, value = field.partition("=")
            out[name] = value  # the last of a repeated name, as QueryParams.get
    return out


async def trust(request: Request) -> Response:
    lst = await run_in_threadpool(served(request).lists.trust)
    if lst is None:
        raise Reject(404, "no_trust_list")
    etag = f'"trust-{lst.seq}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(lst.raw, media_type=p.COSE_TYPE, headers=headers)


async def deny(request: Request) -> Response:
    ctx = served(request)
    query = _query(request)
    have_arg = query.get("have")
    if have_arg is not None and not (have_arg.isascii() and have_arg.isdigit()):
        raise ctx.collector.reject(400, "bad_have", "have is the seq of the list in force")
    have = int(have_arg) if have_arg is not None else None
    full = query.get("full") == "1"
    wants_delta = p.DENY_DELTA_TYPE in request.headers.get("accept", "")
    # a terminal holding the newest list is answered from memory, without a thread hop
    answer = ctx.lists.deny_known(have, full or not wants_delta)
    if answer is None:
        answer = await run_in_threadpool(ctx.lists.deny, have, full or not wants_delta)
    current, delta = answer
    if current is None:
        raise Reject(404, "no_deny_list")
    # what this terminal was served binds its later rows (304s too); one write per new list at most
    # (the scope's path, not request.url: a query that is not UTF-8 must not make this a 500)
    # (an unsigned poll records nothing, so it skips all of this)
    claimed = request.headers.get(p.HDR_TERMINAL)
    path = request.scope["path"]
    if claimed is None:
        pass
    elif ctx.lists.noted(claimed) < current.seq:
        await run_in_threadpool(_note_served, ctx, request.headers, path, current.seq)
    elif fetches.due(claimed):
        if ctx.collector.key_is_cached(claimed):
            _note_fetch(ctx, request.headers, path)
        else:  # the key is read from the database first: not in the event loop
            await run_in_threadpool(_note_served, ctx, request.headers, path, current.seq)
    etag = f'"deny-{current.seq}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _not_modified(request, etag) or (have == current.seq and not full):
        return Response(status_code=304, headers=headers)
    if delta is not None:
        return Response(delta, media_type=p.DENY_DELTA_TYPE, headers=headers)
    return Response(current.raw, media_type=p.COSE_TYPE, headers=headers)


def _note_served(ctx: Served, headers: Headers, path: str, seq: int) -> None:
    """Record the deny list a signed request was answered with (``collector.marks``).

    The poll of a terminal that already holds the newest list (most of them, every minute)
    skips this before any signature check or database read: this process noted that seq for
    it already, and a terminal's noted seq only grows, so there is nothing to record. An
    unsigned claim of a terminal id can only make the check run, never skip a record.
    """
    tid = signed_by(ctx.collector, headers, path)
    if tid is not None:
        if ctx.lists.noted(tid) < seq:
            marks.note_served(ctx.collector.db, tid, seq)
            ctx.lists.note(tid, seq)
        fetches.note(ctx.collector.db, tid)  # the console's "last list fetch


def _note_fetch(ctx: Served, headers: Headers, path: str) -> None:
    """Only the console's fetch time is due and this process holds the terminal's key: the
    signature is checked here, in the event loop (one Ed25519 verify, ~0.12 ms), since a hop to
    a thread costs more than the check; the time is written later with others (``fetches``)."""
    tid = signed_by(ctx.collector, headers, path)
    if tid is not None:
        fetches.note(ctx.collector.db, tid)


ROUTES = [
    Route("/v1/lists/trust", trust, methods=["GET"]),
    Route("/v1/lists/deny", deny, methods=["GET"]),
]

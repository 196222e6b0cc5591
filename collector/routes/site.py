"""Site membership: ``GET /v1/lists/site/{tid}`` (public: it holds public keys; docs/site.md)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector import site
from collector.routes import served
from collector.service import Reject
from pos.identity import valid_terminal_id
from pos.wire import protocol as p


async def site_list(request: Request) -> Response:
    tid = request.path_params["tid"]
    if not valid_terminal_id(tid):
        raise Reject(400, "bad_terminal_id")
    found = await run_in_threadpool(site.list_for, served(request).collector.db, tid)
    if found is None:
        raise Reject(404, "no_site")
    etag = f'"site-{found[0]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(found[1], media_type=p.COSE_TYPE, headers=headers)


ROUTES = [Route("/v1/lists/site/{tid:str}", site_list, methods=["GET"])]

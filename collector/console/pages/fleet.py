"""The fleet page ``/console/``: every terminal, sorted and filtered, updated live.

Sorting and filtering are query parameters (``sort``, ``desc``, ``q``, ``status``, ``limit``)
read by the server; the page has no inline script. ``/console/fleet/rows`` renders just the
rows (for ``static/live.js``), ``/console/live/fleet`` is the event stream (``collector.console.live``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.console import live
from collector.console.guard import User, viewer_page
from collector.console.pages.common import ago, collector_of, int_param, money, now, text_param, when
from collector.console.queries.fleet import SORTS, STATUSES, fleet
from collector.console.render import render
from pos.identity import valid_terminal_id

DEFAULT_LIMIT = 100
SORT_LABELS = {
    "id": "Terminal id", "upload": "Last upload", "fetch": "Last list fetch", "flags": "Flags",
    "seq": "Seq", "deny": "Deny list seq",
}  # fmt: skip


def _view(request: Request) -> dict[str, Any]:
    sort = text_param(request, "sort", "id")
    status = text_param(request, "status")
    limit, ok = int_param(request, "limit")
    start, start_ok = int_param(request, "start")
    return {
        "start": start if start_ok and start is not None and start > 0 else 0,
        "sort": sort if sort in SORTS else "id",
        "desc": text_param(request, "desc") == "1",
        "q": text_param(request, "q")[:64],
        "status": status if status in STATUSES else "",
        "limit": limit if ok and limit is not None and limit > 0 else DEFAULT_LIMIT,
    }


def _helpers() -> dict[str, Any]:
    return {"when": when, "ago": ago, "money": money, "statuses": STATUSES, "sorts": SORT_LABELS}


@viewer_page
async def fleet_page(request: Request, user: User) -> Response:
    view = _view(request)
    t = now()
    page = await run_in_threadpool(
        fleet, collector_of(request).db, now=t, sort=view["sort"], desc=view["desc"],
        query=view["q"], status=view["status"], limit=view["limit"], offset=view["start"],
    )  # fmt: skip
    return render(request, "fleet.html", page=page, view=view, now=t, **_helpers())


@viewer_page
async def fleet_rows(request: Request, user: User) -> Response:
    """Rows of the fleet table: the terminals in ``tids`` (comma separated), else the page's."""
    view = _view(request)
    tids_text = text_param(request, "tids")
    tids = [x for x in request.query_params.get("tids", "").split(",") if valid_terminal_id(x)][:200]
    t = now()
    page = await run_in_threadpool(
        fleet, collector_of(request).db, now=t, sort=view["sort"], desc=view["desc"], query=view["q"],
        status=view["status"], limit=view["limit"] if not tids_text else len(tids) or 1,
        offset=view["start"] if not tids_text else 0, tids=tids if tids_text else None,
    )  # fmt: skip
    return render(request, "fleet_rows.html", page=page, view=view, now=t, **_helpers())


@viewer_page
async def fleet_live(request: Request, user: User) -> Response:
    return await live.fleet_stream(request)


ROUTES = [
    Route("/", fleet_page, methods=["GET"], name="console_fleet"),
    Route("/fleet/rows", fleet_rows, methods=["GET"], name="console_fleet_rows"),
    Route("/live/fleet", fleet_live, methods=["GET"], name="console_live_fleet"),
]

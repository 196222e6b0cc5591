"""The events page ``/console/events``: double spends side by side, terminal flags; reinstate."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector import operator_actions
from collector.console.guard import User, operator_action, viewer_page
from collector.console.pages.actions import deny_action
from collector.console.pages.common import collector_of, int_param, label, money, text_param, when
from collector.console.queries.events import events
from collector.console.render import render

KINDS = {"": "All events", "double_spend": "Double spends", "flag": "Terminal flags"}


async def _show(request: Request, status: int = 200, error: str = "") -> Response:
    kind = text_param(request, "kind")
    kind = kind if kind in KINDS else ""
    before, ok = int_param(request, "before")
    rows, nxt = await run_in_threadpool(
        events, collector_of(request).db, kind=kind, before=before if ok else None
    )
    done, seq = text_param(request, "done"), int_param(request, "seq")[0]
    return render(
        request, "events.html", status=status, events=rows, kind=kind, kinds=KINDS, next_before=nxt,
        error=error, done=done if done == "reinstated" else "", seq=seq, when=when, money=money, label=label,
    )  # fmt: skip


@viewer_page
async def events_page(request: Request, user: User) -> Response:
    return await _show(request)


@operator_action
async def reinstate(request: Request, user: User) -> Response:
    return await deny_action(
        request, user, operator_actions.reinstate, show=_show, back="/console/events", done="reinstated"
    )


ROUTES = [
    Route("/events", events_page, methods=["GET"], name="console_events"),
    Route("/events/reinstate", reinstate, methods=["POST"], name="console_events_reinstate"),
]

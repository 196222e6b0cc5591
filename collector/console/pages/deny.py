"""The deny list page ``/console/deny``: current seq, entries with reason and source, history; add."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector import operator_actions
from collector.console.guard import User, operator_action, viewer_page
from collector.console.pages.actions import deny_action
from collector.console.pages.common import collector_of, int_param, label, text_param, when
from collector.console.queries.deny import deny_page
from collector.console.render import render


async def _show(request: Request, status: int = 200, error: str = "") -> Response:
    page = await run_in_threadpool(deny_page, collector_of(request).db)
    done = text_param(request, "done")
    return render(
        request, "deny.html", status=status, page=page, error=error, when=when, label=label,
        done=done if done in ("denied", "reinstated") else "", seq=int_param(request, "seq")[0],
    )  # fmt: skip


@viewer_page
async def deny(request: Request, user: User) -> Response:
    return await _show(request)


@operator_action
async def add(request: Request, user: User) -> Response:
    return await deny_action(
        request, user, operator_actions.deny, show=_show, back="/console/deny", done="denied"
    )


@operator_action
async def reinstate(request: Request, user: User) -> Response:
    return await deny_action(
        request, user, operator_actions.reinstate, show=_show, back="/console/deny", done="reinstated"
    )


ROUTES = [
    Route("/deny", deny, methods=["GET"], name="console_deny"),
    Route("/deny/add", add, methods=["POST"], name="console_deny_add"),
    Route("/deny/reinstate", reinstate, methods=["POST"], name="console_deny_reinstate"),
]

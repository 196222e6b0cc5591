"""The terminal page ``/console/terminals/{tid}`` and its revoke action (operators, CSRF)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from collector import revocations
from collector.console.guard import User, operator_action, viewer_page
from collector.console.pages.common import ago, collector_of, label, money, now, when
from collector.console.queries.terminal import terminal_page
from collector.console.render import render
from collector.operator_actions import OperatorError
from collector.routes import client_of


async def _show(request: Request, tid: str, status: int = 200, error: str = "") -> Response:
    t = now()
    page = await run_in_threadpool(terminal_page, collector_of(request).db, tid, t)
    if page is None:
        return render(request, "terminal.html", status=404, page=None, tid=tid, now=t, error=error)
    done = request.query_params.get("done") == "revoked"
    return render(
        request, "terminal.html", status=status, page=page, tid=tid, now=t, error=error, done=done,
        when=when, ago=ago, money=money, label=label,
    )  # fmt: skip


@viewer_page
async def terminal(request: Request, user: User) -> Response:
    return await _show(request, request.path_params["tid"])


@operator_action
async def revoke(request: Request, user: User) -> Response:
    tid = request.path_params["tid"]
    reason = str(request.state.form.get("reason") or "")
    try:
        await run_in_threadpool(
            revocations.revoke, collector_of(request).db, tid, reason, user.name, None, client_of(request)
        )
    except OperatorError as exc:
        status = 404 if "not enrolled" in str(exc) else 400
        return await _show(request, tid, status=status, error=str(exc))
    return RedirectResponse(f"/console/terminals/{quote(tid, safe='')}?done=revoked", status_code=303)


ROUTES = [
    Route("/terminals/{tid:str}/revoke", revoke, methods=["POST"], name="console_terminal_revoke"),
    # any text, slashes too: an id that cannot be enrolled is answered "no such terminal", as text
    Route("/terminals/{tid:path}", terminal, methods=["GET"], name="console_terminal"),
]

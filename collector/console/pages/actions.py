"""The deny-list actions of the Events and Deny list pages, through ``collector.operator_actions``.

Both publish a new signed deny list in the action's transaction, with its audit record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector import operator_actions
from collector.console.guard import User
from collector.console.pages.common import collector_of

Action = Callable[..., int]
ShowPage = Callable[..., Awaitable[Response]]


async def deny_action(
    request: Request, user: User, action: Action, *, show: ShowPage, back: str, done: str
) -> Response:
    """Run ``deny`` or ``reinstate`` on the form's wallet and reason: a 303 to ``back`` saying
    ``done`` and the new list's seq, or the page again (``show``) with 400 and why not."""
    seq, error = await _run(request, user, action)
    if seq is None:
        return await show(request, status=400, error=error)
    return RedirectResponse(f"{back}?done={done}&seq={seq}", status_code=303)


async def _run(request: Request, user: User, action: Action) -> tuple[int | None, str]:
    form = request.state.form
    wallet_text = str(form.get("wallet") or "").strip()
    reason = str(form.get("reason") or "")
    try:
        wid = operator_actions.parse_wallet_id(wallet_text)
        seq = await run_in_threadpool(action, collector_of(request).lists, wid, reason, user.name)
    except operator_actions.OperatorError as exc:
        return None, str(exc).replace("--reason", "a reason").replace(" (--scheme DIR)", "")
    return seq, ""

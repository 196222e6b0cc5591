"""The deny-list actions of the Events and Deny list pages, through ``collector.operator_actions``.

Both publish a new signed deny list in the action's transaction, with its audit record.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from collector import operator_actions
from collector.console.guard import User
from collector.console.pages.common import collector_of

Action = Callable[..., int]


async def deny_action(request: Request, user: User, action: Action) -> tuple[int | None, str]:
    """Run ``deny`` or ``reinstate`` on the form's wallet and reason: (new list seq, "") or (None, why)."""
    form = request.state.form
    wallet_text = str(form.get("wallet") or "").strip()
    reason = str(form.get("reason") or "")
    try:
        wid = operator_actions.parse_wallet_id(wallet_text)
        seq = await run_in_threadpool(action, collector_of(request).lists, wid, reason, user.name)
    except operator_actions.OperatorError as exc:
        return None, str(exc).replace("--reason", "a reason").replace(" (--scheme DIR)", "")
    return seq, ""

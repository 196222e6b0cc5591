"""``/console/audit``: the operator audit trail, newest first, a page of ``PAGE`` rows at a time
(keyset on the id: ``?before=ID``). Read only: the trail is append-only (``collector.audit``)."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.console.guard import User, viewer_page
from collector.console.render import render
from collector.db import Database

PAGE = 200


def rows(db: Database, before: int | None, limit: int = PAGE) -> list[dict[str, Any]]:
    where, params = ("WHERE id < ?", [before]) if before is not None else ("", [])
    with db.read() as tx:
        found = tx.all(
            "SELECT id, at, who, action, wallet_id, reason, deny_list_seq, address FROM audit"
            f" {where} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
    return [
        {
            "id": i, "at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)), "who": who,
            "action": action, "wallet": bytes(w).hex() if w is not None else "", "reason": reason,
            "seq": seq if seq is not None else "", "address": address or "",
        }
        for i, at, who, action, w, reason, seq, address in found
    ]  # fmt: skip


@viewer_page
async def audit(request: Request, user: User) -> Response:
    text = request.query_params.get("before", "")
    before = int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None
    found = await run_in_threadpool(rows, request.app.state.served.collector.db, before)
    older = found[-1]["id"] if len(found) == PAGE else None
    return render(request, "audit.html", entries=found, older=older)


ROUTES = [Route("/audit", audit, methods=["GET"], name="audit")]

"""``/console/enroll``: mint a one-time enrollment code (shown once), list codes, revoke an
unused one. Viewers see the list; minting and revoking are operator actions."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from collector.console import enroll_codes
from collector.console.guard import User, operator_action, viewer_page
from collector.console.render import render
from collector.routes import client_of

NOTE_MAX = 200


def _utc(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


async def _page(request: Request, status: int = 200, **ctx: object) -> Response:
    db = request.app.state.served.collector.db
    codes = await run_in_threadpool(enroll_codes.listing, db)
    now = int(time.time())
    shown = [{"row": c, "state": c.state(now), "expires": _utc(c.expires_at)} for c in codes]
    return render(request, "enroll.html", status=status, codes=shown, **ctx)


@viewer_page
async def enroll(request: Request, user: User) -> Response:
    return await _page(request)


@operator_action
async def mint(request: Request, user: User) -> Response:
    form = request.state.form
    note = str(form.get("note") or "").strip()
    minutes = str(form.get("minutes") or "60").strip()
    if not (minutes.isascii() and minutes.isdigit()) or not 0 < int(minutes) * 60 <= enroll_codes.MAX_TTL_S:
        return await _page(request, 400, error="Give the validity in minutes, at most 7 days.")
    if len(note) > NOTE_MAX or not note.isprintable():
        return await _page(request, 400, error="The note is at most 200 printable characters.")
    db = request.app.state.served.collector.db
    code, row = await run_in_threadpool(
        enroll_codes.mint, db, user.name, note, int(minutes) * 60, client_of(request)
    )
    return await _page(request, new_code=code, new_row=row)


@operator_action
async def revoke(request: Request, user: User) -> Response:
    text = str(request.path_params["cid"])
    db = request.app.state.served.collector.db
    await run_in_threadpool(enroll_codes.revoke, db, int(text), user.name, client_of(request))
    return RedirectResponse("/console/enroll", status_code=303)


ROUTES = [
    Route("/enroll", enroll, methods=["GET"], name="enroll"),
    Route("/enroll/mint", mint, methods=["POST"], name="enroll_mint"),
    Route("/enroll/{cid:int}/revoke", revoke, methods=["POST"], name="enroll_revoke"),
]

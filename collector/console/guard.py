"""Who may see and do what in the console.

``viewer_page`` guards a GET page: no live session -> 303 to the sign-in page. ``operator_action``
guards a POST: no session -> 303; a viewer -> 403; a missing or wrong CSRF token (form field
``csrf``, one per session) -> 403; a POST another site sent -> 403. The form (URL-encoded) is
read once, capped, and left on ``request.state.form``.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector.console import sessions
from collector.console.accounts import OPERATOR
from collector.console.render import render
from collector.routes import read_body

Handler = Callable[[Request, "User"], Awaitable[Response]]
MAX_FIELDS = 50
FORM_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class User:
    name: str
    role: str  # "viewer" | "operator"


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303)


def forbidden(request: Request, why: str) -> Response:
    return render(request, "error.html", status=403, title="Forbidden", message=why)


async def current(request: Request) -> sessions.Session | None:
    """The request's full (not pending) session, also left on ``request.state``."""
    db = request.app.state.served.collector.db
    found = await run_in_threadpool(sessions.find, db, request.cookies.get(sessions.COOKIE))
    if found is None or found.pending:
        return None
    request.state.user = User(found.name, found.role)
    request.state.csrf = found.csrf
    return found


async def read_form(request: Request) -> FormData:
    """The URL-encoded form, read once with the collector's body cap and deadline (413, 408):
    a form is a few fields, so a large body is refused unread, not parsed."""
    body = await read_body(request, FORM_MAX_BYTES)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    pairs: list[tuple[str, str | UploadFile]] = []
    if ctype == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8", "replace")
            pairs = list(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS))
        except ValueError:  # too many fields: treated as no form (no CSRF token: 403)
            pairs = []
    form = FormData(pairs)
    request.state.form = form
    return form


def same_origin(request: Request) -> bool:
    """False when the browser says the POST came from another site. Browsers send
    ``Sec-Fetch-Site``; ``Origin`` is the fallback (under ``Referrer-Policy: no-referrer``
    Chromium sends ``Origin: null`` even for its own forms). A request with neither (a script,
    an old browser) is left to the CSRF token and the SameSite cookie."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def csrf_ok(request: Request, form: FormData, expected: str) -> bool:
    given = form.get("csrf")
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def viewer_page(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(fn)
    async def page(request: Request) -> Response:
        session = await current(request)
        if session is None:
            return login_redirect(request)
        return await fn(request, User(session.name, session.role))

    return page


def operator_action(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(fn)
    async def action(request: Request) -> Response:
        session = await current(request)
        if session is None:
            return login_redirect(request)
        if session.role != OPERATOR:
            return forbidden(request, "Viewers cannot change anything.")
        if not same_origin(request):
            return forbidden(request, "The form came from another site.")
        form = await read_form(request)
        if not csrf_ok(request, form, session.csrf):
            return forbidden(request, "The form's security token is missing or wrong; reload the page.")
        return await fn(request, User(session.name, session.role))

    return action

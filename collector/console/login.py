"""Sign-in: ``/console/login`` (name and password), ``/console/login/code`` (the second step,
a TOTP code or a recovery code) and ``/console/logout``.

Failed attempts are counted per client address on both steps and per account on the second;
past the limit the answer is 429 with ``Retry-After`` whatever was typed (``collector.access``
counts them in the serving process). Every failed and successful second step is audited with the
client address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from collector import audit
from collector.access import FailedAttempts, Throttled
from collector.console import accounts, sessions, totp
from collector.console.guard import csrf_ok, current, forbidden, read_form, same_origin
from collector.console.render import render
from collector.db import Database
from collector.routes import client_of

LOGIN_LIMIT = 10  # failed passwords per address per minute
CODE_LIMIT_ACCOUNT = 5  # failed second steps per account per minute
CODE_LIMIT_ADDRESS = 10
NO_FACTOR = "An operator needs a second factor: pos collector user reset-totp NAME enrols one."


@dataclass
class Limits:
    password: FailedAttempts = field(default_factory=lambda: FailedAttempts(LOGIN_LIMIT))
    code_account: FailedAttempts = field(default_factory=lambda: FailedAttempts(CODE_LIMIT_ACCOUNT))
    code_address: FailedAttempts = field(default_factory=lambda: FailedAttempts(CODE_LIMIT_ADDRESS))


def limits(request: Request) -> Limits:
    state = request.app.state
    if not hasattr(state, "console_limits"):
        state.console_limits = Limits()
    found: Limits = state.console_limits
    return found


def safe_next(target: str | None) -> str:
    """Only a console path: never another site (an open redirect phishes with our name)."""
    if not target or not target.startswith("/console") or target.startswith("//") or "\\" in target:
        return "/console/"
    return target


def _throttled(request: Request, exc: Throttled, template: str) -> Response:
    response = render(request, template, status=429, error="Too many attempts; wait and try again.")
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def _signed_in(request: Request, token: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        sessions.COOKIE, token, max_age=sessions.ABSOLUTE_S, path="/console", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def login_form(request: Request) -> Response:
    if await current(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", next=safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    db = request.app.state.served.collector.db
    if not same_origin(request):  # login CSRF: another site signing the browser in as its own user
        return forbidden(request, "The form came from another site.")
    form = await read_form(request)
    name, password = str(form.get("username") or ""), str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    address = client_of(request)
    try:
        limits(request).password.check(address)
    except Throttled as exc:
        return _throttled(request, exc, "login.html")
    account = await run_in_threadpool(accounts.check_password, db, name, password)
    if account is None:
        limits(request).password.failed(address)
        return render(request, "login.html", status=401, error="Wrong name or password.", next=target)
    if account.role == accounts.OPERATOR and not account.has_totp:  # issue 16: never password alone
        return render(request, "login.html", status=403, error=NO_FACTOR, next=target)
    await run_in_threadpool(sessions.sweep, db)
    await run_in_threadpool(sessions.end, db, request.cookies.get(sessions.COOKIE))
    token = await run_in_threadpool(sessions.start, db, account.name, pending=account.has_totp)
    if account.has_totp:
        return _signed_in(request, token, f"/console/login/code?next={quote(target, safe='')}")
    return _signed_in(request, token, target)


async def _pending(request: Request) -> sessions.Session | None:
    db = request.app.state.served.collector.db
    found = await run_in_threadpool(sessions.find, db, request.cookies.get(sessions.COOKIE))
    if found is None or not found.pending:
        return None
    request.state.csrf = found.csrf
    return found


async def code_form(request: Request) -> Response:
    if await _pending(request) is None:
        return RedirectResponse("/console/login", status_code=303)
    return render(request, "code.html", next=safe_next(request.query_params.get("next")))


def _second_step(db: Database, name: str, code: str, address: str) -> str | None:
    now = int(time.time())
    with db.write() as tx:
        how = totp.check(tx, name, code, now)
        action = {"totp": "totp_ok", "recovery": "recovery_code_used", None: "totp_failed"}[how]
        audit.record(tx, at=now, who=name, action=action, wallet_id=None, reason="second step", seq=None,
                     address=address)  # fmt: skip
    return how


async def code(request: Request) -> Response:
    db = request.app.state.served.collector.db
    session = await _pending(request)
    if session is None:
        return RedirectResponse("/console/login", status_code=303)
    form = await read_form(request)
    if not csrf_ok(request, form, session.csrf):
        return forbidden(request, "The form's security token is missing or wrong; reload the page.")
    target = safe_next(str(form.get("next") or ""))
    address, lim = client_of(request), limits(request)
    try:
        lim.code_address.check(address)
        lim.code_account.check(session.name)
    except Throttled as exc:
        return _throttled(request, exc, "code.html")
    how = await run_in_threadpool(_second_step, db, session.name, str(form.get("code") or ""), address)
    if how is None:
        lim.code_address.failed(address)
        lim.code_account.failed(session.name)
        return render(request, "code.html", status=401, error="Wrong or used code.", next=target)
    old = request.cookies.get(sessions.COOKIE)
    await run_in_threadpool(sessions.end, db, old)
    token = await run_in_threadpool(sessions.start, db, session.name, pending=False)
    return _signed_in(request, token, target)


async def logout(request: Request) -> Response:
    db = request.app.state.served.collector.db
    session = await current(request)
    if session is not None:
        form = await read_form(request)
        if not csrf_ok(request, form, session.csrf):
            return forbidden(request, "The form's security token is missing or wrong; reload the page.")
        await run_in_threadpool(sessions.end, db, request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/console")
    return response


ROUTES = [
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"]),
    Route("/login/code", code_form, methods=["GET"], name="login_code"),
    Route("/login/code", code, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
]

"""The payments page ``/console/payments`` (search, keyset pages) and ``/console/payments.csv``.

Search by wallet id (16 hex digits), terminal id, payment time range (``from``/``to``, epoch
seconds or ISO 8601, UTC) and amount range (``min``/``max``, minor units); ``after`` is the
next-page cursor. The CSV is the settlement per day, terminal and currency from ``since`` (the
time the collector stored the payments, as ``pos collector export --since``).
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from collector.console.guard import User, viewer_page
from collector.console.pages.common import collector_of, int_param, money, text_param, time_param, when
from collector.console.queries import payments as q
from collector.console.render import render
from collector.operator_actions import OperatorError, parse_wallet_id
from pos.identity import valid_terminal_id

FORM = ("wallet", "terminal", "from", "to", "min", "max")


def _filter(request: Request) -> tuple[q.PaymentFilter, list[str]]:
    errors: list[str] = []
    wallet: bytes | None = None
    if text := text_param(request, "wallet"):
        try:
            wallet = parse_wallet_id(text)
        except OperatorError:
            errors.append("A wallet id is 16 hex digits.")
    terminal = text_param(request, "terminal") or None
    if terminal is not None and not valid_terminal_id(terminal):
        errors.append("A terminal id is 1-64 letters, digits, '.', '_' or '-'.")
        terminal = None
    values: dict[str, int | None] = {}
    for name, parse in (("from", time_param), ("to", time_param), ("min", int_param), ("max", int_param)):
        values[name], ok = parse(request, name)
        if not ok:
            errors.append(f"'{name}' is not a {'time' if name in ('from', 'to') else 'number'}.")
    f = q.PaymentFilter(wallet, terminal, values["from"], values["to"], values["min"], values["max"])
    return f, errors


@viewer_page
async def payments(request: Request, user: User) -> Response:
    f, errors = _filter(request)
    after = None
    if cursor := text_param(request, "after"):
        after = q.decode_cursor(cursor)
        if after is None:
            errors.append("The page cursor is not valid; start from the first page.")
    rows: list[q.Payment] = []
    nxt = None
    if not errors:
        rows, nxt = await run_in_threadpool(q.search, collector_of(request).db, f, after)
    form = {k: text_param(request, k) for k in FORM}
    keep = {k: v for k, v in form.items() if v}
    ctx: dict[str, Any] = {
        "page": {"payments": rows}, "form": form, "errors": errors, "when": when, "money": money,
        "next_url": f"?{urlencode({**keep, 'after': q.encode_cursor(nxt)})}" if nxt else None,
        "first_url": f"?{urlencode(keep)}" if after else None,
        "csv_url": "/console/payments.csv" + (f"?terminal={form['terminal']}" if f.terminal_id else ""),
    }  # fmt: skip
    return render(request, "payments.html", status=400 if errors else 200, **ctx)


@viewer_page
async def settlement_csv(request: Request, user: User) -> Response:
    since, ok = time_param(request, "since")
    terminal = text_param(request, "terminal") or None
    if not ok or (terminal is not None and not valid_terminal_id(terminal)):
        return PlainTextResponse("since is a time (epoch seconds or ISO 8601); terminal a terminal id\n", 400)
    rows = await run_in_threadpool(q.settlement_by_day, collector_of(request).db, since or 0, terminal)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=q.CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    name = f"settlement-{terminal}.csv" if terminal else "settlement.csv"
    return Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )  # fmt: skip


ROUTES = [
    Route("/payments", payments, methods=["GET"], name="console_payments"),
    Route("/payments.csv", settlement_csv, methods=["GET"], name="console_payments_csv"),
]

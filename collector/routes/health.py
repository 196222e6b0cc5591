"""Health and metrics: ``GET /healthz`` (anyone) and ``GET /metrics`` (a bearer token).

``/metrics`` names every terminal and its activity, so it answers only to the metrics token
(``--metrics-token-file`` or ``$POS_METRICS_TOKEN``) or the operator token; with neither
configured it answers nobody.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector import metrics
from collector.routes import require_token, served

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def metrics_text(request: Request) -> Response:
    ctx = served(request)
    require_token(request, ctx.metrics_token, ctx.collector.settings.operator_token)
    text = await run_in_threadpool(metrics.render, ctx.collector)
    return PlainTextResponse(text, media_type=PROMETHEUS_TYPE)


ROUTES = [
    Route("/metrics", metrics_text, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]

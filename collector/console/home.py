"""``/console/``: a placeholder start page, shadowed by the fleet page of
``collector.console.pages`` (mounted before it) when that is present."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.console.guard import User, viewer_page
from collector.console.render import render


@viewer_page
async def home(request: Request, user: User) -> Response:
    return render(request, "home.html")


ROUTES = [Route("/", home, methods=["GET"], name="home")]

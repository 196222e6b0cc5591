"""The operator's web console under ``/console/`` (issue 13), with its second factor (issue 16).

``console_routes()`` gives the routes ``collector.app`` mounts: sign-in, the static files, the
audit and enroll pages, and the data pages of ``collector.console.pages``. Imports happen inside
it, so ``collector.db`` can read ``collector.console.schema`` without loading the web stack.
"""

from __future__ import annotations

from typing import Any


def console_routes() -> list[Any]:
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from collector.console import audit_page, enroll_page, home, login, pages
    from collector.console.render import TEMPLATES

    static = StaticFiles(directory=TEMPLATES.with_name("static"))
    return [
        *login.ROUTES,
        Mount("/static", app=static, name="static"),
        *audit_page.ROUTES,
        *enroll_page.ROUTES,
        *pages.ROUTES,
        *home.ROUTES,  # after the pages: their fleet page is /console/
    ]


def console_middleware() -> list[Any]:
    from starlette.middleware import Middleware

    from collector.console.headers import SecurityHeaders

    return [Middleware(SecurityHeaders)]

"""Server-rendered pages: one Jinja2 environment (autoescape on) over ``templates/``.

Every template gets ``user``, ``csrf_token``, ``csrf_field()``, ``_`` (translate), ``lang`` and
``url_for``. No markup here needs an inline script or style (the CSP forbids both).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from collector.console import i18n

TEMPLATES = Path(__file__).with_name("templates")
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = i18n.lang_of(request)
    token = getattr(request.state, "csrf", "")

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf" value="{}">').format(escape(token))

    def url_for(name: str, /, **params: Any) -> str:
        return str(request.url_for(name, **params).path)

    def lang_url(to: str) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        return f"{request.url.path}?{urlencode([*query, ('lang', to)])}"

    values = {
        "lang_url": lang_url,
        "user": getattr(request.state, "user", None),
        "csrf_token": token,
        "csrf_field": csrf_field,
        "_": partial(i18n.translate, lang),
        "lang": lang,
        "url_for": url_for,
        "path": request.url.path,
        **ctx,
    }
    html = env.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/console")
    return response

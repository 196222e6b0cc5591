"""English and 中文 for the console. English text is the key; the Chinese catalogs are every
``locale/zh*.json`` file, merged (``zh.json`` for sign-in, audit and enroll; ``zh-pages.json``
for the data pages). The language comes from ``?lang=``, then the ``lang`` cookie, then
Accept-Language."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGS = ("en", "zh")
LOCALE_DIR = Path(__file__).with_name("locale")
COOKIE = "lang"


@cache
def catalog(lang: str) -> dict[str, str]:
    if lang != "zh":
        return {}
    merged: dict[str, str] = {}
    for path in sorted(LOCALE_DIR.glob("zh*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def translate(lang: str, text: str) -> str:
    return catalog(lang).get(text, text)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(COOKIE)
    if asked in LANGS:
        return str(asked)
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        tag = part.split(";")[0].strip()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"

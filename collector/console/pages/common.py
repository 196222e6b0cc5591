"""What the data pages share: the collector of a request, query-parameter parsing, times."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from collector.service import Collector

MAX_PARAM = 200


def collector_of(request: Request) -> Collector:
    c: Collector = request.app.state.served.collector
    return c


def now() -> int:
    return int(time.time())


def text_param(request: Request, name: str, default: str = "") -> str:
    value = request.query_params.get(name, default)
    return value.strip()[:MAX_PARAM]


def int_param(request: Request, name: str) -> tuple[int | None, bool]:
    """The integer query parameter ``name`` (None when absent), and False when it is not one."""
    text = text_param(request, name)
    if not text:
        return None, True
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text)
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        return None, False
    return sign * int(digits), True


def time_param(request: Request, name: str) -> tuple[int | None, bool]:
    """A time as epoch seconds or ISO 8601 (UTC unless it says otherwise)."""
    text = text_param(request, name)
    if not text:
        return None, True
    value, ok = int_param(request, name)
    if ok:
        return value, True
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None, False
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()), True


def when(t: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` (UTC), or an empty string."""
    if t is None:
        return ""
    try:
        return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return str(t)


def ago(t: Any, at: int) -> str:
    if t is None:
        return ""
    s = max(0, at - int(t))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h" if s < 172800 else f"{s // 86400} d"


def money(amount: int) -> str:
    """Minor units as major units with two decimals (every currency of the demo has two)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


# The collector's machine words (event kinds, row statuses) as the pages show them in English;
# the English text is then the translation key (``locale/zh-pages.json``).
LABELS = {
    "double_spend": "Double spend", "chain_gap": "Chain gap", "chain_fork": "Chain fork",
    "row_edited": "Row edited", "foreign_terminal_id": "Row names another terminal",
    "foreign_nfc_token": "NFC token bound to another terminal", "time_in_future": "Time in the future",
    "time_backwards": "Time went backwards", "time_outside_token": "Time outside the token's validity",
    "self_duplicate": "Same payment twice from one terminal",
    "denied_list_held": "Accepted a wallet on a deny list it held",
    "terminal_offline_limit_breach": "Terminal over the offline limit",
    "offline_limit_exceeded": "Wallet over its offline limit", "revoke_terminal": "revoke terminal",
}  # fmt: skip


def label(word: str | None) -> str:
    return LABELS.get(word or "", word or "")

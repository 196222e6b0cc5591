"""Customer- and cashier-facing text in English and Simplified Chinese (gettext catalogs).

Screen labels use the English text as msgid: ``_("Enter amount")``. Decline reasons, driver
outcomes and terminal policies (``passback``) are looked up by code in three contexts:

- ``reason``: what happened, in plain words;
- ``action``: what the cashier should do next (counter);
- ``customer``: what the customer should do next (self-service: gate, vending).

One catalog is active at a time (one App per process); ``use(lang)`` switches it.
"""

from __future__ import annotations

import gettext
from pathlib import Path
from typing import Final

from pos.config_model import LANGUAGES as _LANGUAGES

LANGUAGES: Final[tuple[str, ...]] = _LANGUAGES
_CATALOGS = Path(__file__).resolve().parent
LANGUAGE_NAMES: Final[dict[str, str]] = {"en": "English", "zh": "中文"}
REASON, ACTION, CUSTOMER = "reason", "action", "customer"
APPROVED: Final = "approved"  # the code used for the approved wording


class Catalog:
    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; have {', '.join(LANGUAGES)}")
        self.lang = lang
        # The committed .mo files are what runs (tests/ui/test_i18n.py keeps them in step with
        # the .po sources; ``python -m ui.i18n.compile`` rewrites them).
        with (_CATALOGS / lang / "LC_MESSAGES" / "pos.mo").open("rb") as fp:
            self._t = gettext.GNUTranslations(fp)

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def code(self, context: str, code: str | None) -> str:
        key = APPROVED if code is None else code
        text = self._t.pgettext(context, key)
        return "" if text == key else text


_catalogs: dict[str, Catalog] = {}
_active: list[Catalog] = []


def catalog(lang: str) -> Catalog:
    if lang not in _catalogs:
        _catalogs[lang] = Catalog(lang)
    return _catalogs[lang]


def use(lang: str) -> Catalog:
    """Make ``lang`` the active language; return its catalog."""
    cat = catalog(lang)
    _active[:] = [cat]
    return cat


def active() -> Catalog:
    return _active[0] if _active else use(LANGUAGES[0])


def _(message: str) -> str:
    """The active language's text for ``message`` (English msgid)."""
    return active().gettext(message)


def N_(message: str) -> str:
    """Mark a module-level string for the catalogs; translate it later with ``_``."""
    return message


def reason_text(code: str | None) -> str:
    """What happened, for a decline code, a driver outcome, a policy code, or None (approved)."""
    return active().code(REASON, code) or (code or "")


def action_text(code: str | None) -> str:
    """What the cashier should do next."""
    return active().code(ACTION, code)


def customer_text(code: str | None) -> str:
    """What a self-service customer should do next."""
    return active().code(CUSTOMER, code)

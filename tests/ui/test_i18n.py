"""Every decline code, driver outcome and terminal policy has words in English and Simplified
Chinese: what happened, what the cashier does next, what a self-service customer does next.
Every screen label is in the Chinese catalog; the compiled .mo files match their .po sources."""

from __future__ import annotations

import ast
import gettext
import io
from pathlib import Path

import pytest

from pos import reasons
from pos.ports import SOURCE_OUTCOMES
from ui.i18n import ACTION, CUSTOMER, LANGUAGES, REASON, catalog
from ui.i18n.compile import CONTEXT_SEP, compile_language, main, mo_bytes, mo_path, parse_po, po_path
from ui.runtime.acceptance import ACTUATOR_FAILED, PASSBACK
from ui.tui.app import VOID_FAILED, VOID_UNAVAILABLE, VOIDED
from ui.tui.screens.vending import VEND_FAILED, VEND_FAILED_CHARGED

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = (ROOT / "ui", ROOT / "sim")  # the screens and the demo's
CODES = sorted(
    {*reasons.ALL, *SOURCE_OUTCOMES, PASSBACK, ACTUATOR_FAILED, VEND_FAILED, VEND_FAILED_CHARGED}
    | {VOIDED, VOID_UNAVAILABLE, VOID_FAILED}
)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("context", [REASON, ACTION, CUSTOMER])
def test_every_code_has_words_in_every_language(lang: str, context: str) -> None:
    cat = catalog(lang)
    missing = [code for code in [*CODES, None] if not cat.code(context, code)]
    assert missing == []


def test_chinese_wording_differs_from_english() -> None:
    en, zh = catalog("en"), catalog("zh")
    same = [c for c in CODES if en.code(REASON, c) == zh.code(REASON, c)]
    assert same == []


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(p for top in TRANSLATED for p in top.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_"):
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):  # else: an N_ string
                    found.setdefault(arg.value, str(path))
    return found


def test_every_screen_label_is_translated() -> None:
    zh = parse_po(po_path("zh").read_text(encoding="utf-8"))
    missing = {msgid: where for msgid, where in _msgids().items() if msgid not in zh}
    assert missing == {}


def test_placeholders_survive_translation() -> None:
    zh = catalog("zh")
    for msgid in _msgids():
        if "{" in msgid:
            names = sorted(p.split("}")[0] for p in msgid.split("{")[1:])
            translated = zh.gettext(msgid)
            assert sorted(p.split("}")[0] for p in translated.split("{")[1:]) == names, msgid


def test_compiled_catalogs_match_their_sources() -> None:
    for lang in LANGUAGES:
        assert mo_path(lang).read_bytes() == compile_language(lang), "run: python -m ui.i18n.compile"
    assert main(["--check"]) == 0


def test_po_compiler_round_trips_contexts_and_continuations() -> None:
    po = (
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '# a comment\nmsgctxt "reason"\nmsgid "replayed"\nmsgstr ""\n"used "\n"twice"\n\n'
        'msgid "Charge"\nmsgstr "收款"\n\nmsgid "untranslated"\nmsgstr ""\n'
    )
    entries = parse_po(po)
    assert entries["reason" + CONTEXT_SEP + "replayed"] == "used twice"
    assert "untranslated" not in entries
    t = gettext.GNUTranslations(io.BytesIO(mo_bytes(entries)))
    assert t.pgettext("reason", "replayed") == "used twice"
    assert t.gettext("Charge") == "收款"
    assert t.gettext("untranslated") == "untranslated"

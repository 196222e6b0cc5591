"""A small gettext ``.po`` -> ``.mo`` compiler (the subset our catalogs use), and its CLI.

    python -m ui.i18n.compile          # rewrite every ui/i18n/<lang>/LC_MESSAGES/pos.mo
    python -m ui.i18n.compile --check  # exit 1 when a .mo is missing or differs from its .po

Supported: ``msgctxt``, ``msgid``, ``msgstr``, multi-line string continuations, ``#`` comments,
the usual C escapes. Not supported (not used here): plural forms. The output is the GNU MO
format (magic 0x950412de, revision 0, no hash table), as CPython's ``Tools/i18n/msgfmt.py``
writes it, so ``gettext.GNUTranslations`` reads it.
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from pathlib import Path

CONTEXT_SEP = "\x04"  # gettext joins msgctxt and msgid with EOT
CATALOG_DIR = Path(__file__).resolve().parent
DOMAIN = "pos"


class PoError(ValueError):
    def __init__(self, where: str, line: int, what: str) -> None:
        super().__init__(f"{where}:{line}: {what}")


def _unquote(text: str, where: str, line: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(where, line, f"expected a quoted string, got {text!r}")
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError) as exc:
        raise PoError(where, line, f"bad string {text!r}: {exc}") from None
    if not isinstance(value, str):
        raise PoError(where, line, "not a string")
    return value


def parse_po(text: str, where: str = "<po>") -> dict[str, str]:
    """``{key: translation}``; key is ``msgid`` or ``msgctxt + "\\x04" + msgid``.

    Entries with an empty ``msgstr`` are left out (gettext then falls back to the msgid), except
    the header (empty msgid), which is always kept.
    """
    entries: dict[str, str] = {}
    current: dict[str, str] = {}
    field: str | None = None
    start = 0

    def flush() -> None:
        if "msgid" not in current:
            if current:
                raise PoError(where, start, "entry without msgid")
            return
        key = current["msgid"]
        if "msgctxt" in current:
            key = current["msgctxt"] + CONTEXT_SEP + key
        if key in entries:
            raise PoError(where, start, f"duplicate entry {key!r}")
        value = current.get("msgstr", "")
        if value or key == "":
            entries[key] = value

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid", "msgstr"):
            if keyword == "msgctxt" or (keyword == "msgid" and "msgid" in current):
                if current:
                    flush()
                    current = {}
                start = number
            elif keyword == "msgid" and not current:
                start = number
            if keyword == "msgstr" and "msgid" not in current:
                raise PoError(where, number, "msgstr without msgid")
            if keyword in current:
                raise PoError(where, number, f"{keyword} twice in one entry")
            field = keyword
            current[field] = _unquote(rest, where, number)
        elif line.startswith('"'):
            if field is None:
                raise PoError(where, number, "continuation line outside an entry")
            current[field] += _unquote(line, where, number)
        else:
            raise PoError(where, number, f"unsupported line {line!r}")
    flush()
    return entries


def mo_bytes(entries: dict[str, str]) -> bytes:
    """The GNU MO file for ``entries`` (keys sorted by their UTF-8 bytes, as gettext requires)."""
    keys = sorted(entries, key=lambda k: k.encode("utf-8"))
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    n = len(keys)
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + n * 8
    data_start = strs_table + n * 8
    offsets: list[int] = []
    blob = b""
    for item in ids + strs:
        offsets += [len(item), data_start + len(blob)]
        blob += item + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, ids_table, strs_table, 0, data_start)
    return head + struct.pack(f"<{4 * n}I", *offsets) + blob


def po_path(lang: str) -> Path:
    return CATALOG_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in CATALOG_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def compile_language(lang: str) -> bytes:
    path = po_path(lang)
    return mo_bytes(parse_po(path.read_text(encoding="utf-8"), str(path)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui.i18n.compile", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only check that every .mo is up to date")
    args = p.parse_args(argv)
    stale = []
    for lang in languages():
        data = compile_language(lang)
        target = mo_path(lang)
        current = target.read_bytes() if target.exists() else None
        if current == data:
            continue
        if args.check:
            stale.append(str(target))
        else:
            target.write_bytes(data)
            print(f"wrote {target}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

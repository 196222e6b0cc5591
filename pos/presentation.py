"""The text transport of SPEC section 2: ``OWT1:`` then base45 (RFC 9285) of the COSE bytes.

QR codes and serial scanners deliver this text. Anything else is a clear decline: a different
``OWT<n>:`` version is ``unsupported_version``, everything else that is not exact base45 of at
most 2048 bytes is ``malformed``. Checks are made on the length before any decoding work.
"""

from __future__ import annotations

import re
import struct

from pos import reasons
from pos.errors import Decline
from pos.tokens import MAX_TOKEN_BYTES

PREFIX = "OWT1:"
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
MAX_TEXT_CHARS = len(PREFIX) + (MAX_TOKEN_BYTES // 2) * 3
_VERSION = re.compile(rb"OWT([0-9]+):")
# byte -> base45 digit value, 0xFF for bytes outside the alphabet (one C-speed translate)
_VALUES = bytes(
    BASE45_ALPHABET.find(chr(b)) & 0xFF if chr(b) in BASE45_ALPHABET else 0xFF for b in range(256)
)
_LINE_ENDS = b"\r\n"


def b45decode(text: bytes) -> bytes:
    """Strict base45: alphabet only, no length of the form 3k+1, no chunk above its range."""
    n = len(text)
    if n % 3 == 1:
        raise ValueError("base45 length leaves a single character")
    vals = text.translate(_VALUES)
    if b"\xff" in vals:
        raise ValueError("character outside the base45 alphabet")
    full = n - n % 3
    it = iter(vals[:full])
    chunks = [a + b * 45 + c * 2025 for a, b, c in zip(it, it, it, strict=True)]
    if chunks and max(chunks) > 0xFFFF:
        raise ValueError("base45 triplet above 65535")
    out = struct.pack(f">{len(chunks)}H", *chunks)
    if n % 3:
        last = vals[full] + vals[full + 1] * 45
        if last > 0xFF:
            raise ValueError("base45 pair above 255")
        out += bytes((last,))
    return out


def b45encode(data: bytes) -> str:
    chars: list[str] = []
    for i in range(0, len(data) - 1, 2):
        x = (data[i] << 8) | data[i + 1]
        e, rest = divmod(x, 2025)
        d, c = divmod(rest, 45)
        chars += (BASE45_ALPHABET[c], BASE45_ALPHABET[d], BASE45_ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        chars += (BASE45_ALPHABET[c], BASE45_ALPHABET[d])
    return "".join(chars)


def encode_text(token: bytes) -> str:
    return PREFIX + b45encode(token)


def decode_text(text: bytes | str) -> bytes:
    """Token bytes from presented text, or ``Decline`` (``unsupported_version`` / ``malformed``).

    Trailing CR and LF are line endings (files, stdin, scanners) and are dropped; any other
    character, spaces included (space is a base45 digit), is part of the text.
    """
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise Decline(reasons.MALFORMED, "presented text is not ASCII") from None
    text = text.rstrip(_LINE_ENDS)
    head = _VERSION.match(text)
    if head is not None and head.group(1) != b"1":
        raise Decline(reasons.UNSUPPORTED_VERSION, f"version {head.group(1)[:8]!r}")
    if not text.startswith(PREFIX.encode()):
        raise Decline(reasons.MALFORMED, "text does not start with OWT1:")
    if len(text) > MAX_TEXT_CHARS:
        raise Decline(reasons.MALFORMED, f"text of {len(text)} characters is too long")
    try:
        return b45decode(text[len(PREFIX) :])
    except ValueError as exc:
        raise Decline(reasons.MALFORMED, str(exc)) from None

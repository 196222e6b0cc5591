"""Which QR texts become presentations, and when the same one counts again.

Only texts that look like OWT presentations (``OWT`` then a version and ``:``; SPEC 2) go to the
terminal: a different version still does, so that the terminal can decline it as
``unsupported_version``. Menus, Wi-Fi codes and URLs are not payment attempts and are ignored.
"""

from __future__ import annotations

import re

_OWT = re.compile(r"OWT[0-9]*:")


def is_presentation(text: str) -> bool:
    return _OWT.match(text) is not None


def redact(text: str) -> str:
    """Enough of a foreign QR text for a log line (its start and length), not its secrets:
    a Wi-Fi code carries its password at the end."""
    return f"{text[:12]!r}... ({len(text)} characters)" if len(text) > 12 else repr(text)


class Deduper:
    """``True`` the first time a text is seen, then ``False`` while it keeps being seen.

    A text counts again once it has been out of sight for more than ``hold_s`` (times are the
    frames' times: media time for files, the monotonic clock for live cameras). A code held in
    front of the camera for a minute is one presentation.
    """

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._last: dict[str, float] = {}

    def fresh(self, text: str, t: float) -> bool:
        last = self._last.get(text)
        self._last[text] = t
        if len(self._last) > 256:
            self._prune(t)
        return last is None or not (0 <= t - last <= self.hold_s)

    def forget(self, text: str) -> None:
        self._last.pop(text, None)

    def _prune(self, t: float) -> None:
        for key in [k for k, v in self._last.items() if t - v > self.hold_s]:
            del self._last[key]

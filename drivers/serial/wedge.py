"""Keyboard-wedge scanners: many 2D scanners are USB keyboards that "type" the token and Enter.

``WedgeDetector`` is pure: it gets key events ``(char, timestamp)`` and tells a scanner's burst
from a person typing. A burst is a token when its first keys spell ``OWT`` and every key, up to
and including Enter, follows the previous one within ``max_gap_s`` (30 ms by default; scanners
type a key every 1 to 10 ms, people rarely faster than 50 ms, never for 300 keys in a row).

While a burst may still be a token its keys are *held*; once it cannot be one (a gap, a key off
the prefix) they are released as ``Typed`` text, in order, for the focused widget. A UI therefore
swallows every key, feeds it here, replays ``Typed`` text and accepts ``WedgeToken`` data, and
calls ``poll(now)`` every ``max_gap_s`` or so to release a held key when the typing stops. Enter
is ``"\\r"`` or ``"\\n"`` (map Textual's ``"enter"`` key to ``"\\r"``); timestamps are seconds, from
one clock (``time.monotonic()`` at receipt, or the evdev event time).

Malformed bursts follow the serial rules (``drivers.serial.lines``): a fast ``OWT`` burst of at
least ``min_partial`` keys that stops without Enter is a *partial* token, one of more than 4096
characters is drained to its Enter as *overlong*; both come out as marked ``WedgeToken`` data
that ``Terminal.accept_text`` declines as ``malformed``.

``EvdevWedgeSource`` reads a scanner's own input device (``/dev/input/by-id/...-event-kbd``) as a
``TokenSource``, grabbing it so its keys never reach the console. It needs the optional ``evdev``
package (``uv add evdev``, or Debian's ``python3-evdev``) and read access to the device (the
``input`` group, or a udev rule). Keys are mapped with the US layout, the scanners' default.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from drivers.serial.lines import MAX_LINE_CHARS, OVERLONG, PARTIAL, Frame
from pos.decision import PaymentRequest
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, Presentation, SourceFailure

try:  # optional: only the evdev reader needs it
    import evdev
except ImportError:  # pragma: no cover - depends on the machine
    evdev = None

ENTER = frozenset("\r\n")
PREFIX = "OWT"
MAX_GAP_S = 0.03


@dataclass(frozen=True, slots=True)
class Typed:
    """Keys that turned out to be typing: hand them to the focused widget, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class WedgeToken:
    """A scanned token line (without Enter), or a marked text the core declines as malformed."""

    data: bytes


WedgeEvent = Typed | WedgeToken


class WedgeDetector:
    """Scanner burst or typing? Feed every key; see the module docstring for the contract."""

    def __init__(
        self,
        *,
        max_gap_s: float = MAX_GAP_S,
        prefix: str = PREFIX,
        max_chars: int = MAX_LINE_CHARS,
        min_partial: int = 6,
    ) -> None:
        if not prefix:
            raise ValueError("prefix must not be empty")
        self.max_gap_s = max_gap_s
        self.prefix = prefix
        self.max_chars = max_chars
        self.min_partial = max(min_partial, len(prefix))
        self._held: list[str] = []
        self._drained = 0  # > 0 while draining an over-long burst
        self._last = 0.0

    @property
    def holding(self) -> bool:
        return bool(self._held) or self._drained > 0

    def feed(self, char: str, t: float) -> list[WedgeEvent]:
        """One key (``\\r``/``\\n`` for Enter) at time ``t``; the events it settles, in order."""
        out = self.poll(t)
        if not self.holding:
            if char == self.prefix[0]:
                self._held.append(char)
                self._last = t
            else:
                out.append(Typed(char))
            return out
        self._last = t
        if char in ENTER:
            if self._drained:
                out.append(WedgeToken(self._cut()))
            elif len(self._held) >= len(self.prefix):
                out.append(WedgeToken(self._take()))
            else:
                out.append(Typed("".join(self._held) + char))
                self._held.clear()
            return out
        if self._drained:
            self._drained += 1
        elif len(self._held) < len(self.prefix) and char != self.prefix[len(self._held)]:
            out.append(Typed("".join(self._held)))  # not a token after all; this key may start one
            self._held.clear()
            out += self.feed(char, t)
        elif len(self._held) >= self.max_chars:
            self._drained = len(self._held) + 1
            self._held.clear()
        else:
            self._held.append(char)
        return out

    def poll(self, now: float) -> list[WedgeEvent]:
        """Settle a held burst whose next key is overdue: typing, or a cut-off (partial) token."""
        if not self.holding or now - self._last <= self.max_gap_s:
            return []
        if self._drained or len(self._held) >= self.min_partial:
            return [WedgeToken(self._cut())]
        text = "".join(self._held)
        self._held.clear()
        return [Typed(text)]

    def _take(self) -> bytes:
        data = "".join(self._held).encode("utf-8", "replace")
        self._held.clear()
        return data

    def _cut(self) -> bytes:
        """End the held burst as malformed: ``overlong`` when draining, else ``partial``."""
        if self._drained:
            size, self._drained = self._drained, 0
            return Frame(OVERLONG, b"", size).text()
        data = self._take()
        return Frame(PARTIAL, data, len(data)).text()


# -- evdev --------------------------------------------------------------------------------------

# Linux input key codes (linux/input-event-codes.h) -> (plain, shifted), US layout
_ROWS = {2: "1234567890-=", 16: "qwertyuiop[]", 30: "asdfghjkl;'`", 44: "zxcvbnm,./"}
_SHIFTED = {2: "!@#$%^&*()_+", 16: "QWERTYUIOP{}", 30: 'ASDFGHJKL:"~', 44: "ZXCVBNM<>?"}
KEYMAP: dict[int, tuple[str, str]] = {
    start + i: (plain, _SHIFTED[start][i]) for start, row in _ROWS.items() for i, plain in enumerate(row)
}
KEYMAP |= {43: ("\\", "|"), 57: (" ", " "), 28: ("\r", "\r"), 96: ("\r", "\r")}  # Enter, keypad Enter
KEYMAP |= {55: ("*", "*"), 74: ("-", "-"), 78: ("+", "+"), 83: (".", "."), 98: ("/", "/")}  # keypad
_KEYPAD_DIGITS = (82, 79, 80, 81, 75, 76, 77, 71, 72, 73)  # KP0 .. KP9
KEYMAP |= {code: (d, d) for code, d in zip(_KEYPAD_DIGITS, "0123456789", strict=True)}
SHIFT_KEYS = frozenset({42, 54})  # left, right shift
CAPS_LOCK = 58


class KeyTranslator:
    """EV_KEY (code, value) -> the character typed, tracking Shift and Caps Lock (pure)."""

    def __init__(self) -> None:
        self._shift: set[int] = set()
        self._caps = False

    def feed(self, code: int, value: int) -> str | None:
        """``value``: 1 key down, 2 autorepeat, 0 key up. Returns the character of a press."""
        if code in SHIFT_KEYS:
            (self._shift.add if value else self._shift.discard)(code)
            return None
        if value == 0:
            return None
        if code == CAPS_LOCK:
            if value == 1:
                self._caps = not self._caps
            return None
        keys = KEYMAP.get(code)
        if keys is None:
            return None
        plain, shifted = keys
        upper = bool(self._shift) != (self._caps and plain.isalpha())
        return shifted if upper else plain


def evdev_available() -> bool:
    return evdev is not None


class EvdevWedgeSource:
    """A keyboard-wedge scanner's input device as a ``TokenSource`` (needs the ``evdev`` package)."""

    def __init__(self, path: str, *, grab: bool = True, max_gap_s: float = MAX_GAP_S) -> None:
        if evdev is None:
            raise RuntimeError(
                "reading a keyboard-wedge scanner directly needs the evdev package "
                "(uv add evdev, or apt install python3-evdev)"
            )
        self.url = f"evdev:{path}"
        self._dev: Any = evdev.InputDevice(path)
        if grab:
            self._dev.grab()  # exclusive: the scanner's keys no longer reach the console
        self._keys = KeyTranslator()
        self._detector = WedgeDetector(max_gap_s=max_gap_s)
        self._tokens: deque[bytes] = deque()

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self._collect(self._detector.poll(time.time()))  # evdev stamps events with wall time
            if self._tokens:
                return Presentation("text", self._tokens.popleft(), self.url)
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not self._detector.holding:
                raise SourceFailure(SOURCE_TIMEOUT, f"no scan within {timeout:g} s")
            wait = self._detector.max_gap_s if self._detector.holding else min(remaining, 0.1)
            try:
                ready, _, _ = select.select([self._dev.fd], [], [], max(0.0, wait))
                events = list(self._dev.read()) if ready else []
            except BlockingIOError:
                continue
            except OSError as exc:  # unplugged: ENODEV
                raise SourceFailure(DEVICE_ERROR, f"{self.url}: {exc}") from exc
            for ev in events:
                if ev.type == evdev.ecodes.EV_KEY:
                    char = self._keys.feed(ev.code, ev.value)
                    if char is not None:
                        self._collect(self._detector.feed(char, ev.timestamp()))

    def _collect(self, events: list[WedgeEvent]) -> None:
        # a grabbed scanner's non-token text (a product barcode) has nowhere to go: dropped
        self._tokens.extend(e.data for e in events if isinstance(e, WedgeToken))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._dev.ungrab()
        self._dev.close()

"""The line framer of SPEC section 2: bytes in, complete lines out, memory bounded.

A scanner sends the token text as one line ended by CR, LF or CR LF. ``LineFramer`` is pure (no
clock, no I/O): the reader feeds it whatever bytes arrived and gets back the finished frames; it
asks ``take_partial()`` when its line timeout expires.

- CR, LF and CR LF all end a line. Empty lines are ignored, so the LF of a CR LF pair (even when
  it arrives in a later read) and a scanner's bare "wake-up" CR never yield a presentation.
- A line longer than ``max_chars`` (4096) is never buffered whole: once it passes the cap the
  buffer is dropped and only the count of bytes grows until the next terminator, which ends it
  as an ``overlong`` frame.
- Bytes are passed through as they are (NUL, non-ASCII, binary noise): the core declines them.

Frames that the core must decline as ``malformed`` (a partial or an over-long line) are turned
into presentation text by ``Frame.text()``: a NUL marker, the problem and the detail, e.g.
``b"\\x00owt-serial:partial:OWT1:6BFOX"``. ``pos.presentation.decode_text`` declines any text
that does not start with ``OWT1:`` as ``malformed``, and a NUL-led text cannot match ``OWT<n>:``
either, so a marked frame can never be approved nor misread as ``unsupported_version``.
``frame_problem()`` tells a marked text apart for logs and screens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_LINE_CHARS = 4096  # SPEC 2: longer lines are malformed, drained and never buffered whole
MARK = b"\x00owt-serial:"  # starts every presentation text that stands for a framing problem
FrameKind = Literal["line", "partial", "overlong"]
LINE: FrameKind = "line"
PARTIAL: FrameKind = "partial"
OVERLONG: FrameKind = "overlong"
_EOL = re.compile(rb"[\r\n]")


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameKind
    data: bytes  # the line (terminator stripped); for ``overlong``, empty: nothing was kept
    size: int  # bytes the line held (for ``overlong``, all the drained bytes)

    @property
    def ok(self) -> bool:
        return self.kind == LINE

    def text(self) -> bytes:
        """The presentation text: the line itself, or a marked text the core declines as malformed."""
        if self.kind == LINE:
            return self.data
        if self.kind == PARTIAL:
            return MARK + b"partial:" + self.data
        return MARK + b"overlong:%d" % self.size


def frame_problem(text: bytes | str) -> str | None:
    """``"partial"`` or ``"overlong"`` for a marked presentation text, else ``None``."""
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    if not raw.startswith(MARK):
        return None
    kind = raw[len(MARK) :].split(b":", 1)[0]
    return kind.decode("ascii", "replace") if kind in (b"partial", b"overlong") else None


class LineFramer:
    """Incremental CR / LF / CR LF framing with a hard cap on what is buffered."""

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        self.max_chars = max_chars
        self._buf = bytearray()
        self._drained = 0  # > 0 while draining an over-long line: the bytes it held so far
        self.high_water = 0  # the most bytes ever buffered (tests assert the cap)

    @property
    def pending(self) -> bool:
        """Bytes of an unfinished line are held (or an over-long line is being drained)."""
        return bool(self._buf) or self._drained > 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """Take the bytes that arrived; return the lines they finished, in order."""
        frames: list[Frame] = []
        start = 0
        n = len(data)
        while start < n:
            m = _EOL.search(data, start)
            if m is None:
                self._append(data, start, n)
                break
            self._append(data, start, m.start())
            frame = self._end_line()
            if frame is not None:
                frames.append(frame)
            start = m.end()
        return frames

    def take_partial(self) -> Frame | None:
        """End the unfinished line as malformed (its timeout expired, or the port went away)."""
        if self._drained:
            size, self._drained = self._drained, 0
            return Frame(OVERLONG, b"", size)
        if not self._buf:
            return None
        data = bytes(self._buf)
        self._buf.clear()
        return Frame(PARTIAL, data, len(data))

    def reset(self) -> None:
        self._buf.clear()
        self._drained = 0

    def _append(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if not size:
            return
        if self._drained:
            self._drained += size
        elif len(self._buf) + size > self.max_chars:
            self._drained = len(self._buf) + size
            self._buf.clear()
        else:
            self._buf += data[start:end]
            if len(self._buf) > self.high_water:
                self.high_water = len(self._buf)

    def _end_line(self) -> Frame | None:
        if self._drained:
            size, self._drained = self._drained, 0
            return Frame(OVERLONG, b"", size)
        if not self._buf:
            return None  # an empty line: a bare CR, or the LF of CR LF
        data = bytes(self._buf)
        self._buf.clear()
        return Frame(LINE, data, len(data))

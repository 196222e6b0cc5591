"""A serial 2D barcode scanner as a ``pos.ports.TokenSource`` (SPEC section 2, "Serial scanner").

``ScannerSource(url)`` opens ``serial.serial_for_url(url)``: a device path (``/dev/ttyACM0``, a
``/dev/serial/by-id/...`` link), ``socket://HOST:PORT`` (a scanner behind ser2net) or ``loop://``.
``read(request, timeout)`` returns ``Presentation("text", line, url)`` for each complete line, the
terminator stripped (see ``drivers.serial.lines`` for the framing rules).

Malformed presentations (SPEC 2): a line that gets no terminator within the line timeout, or one
longer than 4096 characters (drained to its terminator, never buffered whole), is returned as a
*marked* text, ``b"\\x00owt-serial:partial:<the bytes>"`` / ``b"\\x00owt-serial:overlong:<count>"``.
``Terminal.accept_text`` declines it as ``malformed`` (it does not start with ``OWT1:``); the
marker can never be a valid token. ``drivers.serial.lines.frame_problem`` names the problem.

The line timeout is an *idle* timeout: a partial line is given up ``line_timeout`` seconds after
its last byte, so a slow 9600-baud link (about 1 ms a character, 3 s for the longest token) is
not cut; a trickle that never ends a line is cut after ``max_line_s`` from its first byte (by
default the time 4096 characters take at the baud rate, plus 1 s). A ``read`` whose own timeout
falls while a line is arriving waits for that line (at most its line timeout) before giving up.

Hot-plug: when the port fails (scanner unplugged, ``socket://`` peer gone) the source logs
``scanner URL gone (...), retrying in 0.5 s`` and reopens the same URL with exponential backoff
(``backoff_initial`` doubling to ``backoff_max``), logging ``scanner URL back`` when it returns.
Reopening happens inside ``read`` calls; while the scanner is away ``read`` raises
``SourceFailure(DEVICE_ERROR)`` at its timeout. ``health`` tells the status bar how it is.
Use a stable path for real devices (``/dev/serial/by-id/usb-...``): ``ttyACM0`` may come back as
``ttyACM1``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from dataclasses import replace
from typing import Any

import serial

from drivers.serial.lines import MAX_LINE_CHARS, OVERLONG, Frame, LineFramer
from pos.decision import PaymentRequest
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, DeviceHealth, HealthState, Presentation, SourceFailure

log = logging.getLogger("drivers.serial.scanner")

READ_CHUNK = 4096  # most bytes taken from the port at once (memory stays bounded)
POLL_S = 0.02  # the port's read timeout: how often a blocked read looks at its deadlines


class ScannerSource:
    """One serial scanner: lines in, text presentations out, reopened when it comes back."""

    def __init__(
        self,
        url: str,
        *,
        line_timeout: float = 0.3,
        baudrate: int = 9600,
        max_line_s: float | None = None,
        max_line_chars: int = MAX_LINE_CHARS,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        if line_timeout <= 0:
            raise ValueError("line_timeout must be positive")
        self.url = url
        self.baudrate = baudrate
        self.line_timeout = line_timeout
        self.max_line_s = max_line_s if max_line_s is not None else 1.0 + 10 * max_line_chars / baudrate
        self.backoff_initial = backoff_initial
        self.backoff_max = max(backoff_max, backoff_initial)
        self._framer = LineFramer(max_line_chars)
        self._ready: deque[Frame] = deque()
        self._port: serial.SerialBase | None = None
        self._closed = False
        self._backoff = backoff_initial
        self._next_attempt = 0.0
        self._gone_at = 0.0
        self._line_started = 0.0
        self._last_byte = 0.0
        self._ever_open = False
        self._opened_at = 0.0
        self._stable = False  # the open port delivered data or stayed up backoff_max seconds
        self._health = _health(url, "reconnecting", "not opened yet")
        try:
            self._open()
        except (serial.SerialException, OSError) as exc:
            self._lost(exc, verb="not available")
        else:
            self._health = _health(url, "ok")

    # -- TokenSource -------------------------------------------------------------------------

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        """The next line as a text presentation; ``SourceFailure`` when none comes in ``timeout``."""
        deadline = time.monotonic() + max(0.0, timeout)
        tried = False  # even a zero timeout looks at the port once
        while True:
            if self._ready:
                return Presentation("text", self._ready.popleft().text(), self.url)
            if self._closed:
                raise SourceFailure(DEVICE_ERROR, f"scanner {self.url} is closed")
            now = time.monotonic()
            port = self._port
            if port is None:
                if now >= self._next_attempt:
                    self._reopen()
                    continue
                if now >= deadline:
                    why = self._health.last_error
                    raise SourceFailure(DEVICE_ERROR, f"scanner {self.url} unavailable: {why}")
                time.sleep(max(0.0, min(self._next_attempt, deadline, now + 0.1) - now))
                continue
            if self._framer.pending:
                if now >= min(self._last_byte + self.line_timeout, self._line_started + self.max_line_s):
                    self._give_up_line("no terminator within the line timeout")
                    continue
            elif now >= deadline and tried:
                raise SourceFailure(SOURCE_TIMEOUT, f"no scan within {timeout:g} s")
            tried = True
            try:
                data = self._read_some(port)
            except (serial.SerialException, OSError) as exc:  # OSError: a few paths escape pyserial
                if not self._closed:
                    self._lost(exc)
                continue
            except Exception:
                if self._closed:  # close() from another thread pulled the port away mid-read
                    continue
                raise
            if data:
                self._take(data, time.monotonic())

    def close(self) -> None:
        # health first: a reader woken by the close must already see "closed"
        self._health = _health(
            self.url, "closed", self._health.last_error, reconnects=self._health.reconnects
        )
        self._closed = True
        port, self._port = self._port, None
        if port is not None:
            cancel = getattr(port, "cancel_read", None)  # posix and loop:// have it, socket:// not
            if cancel is not None:
                with contextlib.suppress(serial.SerialException, OSError):
                    cancel()  # wakes a read blocked in another thread
            self._close_port(port)

    # -- for the UI --------------------------------------------------------------------------

    def health(self) -> DeviceHealth:
        return self._health

    @property
    def port(self) -> serial.SerialBase | None:
        """The open pyserial port (``None`` while reconnecting); tests write to ``loop://`` here."""
        return self._port

    def discard_pending(self) -> None:
        """Drop scans already received but not read (call when a new payment starts)."""
        self._ready.clear()
        self._framer.reset()
        if self._port is not None:
            try:
                self._port.reset_input_buffer()
            except (serial.SerialException, OSError) as exc:
                self._lost(exc)

    def __enter__(self) -> ScannerSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _open(self) -> None:
        kwargs: dict[str, Any] = {"baudrate": self.baudrate, "timeout": POLL_S}
        if "://" not in self.url:
            kwargs["exclusive"] = True  # flock: a second reader would steal half of every line
        port = serial.serial_for_url(self.url, do_not_open=True, **kwargs)  # ValueError: bad URL
        port.open()
        self._port = port
        self._ever_open = True
        self._opened_at = time.monotonic()
        self._stable = False

    def _read_some(self, port: serial.SerialBase) -> bytes:
        """Block up to ``POLL_S`` for a byte, then take what else is waiting (at most READ_CHUNK)."""
        first = port.read(1)
        if not first:
            return b""
        buf = bytearray(first)
        while len(buf) < READ_CHUNK:
            waiting = port.in_waiting  # socket:// answers 0 or 1, devices and loop:// the count
            if not waiting:
                break
            buf += port.read(min(waiting, READ_CHUNK - len(buf)))
        return bytes(buf)

    def _take(self, data: bytes, now: float) -> None:
        was_pending = self._framer.pending
        frames = self._framer.feed(data)
        if frames or not was_pending:
            self._line_started = now  # what is pending now began in this chunk
        self._last_byte = now
        self._stable = True
        for frame in frames:
            if frame.kind == OVERLONG:
                log.warning(
                    "scanner %s: line of %d bytes is over %d characters: drained, declined as malformed",
                    self.url,
                    frame.size,
                    self._framer.max_chars,
                )
        self._ready.extend(frames)

    def _give_up_line(self, why: str) -> None:
        frame = self._framer.take_partial()
        if frame is None:
            return
        log.warning("scanner %s: %s (%d bytes): declined as malformed", self.url, why, frame.size)
        self._ready.append(frame)

    def _lost(self, exc: BaseException, verb: str = "gone") -> None:
        now = time.monotonic()
        # a port that fails again right after reopening (a flapping cable) keeps backing off
        stable = self._stable or now - self._opened_at >= self.backoff_max or not self._ever_open
        self._backoff = self.backoff_initial if stable else min(self._backoff * 2, self.backoff_max)
        port, self._port = self._port, None
        if port is not None:
            self._close_port(port)  # socket:// sleeps 0.3 s in close (pyserial 3.5)
        self._give_up_line("line cut off when the port went away")
        self._gone_at = now
        self._next_attempt = time.monotonic() + self._backoff
        err = _describe(exc)
        log.warning("scanner %s %s (%s), retrying in %g s", self.url, verb, err, self._backoff)
        self._health = _health(self.url, "reconnecting", err, self._backoff, self._health.reconnects)

    def _reopen(self) -> None:
        was_open = self._ever_open
        try:
            self._open()
        except (serial.SerialException, OSError) as exc:
            self._backoff = min(self._backoff * 2, self.backoff_max)
            self._next_attempt = time.monotonic() + self._backoff
            err = _describe(exc)
            log.info("scanner %s still gone (%s), retrying in %g s", self.url, err, self._backoff)
            self._health = replace(
                self._health, detail=f"reconnecting: {err}", last_error=err, retry_in_s=self._backoff
            )
            return
        away = time.monotonic() - self._gone_at
        reconnects = self._health.reconnects + (1 if was_open else 0)
        log.warning("scanner %s %s after %.1f s", self.url, "back" if was_open else "connected", away)
        self._health = _health(self.url, "ok", self._health.last_error, reconnects=reconnects)

    @staticmethod
    def _close_port(port: serial.SerialBase) -> None:
        try:
            port.close()
        except (serial.SerialException, OSError) as exc:
            log.debug("closing the scanner port: %s", exc)


def _health(
    url: str,
    state: HealthState,
    last_error: str | None = None,
    retry_in_s: float | None = None,
    reconnects: int = 0,
) -> DeviceHealth:
    detail = f"reconnecting: {last_error}" if state == "reconnecting" else state
    return DeviceHealth(url, state == "ok", detail, state, last_error, retry_in_s, time.time(), reconnects)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."

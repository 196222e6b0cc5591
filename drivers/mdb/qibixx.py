"""``QibixxVendSession``: the UI's ``VendSession`` on a Qibixx MDB-USB / MDB Pi Hat Plus adapter.

With this adapter the MDB cashless-device state machine (RESET, SETUP, POLL, BEGIN SESSION, VEND
APPROVED / DENIED, END SESSION) runs in the adapter's firmware, not in ``drivers.mdb.cashless``:
the terminal only sees the adapter's status lines (``drivers.mdb.qibixx_lines``) and maps them
onto the four VendSession calls. The machine must run "always idle" (selection first): the
VMC's vend request opens the session, as in the vendor's always-idle tutorial.

    c,STATUS,VEND,<amount>,<item>  -> wait_selection() returns VendRequest(price, item)
    approve(request, seq)          -> C,VEND,<amount>; True on c,VEND,SUCCESS; False on c,ERR,VEND n,
                                      on the session ending first (ENABLED/DISABLED/INACTIVE), on an
                                      adapter error or loss, or after ``vend_timeout`` seconds
    deny(request) / cancel()       -> C,STOP while the request is unanswered
    c,STATUS,IDLE|ENABLED before an answer: the VMC cancelled; the request is dropped

A reader thread owns the port: it sends ``C,1`` on every (re)open, ``V`` every ``keepalive_s``
as a keepalive, reports the adapter silent after ``silent_s`` without a line, and reopens the
port every ``reconnect_s`` after a read or write fails (USB unplug, adapter reboot).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from drivers.mdb.qibixx_lines import (
    DEFAULT_DECIMALS,
    DISABLE,
    ENABLE,
    ERR_CASHLESS_OFF,
    IDLE,
    INACTIVE,
    STOP,
    VEND,
    VERSION,
    AdapterError,
    BadVendRequest,
    Noise,
    QibixxLines,
    Status,
    VendFailed,
    VendRequested,
    VendSucceeded,
    Version,
    approve_line,
    parse_line,
)
from pos.ports import DeviceHealth, VendRequest

log = logging.getLogger("drivers.mdb.qibixx")

PREFIX = "qibixx:"
_URL_SETTINGS = {"decimals": int, "vend_timeout": float, "keepalive_s": float, "silent_s": float}


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """``qibixx:/dev/ttyACM0?decimals=3`` -> (``/dev/ttyACM0``, {"decimals": 3}); other query
    parameters stay on the serial URL (pyserial's own, e.g. ``socket://...?logging=debug``)."""
    rest = url.removeprefix(PREFIX)
    base, _, query = rest.partition("?")
    ours: dict[str, Any] = {}
    theirs = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in _URL_SETTINGS:
            try:
                ours[key] = _URL_SETTINGS[key](value)
            except ValueError:
                raise ValueError(f"{url!r}: {key}={value!r} is not a number") from None
        else:
            theirs.append(f"{key}={value}")
    return (base + ("?" + "&".join(theirs) if theirs else "")), ours


class QibixxVendSession:
    def __init__(
        self,
        url: str,
        decimals: int = DEFAULT_DECIMALS,
        vend_timeout: float = 60.0,
        keepalive_s: float = 5.0,
        silent_s: float | None = None,
        reconnect_s: float = 1.0,
        **options: Any,
    ) -> None:
        if not 0 <= decimals <= 6:
            raise ValueError(f"decimals must be 0..6, not {decimals}")
        self.url, self.decimals, self.vend_timeout = url, decimals, vend_timeout
        self.keepalive_s, self.reconnect_s = keepalive_s, reconnect_s
        self.silent_s = silent_s if silent_s is not None else 3 * keepalive_s
        self._options = options
        self._cond = threading.Condition()
        self.state = INACTIVE  # as the adapter last reported it, VEND while a request is open
        self.firmware = ""
        self.request: VendRequest | None = None
        self._answered = False  # the host answered the open request (C,VEND or C,STOP)
        self._awaiting = False  # approved: waiting for VEND SUCCESS / ERR
        self._outcome: bool | None = None
        self._error = ""
        self._silent = False
        self._stop = False
        self._lines: QibixxLines | None = QibixxLines(url, **options)  # raises: a clear error at start
        self._last_rx = self._last_ping = time.monotonic()
        self._greet()
        self._thread = threading.Thread(target=self._run, name=f"qibixx {url}", daemon=True)
        self._thread.start()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> QibixxVendSession:
        serial_url, settings = split_url(url)
        return cls(serial_url, **{**settings, **options})

    # -- the port ------------------------------------------------------------------------------
    def _send(self, text: str) -> bool:
        lines = self._lines
        if lines is None:
            log.warning("Qibixx %s: not connected, %r not sent", self.url, text)
            return False
        try:
            lines.write_line(text)
        except Exception as exc:  # noqa: BLE001 - any port failure: report it, reconnect
            self._lost(exc)
            return False
        log.debug("Qibixx > %s", text)
        return True

    def _greet(self) -> None:
        self._send(ENABLE)
        self._send(VERSION)

    def _lost(self, exc: BaseException) -> None:
        with self._cond:
            if self._stop:
                return
            self._error = f"disconnected: {type(exc).__name__}: {exc}"
            log.error("Qibixx adapter %s lost: %s", self.url, exc)
            lines, self._lines = self._lines, None
            if lines is not None:
                with contextlib.suppress(Exception):
                    lines.close()
            self._session_over("adapter lost")
            self.state = INACTIVE
            self._cond.notify_all()

    def _reconnect(self) -> None:
        end = time.monotonic() + self.reconnect_s
        while not self._stop and time.monotonic() < end:
            time.sleep(0.05)
        if self._stop:
            return
        try:
            lines = QibixxLines(self.url, **self._options)
        except Exception as exc:  # noqa: BLE001 - still unplugged: try again later
            log.debug("Qibixx %s: reopen failed: %s", self.url, exc)
            return
        with self._cond:
            self._lines, self._error, self._silent = lines, "", False
            self._last_rx = self._last_ping = time.monotonic()
            log.info("Qibixx adapter %s reopened", self.url)
            self._greet()
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._stop:
            lines = self._lines
            if lines is None:
                self._reconnect()
                continue
            try:
                line = lines.read_line(0.1)
            except Exception as exc:  # noqa: BLE001 - any port failure: report it, reconnect
                self._lost(exc)
                continue
            with self._cond:
                now = time.monotonic()
                if line is not None:
                    self._heard(now)
                    try:
                        self._handle(line)
                    except Exception:  # never let one line kill the reader
                        log.exception("Qibixx line %r failed", line[:80])
                self._tick(now)
                self._cond.notify_all()

    def _heard(self, now: float) -> None:
        self._last_rx = now
        if self._silent:
            self._silent = False
            log.warning("Qibixx adapter %s answers again; enabling the cashless device", self.url)
            self._send(ENABLE)  # it may have rebooted, which leaves the cashless slave off

    def _tick(self, now: float) -> None:
        if self.keepalive_s > 0 and now - self._last_ping >= self.keepalive_s:
            self._last_ping = now
            self._send(VERSION)
        if self.silent_s > 0 and not self._silent and now - self._last_rx > self.silent_s:
            self._silent = True
            log.error("Qibixx adapter %s silent for %.1f s", self.url, now - self._last_rx)

    # -- adapter events -> session state -----------------------------------------------------------
    def _handle(self, line: str) -> None:
        event = parse_line(line, self.decimals)
        log.debug("Qibixx < %s", line)
        match event:
            case None:
                log.warning("Qibixx line ignored: %r", line[:80])
            case Noise():
                pass
            case Version(text=text):
                self.firmware = text
            case Status(state=state):
                self._status(state)
            case VendRequested(price=price, item=item):
                if self._awaiting:
                    self._session_over("a new vend request")
                elif self.request is not None and not self._answered:
                    log.warning("Qibixx: vend request %r replaced before an answer", self.request)
                self.request, self._answered, self.state = VendRequest(price, item), False, VEND
            case BadVendRequest(reason=reason):
                log.error("Qibixx: vend request denied, %s: %r", reason, line[:80])
                self._session_over("an unreadable vend request")
                self.state = VEND
                self._send(STOP)
            case VendSucceeded():
                self._result(True, line)
            case VendFailed():
                self._result(False, line)
            case AdapterError(detail=detail):
                log.warning("Qibixx adapter error: %r", line[:80])
                if ERR_CASHLESS_OFF in detail.lower():
                    self._session_over("the cashless device is off")
                    self.state = INACTIVE
                    self._send(ENABLE)

    def _status(self, state: str) -> None:
        self.state = state
        if state == IDLE:
            # the session is still open after an approval; before an answer the VMC cancelled
            if self.request is not None and not self._answered:
                log.info("Qibixx: the machine cancelled vend request %r", self.request)
                self.request = None
            return
        self._session_over(f"the session ended ({state})")

    def _result(self, success: bool, line: str) -> None:
        if not self._awaiting:
            log.warning("Qibixx %r with no approved vend: ignored", line)
            return
        self._awaiting, self._outcome, self.request = False, success, None

    def _session_over(self, why: str) -> None:
        if self._awaiting:
            log.warning("Qibixx: no VEND SUCCESS before %s: the vend failed", why)
            self._awaiting, self._outcome = False, False
        elif self.request is not None and not self._answered:
            log.info("Qibixx: vend request %r dropped: %s", self.request, why)
        self.request, self._answered = None, False

    # -- VendSession ---------------------------------------------------------------------------
    def wait_selection(self, timeout: float) -> VendRequest | None:
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                if self.request is not None and not self._answered:
                    return self.request
                left = end - time.monotonic()
                if left <= 0 or self._stop:
                    return None
                self._cond.wait(left)

    def _is_open(self, request: VendRequest) -> bool:
        if self.request != request or self._answered:
            log.warning("Qibixx: no open vend request %r (open: %r)", request, self.request)
            return False
        return True

    def approve(self, request: VendRequest, seq: int) -> bool:
        with self._cond:
            if not self._is_open(request):
                return False
            self._answered, self._outcome = True, None
            if not self._send(approve_line(request.price, self.decimals)):
                self.request = None
                return False
            self._awaiting = True
            log.info("Qibixx vend approved: item %s price %d (payment %d)", request.item, request.price, seq)
            end = time.monotonic() + self.vend_timeout
            while self._outcome is None:
                left = end - time.monotonic()
                if left <= 0:
                    log.error("Qibixx: no VEND SUCCESS / failure for payment %d in time", seq)
                    self._awaiting, self.request = False, None
                    return False
                self._cond.wait(left)
            outcome, self._outcome = self._outcome, None
            log.info("Qibixx vend %s (payment %d)", "success" if outcome else "failure", seq)
            return outcome

    def deny(self, request: VendRequest) -> None:
        with self._cond:
            if self._is_open(request):
                self._answered = True
                self._send(STOP)
                self.request = None

    def cancel(self) -> None:
        with self._cond:
            if self.request is not None and not self._answered:
                self._answered = True
                self._send(STOP)
                self.request = None

    def health(self) -> DeviceHealth:
        with self._cond:
            if self._error:
                return DeviceHealth("vend", False, self._error)
            if not self._thread.is_alive():
                return DeviceHealth("vend", False, "closed")
            if self._silent:
                return DeviceHealth("vend", False, f"adapter silent for over {self.silent_s:g} s")
            detail = self.state.lower() + (f" (Qibixx {self.firmware})" if self.firmware else "")
            return DeviceHealth("vend", self.state != INACTIVE, detail)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(1.0)
        lines, self._lines = self._lines, None
        if lines is not None:
            with contextlib.suppress(Exception):
                lines.write_line(DISABLE)
            with contextlib.suppress(Exception):
                lines.close()

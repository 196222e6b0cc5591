"""Gate relay drivers: an LCUS-type USB-serial relay module and an in-memory simulator.

``LcusRelay(url, channel=1)`` drives the common CH340-based "LCUS-1/2/4" USB relay boards (9600 8N1,
no replies). Each switch is one 4-byte frame::

    A0 <channel> <state> <checksum>      state 01 = on, 00 = off, checksum = (A0 + ch + state) & FF
    A0 01 01 A2  channel 1 on            A0 01 00 A1  channel 1 off

``open(seconds)`` (``pos.ports.Actuator``) writes the ON frame at once and returns; a timer thread
writes OFF ``seconds`` later. A second ``open`` while the relay is on extends the open time (to
``now + seconds`` if that is later) without sending ON again. ``close()`` switches off and closes the
port. A failed write raises ``RelayError`` (an ``OSError``) and ``health()`` reports the fault until
a later write succeeds.

``RelaySimulator`` has the same timing, records ``("on"|"off", monotonic time)`` events and logs
each switch: ``relay = "sim:"`` / ``"log:"`` for demos and tests.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from typing import Any

import serial

from pos.ports import DeviceHealth

log = logging.getLogger("drivers.relay")


class RelayError(OSError):
    """The relay could not be switched (port gone, write failed, closed)."""


def lcus_frame(channel: int, on: bool) -> bytes:
    """The LCUS frame switching ``channel`` (1..255) on or off."""
    if not 1 <= channel <= 0xFF:
        raise ValueError(f"relay channel {channel} out of range 1..255")
    state = 1 if on else 0
    return bytes((0xA0, channel, state, (0xA0 + channel + state) & 0xFF))


class _TimedSwitch:
    """On now, off at a deadline kept by one timer thread; subclasses do the switching."""

    name = "relay"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadline: float | None = None  # monotonic time to switch off; None = off
        self._closed = False
        self._error = ""
        self._thread: threading.Thread | None = None

    def _switch(self, on: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def is_on(self) -> bool:
        with self._cond:
            return self._deadline is not None

    def open(self, seconds: float) -> None:
        """Switch on now and off after ``seconds`` (extending a running opening); never blocks on the
        close."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._cond:
            if self._closed:
                raise RelayError(f"{self.name} is closed")
            deadline = time.monotonic() + seconds
            if self._deadline is None:
                self._switch_checked(True)
                self._deadline = deadline
            elif deadline > self._deadline:
                self._deadline = deadline
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"{self.name}-timer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _switch_checked(self, on: bool) -> None:
        try:
            self._switch(on)
        except Exception as exc:
            self._error = f"switch {'on' if on else 'off'} failed: {exc}"
            raise RelayError(f"{self.name}: {self._error}") from exc
        self._error = ""

    def _run(self) -> None:
        with self._cond:
            while self._deadline is not None and not self._closed:
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._deadline = None
                try:
                    self._switch_checked(False)
                except RelayError as exc:
                    log.error("%s", exc)
            self._thread = None

    def close(self) -> None:
        """Switch off (if on) and release the device; later ``open`` calls raise ``RelayError``."""
        with self._cond:
            if self._closed:
                return
            was_on = self._deadline is not None
            self._deadline = None
            self._closed = True
            self._cond.notify_all()
            try:
                if was_on:
                    self._switch_checked(False)
            except RelayError as exc:
                log.error("%s", exc)
            finally:
                self._release()

    def _release(self) -> None:
        pass

    def health(self) -> DeviceHealth:
        with self._cond:
            if self._closed:
                return DeviceHealth(self.name, False, "closed")
            if self._error:
                return DeviceHealth(self.name, False, self._error, last_error=self._error)
            return DeviceHealth(self.name, True, "on" if self._deadline is not None else "off")


class LcusRelay(_TimedSwitch):
    """An LCUS USB-serial relay on ``url`` (``/dev/ttyUSB0``, ``socket://``, ``loop://``)."""

    def __init__(
        self, url: str, channel: int = 1, baudrate: int = 9600, write_timeout: float = 0.5, **options: Any
    ) -> None:
        super().__init__()
        lcus_frame(channel, True)  # validate the channel before opening the port
        self.url = url
        self.channel = channel
        self.name = f"relay {url}"
        self._port = serial.serial_for_url(
            url, baudrate=baudrate, timeout=0, write_timeout=write_timeout, **options
        )
        try:  # fail safe: a relay left on by a killed process is switched off at start
            self._switch_checked(False)
        except RelayError as exc:
            log.error("%s", exc)

    def _switch(self, on: bool) -> None:
        if not self._port.is_open:
            raise RelayError("port closed")
        self._port.write(lcus_frame(self.channel, on))
        self._port.flush()

    def _release(self) -> None:
        with contextlib.suppress(Exception):
            self._port.close()

    def health(self) -> DeviceHealth:
        if not self._closed:
            gone = "port closed" if not self._port.is_open else _hung_up(self._port)
            if gone:
                with self._cond:
                    self._error = self._error or gone
        return super().health()


def _hung_up(port: Any) -> str:
    """Why the port's device is gone (unplugged board, vanished pty), or "" while it is there.

    The board never answers, so a write is the only other way to learn it is gone, and by then a
    gate has charged without opening: a poll for hang-up costs one syscall before each payment."""
    fileno = getattr(port, "fileno", None)
    if fileno is None:
        return ""  # socket:// and loop:// report their failure on the write
    try:
        poller = select.poll()
        poller.register(fileno(), select.POLLHUP | select.POLLERR)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError, serial.SerialException):
        return ""
    return f"{port.port}: device gone (hang-up)" if events else ""


class RelaySimulator(_TimedSwitch):
    """A relay without hardware: records ``(state, time.monotonic())`` for each switch and logs it."""

    def __init__(self, url: str = "sim:", fail: bool = False) -> None:
        super().__init__()
        self.url = url
        self.name = f"relay {url}"
        self.fail = fail
        self.events: list[tuple[str, float]] = []
        self.switched = threading.Event()

    def _switch(self, on: bool) -> None:
        if self.fail:
            raise RelayError("simulated failure")
        self.events.append(("on" if on else "off", time.monotonic()))
        log.info("%s %s (simulated)", self.name, "on" if on else "off")
        self.switched.set()

"""A simulated LCUS relay board on the master side of a pty: the other end of ``LcusRelay``.

    board = LcusBoard()                       # os.openpty(); the driver opens board.port
    relay = LcusRelay(board.port)             # A0 01 01 A2 -> board.is_on(1) ... A0 01 00 A1
    board.wait_for("off", timeout=5)          # the gate closed again
    board.close()

A thread reads the master fd and frames the 4-byte ``A0 <channel> <state> <checksum>`` commands
the way the board's CH340 firmware does: a byte that is not ``A0`` where a frame should start is
skipped, a frame with a bad checksum or a state other than 00/01 is counted in ``rejected`` and
switches nothing. The board never answers (the real one does not either). ``events`` records
``(channel, "on"|"off", time.monotonic())`` for each accepted switch, and ``on_switch(channel, on)``
(if set) is called from the board's thread after each one: the demo shows the gate's state with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sim.pty import RawPty

log = logging.getLogger("sim.lcus_board")

START = 0xA0
FRAME = 4


class LcusBoard:
    """One simulated LCUS board (channels 1..255, all off at power-up) behind a pty."""

    def __init__(self) -> None:
        self._pty = RawPty()
        self.port = self._pty.port
        self.events: list[tuple[int, str, float]] = []
        self.rejected = 0
        self.on_switch: Callable[[int, bool], None] | None = None
        self._on: set[int] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lcus-board {self.port}", daemon=True)
        self._thread.start()

    def is_on(self, channel: int = 1) -> bool:
        with self._cond:
            return channel in self._on

    def states(self, channel: int = 1) -> list[str]:
        """The switches seen on ``channel``, in order (``["on", "off", ...]``)."""
        with self._cond:
            return [state for ch, state, _t in self.events if ch == channel]

    def wait_for(self, state: str, count: int = 1, channel: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``channel`` switched to ``state`` at least ``count`` times in all."""
        with self._cond:
            return self._cond.wait_for(
                lambda: sum(1 for ch, s, _t in self.events if ch == channel and s == state) >= count, timeout
            )

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                chunk = self._pty.read(0.1, 256)
                if chunk is None:
                    continue
            except OSError:  # the driver closed its side (EIO on Linux): wait for a reopen or close
                if self._stop.wait(0.05):
                    return
                continue
            buf += chunk
            self._frames(buf)

    def _frames(self, buf: bytearray) -> None:
        while buf:
            if buf[0] != START:
                del buf[0]
                continue
            if len(buf) < FRAME:
                return
            _start, channel, state, checksum = buf[:FRAME]
            if state not in (0, 1) or (START + channel + state) & 0xFF != checksum:
                self.rejected += 1
                log.warning("LCUS board: bad frame %s ignored", bytes(buf[:FRAME]).hex(" "))
                del buf[0]  # resynchronise on the next A0
                continue
            del buf[:FRAME]
            self._switch(channel, bool(state))

    def _switch(self, channel: int, on: bool) -> None:
        with self._cond:
            if on:
                self._on.add(channel)
            else:
                self._on.discard(channel)
            self.events.append((channel, "on" if on else "off", time.monotonic()))
            self._cond.notify_all()
        log.info("LCUS board: channel %d %s", channel, "on" if on else "off")
        if self.on_switch is not None:
            try:
                self.on_switch(channel, on)
            except Exception as exc:  # noqa: BLE001 - a display hook must not stop the board
                log.warning("LCUS board: on_switch failed: %s", exc)

    def close(self) -> None:
        """Stop the reader thread and close both pty fds (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(2.0)
        self._pty.close()

    def __enter__(self) -> LcusBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Framing between the terminal and a USB MDB adapter in cashless-peripheral mode.

The line protocol here is **ours** ("OWT-MDB/1"), not a vendor's: a minimal ASCII protocol for an
adapter (a microcontroller on the 9-bit MDB bus, USB-CDC to the terminal) that does the bus timing
itself and leaves the cashless-device logic to ``drivers.mdb.cashless``. The Qibixx MDB-USB /
Pi Hat Plus cashless-device API is implemented in ``drivers.mdb.qibixx`` (URL prefix ``qibixx:``),
whose firmware runs the MDB state machine; see docs/mdb.md.

OWT-MDB/1, 115200 8N1 (the baud rate does not matter on USB-CDC); ASCII lines ending in ``\\n``
(a preceding ``\\r`` is ignored); hex is case-insensitive, no spaces, no MDB checksum::

    adapter -> terminal
      CMD,<hex>      a VMC command addressed to the cashless device (10h..17h) whose checksum the
                     adapter verified, e.g. CMD,10 (RESET), CMD,110003000000 (SETUP config),
                     CMD,1300012C0005 (VEND REQUEST 300 for item 5), CMD,13020005 (VEND SUCCESS),
                     CMD,1303 (VEND FAILURE), CMD,1304 (SESSION COMPLETE), CMD,1401 (ENABLE).
                     The adapter ACKs every command on the bus itself; it need not forward POLL
                     (CMD,12), and the terminal ignores it when it does.
      anything else  (``#`` comments, vendor banners, garbage) is logged and ignored.

    terminal -> adapter
      RSP,<hex>      append one response (without checksum) to the adapter's FIFO, e.g. RSP,00
                     (JUST RESET), RSP,03FFFF (BEGIN SESSION), RSP,05012C (VEND APPROVED 300),
                     RSP,06 (VEND DENIED), RSP,07 (END SESSION). The adapter answers each POLL with
                     the oldest queued response (adding the checksum, waiting for the VMC's ACK,
                     retransmitting on a missing ACK) or with ACK when the FIFO is empty.
      CLR            empty the FIFO (sent on RESET, before JUST RESET).

Deviation from a bus-native reader: SETUP and EXPANSION answers (READER CONFIG, PERIPHERAL ID) are
also sent through the FIFO, i.e. in answer to the following POLL, which MDB permits for a device
that ACKs a command it cannot answer within the response time.
"""

from __future__ import annotations

import binascii
import logging
import time
from typing import Any

import serial

from drivers.mdb.cashless import Command, MdbError, parse_command

log = logging.getLogger("drivers.mdb.adapter")

MAX_LINE = 512


def parse_line(line: bytes) -> Command | None:
    """The command one adapter line carries; None (logged) for a line that is not a valid one."""
    text = line.strip(b"\r\n ")
    if not text:
        return None
    if not text.startswith(b"CMD,"):
        log.warning("MDB adapter line ignored: %r", text[:80])
        return None
    try:
        data = binascii.unhexlify(text[4:])
        return parse_command(data)
    except (binascii.Error, ValueError, MdbError) as exc:
        log.warning("MDB adapter command ignored (%s): %r", exc, text[:80])
        return None


def format_response(data: bytes) -> bytes:
    return b"RSP," + data.hex().upper().encode("ascii") + b"\n"


class LineAdapter:
    """OWT-MDB/1 over a pyserial port (``serial_for_url``: ``/dev/ttyACM0``, ``socket://``, ``loop://``)."""

    def __init__(self, url: str, baudrate: int = 115200, **options: Any) -> None:
        self.url = url
        self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, write_timeout=1.0, **options)
        self._buf = bytearray()

    def read_command(self, timeout: float) -> Command | None:
        """The next valid command within ``timeout`` seconds, or None; bad lines are skipped."""
        end = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[: nl + 1])
                del self._buf[: nl + 1]
                command = parse_line(line)
                if command is not None:
                    return command
                continue
            if len(self._buf) > MAX_LINE:
                log.warning("MDB adapter line over %d bytes dropped", MAX_LINE)
                self._buf.clear()
            if time.monotonic() >= end:
                return None
            chunk = self.port.read(max(1, self.port.in_waiting))
            self._buf += chunk

    def send(self, responses: list[bytes]) -> None:
        for data in responses:
            self.port.write(format_response(data))
        if responses:
            self.port.flush()

    def clear(self) -> None:
        self.port.write(b"CLR\n")

    def close(self) -> None:
        self.port.close()

"""A vending machine controller (VMC) plus OWT-MDB/1 adapter, simulated on a pty master.

``VmcSimulator(fd)`` writes ``CMD,<hex>`` lines to ``fd`` (the master side of a pty whose slave the
terminal opens) and reads the terminal's ``RSP,<hex>`` lines into the adapter's FIFO; ``poll``
plays the VMC's POLL loop on that FIFO. Scripted steps: ``boot`` (RESET, SETUP config, SETUP
prices, READER ENABLE) and ``vend`` (wait for BEGIN SESSION, VEND REQUEST, then VEND SUCCESS or,
with ``dispense=False``, VEND FAILURE as from a jammed spiral, then SESSION COMPLETE).

Run ``python -m sim.mdb_vmc`` for a manual demo: it prints the pty to give the terminal
(``devices.vend = "/dev/pts/N"``) and reads ``v ITEM PRICE`` (vend, dispenses) / ``j ITEM PRICE``
(vend, jams) from stdin.
"""

from __future__ import annotations

import binascii
import logging
import os
import queue
import select
import threading
import time

from drivers.mdb import cashless as m
from sim.pty import RawPty, vend_console

log = logging.getLogger("sim.mdb_vmc")

POLL_GAP_S = 0.01


class VmcSimulator:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.fifo: queue.Queue[bytes] = queue.Queue()
        self.received: list[bytes] = []  # every response the VMC polled, in order
        self.sent: list[bytes] = []  # every command line written
        self._stop = False
        self._thread = threading.Thread(target=self._read, name="vmc-sim", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buf = b""
        while not self._stop:
            try:
                ready = select.select([self.fd], [], [], 0.05)[0]
                if not ready:
                    continue
                buf += os.read(self.fd, 1024)
            except OSError:
                return
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if line == b"CLR":
                    self._drain()
                elif line.startswith(b"RSP,"):
                    try:
                        self.fifo.put(binascii.unhexlify(line[4:]))
                    except binascii.Error:
                        log.warning("VMC sim: bad response line %r", line)
                elif line:
                    log.warning("VMC sim: unknown line %r", line)

    def _drain(self) -> None:
        while True:
            try:
                self.fifo.get_nowait()
            except queue.Empty:
                return

    def write_line(self, line: bytes) -> None:
        self.sent.append(line)
        data = memoryview(line + b"\n")
        while data:
            data = data[os.write(self.fd, data) :]

    def send(self, command: bytes) -> None:
        """One VMC command to the reader (bytes without checksum)."""
        self.write_line(b"CMD," + command.hex().upper().encode("ascii"))

    def poll(self, code: int, timeout: float = 3.0) -> bytes:
        """POLL until a response starting with ``code`` arrives; others are kept in ``received``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                response = self.fifo.get(timeout=POLL_GAP_S)
            except queue.Empty:
                continue
            self.received.append(response)
            if response[:1] == bytes([code]):
                return response
        raise TimeoutError(f"VMC sim: no response {code:02X} within {timeout} s (got {self.received})")

    # -- scripted steps
    def boot(self, max_price: int = 0x1000, min_price: int = 0) -> bytes:
        """RESET, SETUP config (VMC level 1), SETUP max/min, READER ENABLE; the reader's config."""
        self._drain()
        self.send(bytes([m.RESET]))
        self.poll(m.JUST_RESET)
        self.send(bytes([m.SETUP, m.SETUP_CONFIG, 0x01, 0x00, 0x00, 0x00]))  # VMC level 1
        config = self.poll(m.READER_CONFIG)
        prices = max_price.to_bytes(2, "big") + min_price.to_bytes(2, "big")
        self.send(bytes([m.SETUP, m.SETUP_PRICES]) + prices)
        self.send(bytes([m.READER, m.READER_ENABLE]))
        return config

    def vend(self, item: int, price: int, dispense: bool = True, timeout: float = 5.0) -> str:
        """One session: "dispensed", "jammed" (VEND FAILURE) or "denied"."""
        self.poll(m.BEGIN_SESSION, timeout)
        self.send(bytes([m.VEND, m.VEND_REQUEST]) + price.to_bytes(2, "big") + item.to_bytes(2, "big"))
        end = time.monotonic() + timeout
        while True:
            response = self.poll_any(end - time.monotonic())
            if response[0] in (m.VEND_APPROVED, m.VEND_DENIED):
                break
        if response[0] == m.VEND_DENIED:
            outcome = "denied"
        elif dispense:
            self.send(bytes([m.VEND, m.VEND_SUCCESS]) + item.to_bytes(2, "big"))
            outcome = "dispensed"
        else:
            self.send(bytes([m.VEND, m.VEND_FAILURE]))
            outcome = "jammed"
        self.send(bytes([m.VEND, m.SESSION_COMPLETE]))
        self.poll(m.END_SESSION, timeout)
        return outcome

    def poll_any(self, timeout: float) -> bytes:
        try:
            response = self.fifo.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise TimeoutError("VMC sim: no response") from None
        self.received.append(response)
        return response

    def close(self) -> None:
        self._stop = True
        self._thread.join(1.0)


def main() -> None:  # pragma: no cover - manual demo
    logging.basicConfig(level=logging.INFO)
    pty = RawPty()
    sim = VmcSimulator(pty.master)
    print(f'VMC simulator: devices.vend = "{pty.port}"; booting (start the terminal now)...')
    print("reader config:", sim.boot().hex(" "))
    vend_console("VMC ready", lambda item, price, ok: sim.vend(int(item), price, dispense=ok, timeout=60))
    sim.close()
    pty.close()


if __name__ == "__main__":  # pragma: no cover
    main()

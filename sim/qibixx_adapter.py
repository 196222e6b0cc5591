"""A Qibixx MDB adapter in cashless-device mode plus the vending machine (VMC) behind it, simulated.

It speaks the adapter's side of ``drivers.mdb.qibixx_lines`` over a pty master
(``QibixxSimulator.on_pty()``: give the terminal ``os.ttyname`` of the slave) or a TCP server on
127.0.0.1 (``QibixxSimulator.on_tcp()``: give the terminal ``socket://127.0.0.1:PORT``; ``unplug``
drops the connection as a pulled USB cable would).

The adapter: ``C,1`` switches the cashless device on (``c,STATUS,INACTIVE``, ``c,1``) and, with
``auto_boot``, the VMC sets it up and enables it (``r,ACK``, ``c,STATUS,DISABLED``, ``r,ACK``,
``c,STATUS,ENABLED``); ``V`` answers ``v,<version>,<id>``; ``C,VEND,...`` / ``C,STOP`` with the
device off answer ``c,ERR,"cashless is off"``. ``reboot`` turns the device off silently (a
firmware restart); ``silent`` makes the adapter ignore everything.

The VMC: ``vend(item, price)`` sends ``c,STATUS,VEND,<amount>,<item>`` and plays the machine's
side: approved -> ``c,VEND,SUCCESS`` or, with ``dispense=False`` (a jammed spiral), ``c,ERR,VEND 3``;
then ``c,STATUS,IDLE``, ``c,STATUS,ENABLED``. Denied -> IDLE, ENABLED. No answer within
``timeout`` -> the machine cancels (IDLE, ENABLED) and ``vend`` returns "cancelled".

``python -m sim.qibixx_adapter`` runs one on a pty for the demo (``v ITEM PRICE`` vends,
``j ITEM PRICE`` jams).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import socket
import threading
import time

from drivers.mdb.qibixx_lines import format_amount
from sim.pty import RawPty, vend_console

log = logging.getLogger("sim.qibixx_adapter")

VERSION_LINE = "v,4.0.1.0,51B1000000000001"
BOOT = ("r,ACK", "c,STATUS,DISABLED", "r,ACK", "c,STATUS,ENABLED")
SESSION_END = ("c,STATUS,IDLE", "c,STATUS,ENABLED")


class _PtyLink:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def recv(self, timeout: float) -> bytes | None:
        if not select.select([self.fd], [], [], timeout)[0]:
            return None
        return os.read(self.fd, 1024)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def drop(self) -> None:
        raise NotImplementedError("a pty cannot be unplugged and plugged back; use on_tcp()")

    def close(self) -> None:
        pass


class _TcpLink:
    """One client at a time on 127.0.0.1; a new client replaces the old one (a re-plugged cable)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.connections = 0

    def recv(self, timeout: float) -> bytes | None:
        watch = [self.server] + ([self.conn] if self.conn is not None else [])
        ready = select.select(watch, [], [], timeout)[0]
        if self.server in ready:
            conn, _ = self.server.accept()
            self.drop()
            self.conn, self.connections = conn, self.connections + 1
            return None
        if self.conn is None or self.conn not in ready:
            return None
        try:
            data = self.conn.recv(1024)
        except OSError:
            data = b""
        if not data:
            self.drop()
        return data or None

    def send(self, data: bytes) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.sendall(data)

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self.drop()
        self.server.close()


class QibixxSimulator:
    def __init__(
        self, link: _PtyLink | _TcpLink, decimals: int = 2, auto_boot: bool = True, silent: bool = False
    ) -> None:
        self.link = link
        self.decimals = decimals
        self.auto_boot = auto_boot
        self.on = False  # the cashless device is switched on (C,1)
        self.enabled = False  # ... and the VMC has set it up and enabled it (BOOT written)
        self.silent = silent
        self.received: list[str] = []  # every host line, in order
        self.sent: list[str] = []  # every line written
        self.answers: queue.Queue[str] = queue.Queue()  # C,VEND / C,STOP for the running vend
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._read, name="qibixx-sim", daemon=True)
        self._thread.start()

    @classmethod
    def on_pty(cls, fd: int, **kw: object) -> QibixxSimulator:
        return cls(_PtyLink(fd), **kw)  # type: ignore[arg-type]

    @classmethod
    def on_tcp(cls, **kw: object) -> QibixxSimulator:
        return cls(_TcpLink(), **kw)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        if isinstance(self.link, _TcpLink):
            return f"socket://127.0.0.1:{self.link.port}"
        return os.ttyname(self.link.fd)  # pragma: no cover - the master has no name; pass the slave's

    # -- the wire -------------------------------------------------------------------------------
    def _read(self) -> None:
        buf = b""
        while not self._stop:
            try:
                data = self.link.recv(0.05)
            except OSError:
                return
            if not data:
                continue
            buf += data
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.strip(b"\r ").decode("ascii", "replace")
                if line and not self.silent:
                    self.received.append(line)
                    self._command(line)

    def _command(self, line: str) -> None:
        if line == "C,1":
            if self.on:
                self.write_line("c,1")
                return
            self.on = True
            self.write_lines("c,STATUS,INACTIVE", "c,1")
            if self.auto_boot:
                self.write_lines(*BOOT)
                self.enabled = True
        elif line == "C,0":
            self.on = self.enabled = False
            self.write_line("c,0")
        elif line == "V":
            self.write_line(VERSION_LINE)
        elif line == "C,STOP" or line.startswith("C,VEND,"):
            if not self.on:
                self.write_line('c,ERR,"cashless is off"')
                return
            self.write_line("r,ACK")
            self.answers.put(line)
        else:
            log.warning("Qibixx sim: unknown host line %r", line)

    def write_line(self, line: str) -> None:
        self.write_raw(line.encode("ascii") + b"\n")
        self.sent.append(line)

    def write_lines(self, *lines: str) -> None:
        for line in lines:
            self.write_line(line)

    def write_raw(self, data: bytes) -> None:
        if self.silent:
            return
        with self._lock:
            self.link.send(data)

    def write_partial(self, line: str, pieces: int = 3, gap_s: float = 0.05) -> None:
        """One line in ``pieces`` writes ``gap_s`` apart (a slow USB-CDC transfer)."""
        data = line.encode("ascii") + b"\n"
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            self.write_raw(data[i : i + step])
            time.sleep(gap_s)
        self.sent.append(line)

    # -- scripted -------------------------------------------------------------------------------
    def wait_enabled(self, timeout: float = 3.0) -> None:
        """Until the terminal has switched the cashless device on and the VMC enabled it."""
        end = time.monotonic() + timeout
        while not self.enabled:
            if time.monotonic() > end:
                raise TimeoutError("Qibixx sim: the terminal never sent C,1")
            time.sleep(0.01)

    def vend(self, item: str | int, price: int, dispense: bool = True, timeout: float = 5.0) -> str:
        """One selection: "dispensed", "jammed" (not dispensed after approval), "denied",
        "cancelled" (no answer in time), or "wrong amount" (approved for another price)."""
        while not self.answers.empty():
            self.answers.get_nowait()
        amount = format_amount(price, self.decimals)
        self.write_line(f"c,STATUS,VEND,{amount},{item}")
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            self.write_lines(*SESSION_END)
            return "cancelled"
        if answer == "C,STOP":
            self.write_lines(*SESSION_END)
            return "denied"
        if answer != f"C,VEND,{amount}":
            self.write_lines("c,ERR,VEND 1", *SESSION_END)
            return "wrong amount"
        self.write_line("c,VEND,SUCCESS" if dispense else "c,ERR,VEND 3")
        self.write_lines(*SESSION_END)
        return "dispensed" if dispense else "jammed"

    def reboot(self) -> None:
        """The adapter restarts: the cashless device is off until the terminal sends C,1 again."""
        self.on = self.enabled = False

    def unplug(self) -> None:
        """Drop the terminal's connection (TCP only); the terminal may connect again."""
        self.on = self.enabled = False
        self.link.drop()

    def close(self) -> None:
        self._stop = True
        self._thread.join(1.0)
        self.link.close()


def main() -> None:  # pragma: no cover - manual demo
    logging.basicConfig(level=logging.INFO)
    pty = RawPty()
    sim = QibixxSimulator.on_pty(pty.master)
    banner = f'Qibixx adapter + VMC simulator: devices.vend = "qibixx:{pty.port}"'
    vend_console(banner, lambda item, price, ok: sim.vend(item, price, dispense=ok, timeout=60))
    sim.close()
    pty.close()


if __name__ == "__main__":  # pragma: no cover
    main()

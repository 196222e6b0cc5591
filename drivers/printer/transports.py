"""Where receipt bytes go: a file, a serial port (any pyserial URL), a USB printer, or text.

Every printer renders a ``Slip`` once and hands the bytes to one transport. A transport that fails
raises ``PrinterError``; the serial and USB ones drop the connection and open it again on the next
receipt, so a printer that was switched off prints again once it is back. ``health()`` reports
the last outcome, in the shape the status bar reads.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from drivers.printer import escpos_out
from drivers.printer.slip import DEFAULT_WIDTH, Slip, slip_text
from pos.ports import DeviceHealth

log = logging.getLogger("drivers.printer")


class PrinterError(OSError):
    """A receipt could not be printed (device gone, write failed). The payment is not affected."""


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class FileTransport:
    """Appends to a file: a receipts log of raw ESC/POS, or a printer's device node (``/dev/usb/lp0``).

    Opened per receipt in append mode (python-escpos's ``File`` truncates on open, which would keep
    only the last receipt in a log file).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, data: bytes) -> None:
        try:
            with self.path.open("ab") as fh:
                fh.write(data)
        except OSError as exc:
            raise PrinterError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        pass


class SerialTransport:
    """A serial printer through pyserial's ``serial_for_url``: ``/dev/ttyUSB0``, ``socket://HOST:9100``
    (a network printer's raw port), ``loop://``, ``rfc2217://``. The port stays open between
    receipts; a failed write closes it and the next receipt opens it again."""

    def __init__(self, url: str, *, baudrate: int = 9600, write_timeout: float = 5.0) -> None:
        self.url = url
        self.baudrate = baudrate
        self.write_timeout = write_timeout
        self.port: Any = None

    def _open(self) -> Any:
        if self.port is None:
            import serial

            try:
                self.port = serial.serial_for_url(
                    self.url, baudrate=self.baudrate, write_timeout=self.write_timeout, timeout=1
                )
            except (serial.SerialException, ValueError, OSError) as exc:
                raise PrinterError(f"cannot open {self.url}: {exc}") from exc
        return self.port

    def write(self, data: bytes) -> None:
        port = self._open()
        try:
            # 10 bits a byte on the wire: an image receipt of 9 kB takes 10 s at 9600 baud
            port.write_timeout = self.write_timeout + 2 * len(data) * 10 / self.baudrate
            port.write(data)
            port.flush()
        except Exception as exc:  # SerialException, OSError, loop://'s queue.Full: a failed receipt
            self.close()
            raise PrinterError(f"write to {self.url} failed: {exc}") from exc

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()


class UsbTransport:
    """A USB printer by vendor and product id, through python-escpos's ``Usb`` (pyusb, libusb-1.0)."""

    def __init__(self, vendor: int, product: int, **usb_options: Any) -> None:
        self.vendor, self.product = vendor, product
        self.options = usb_options
        self._dev: Any = None

    def write(self, data: bytes) -> None:
        try:
            if self._dev is None:
                from escpos.printer import Usb

                dev = Usb(self.vendor, self.product, **self.options)
                dev.open()
                self._dev = dev
            self._dev._raw(data)
        except Exception as exc:  # pyusb and escpos raise many types; any is a failed receipt
            self.close()
            raise PrinterError(f"USB printer {self.vendor:04x}:{self.product:04x}: {exc}") from exc

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            with contextlib.suppress(Exception):
                dev.close()


class _Printer:
    """One receipt at a time (a lock: UI workers may print concurrently), with health."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._health = DeviceHealth(f"printer {url}", True)

    def _render(self, slip: Slip) -> bytes:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def print_slip(self, slip: Slip) -> None:
        data = self._render(slip)
        with self._lock:
            try:
                self._write(data)
            except PrinterError as exc:
                self._health = DeviceHealth(f"printer {self.url}", False, str(exc))
                raise
            self._health = DeviceHealth(f"printer {self.url}", True)
        log.info("receipt printed on %s (%d bytes)", self.url, len(data))

    def health(self) -> DeviceHealth:
        return self._health

    def close(self) -> None:
        pass


class EscposPrinter(_Printer):
    """ESC/POS bytes (``escpos_out.render``) to a transport."""

    def __init__(
        self,
        url: str,
        transport: Transport,
        *,
        width: int = DEFAULT_WIDTH,
        qr: str = escpos_out.QR_NATIVE,
    ) -> None:
        super().__init__(url)
        if qr not in escpos_out.QR_MODES:
            raise ValueError(f"qr must be one of {', '.join(escpos_out.QR_MODES)}, not {qr!r}")
        self.transport = transport
        self.width = width
        self.qr = qr

    def _render(self, slip: Slip) -> bytes:
        return escpos_out.render(slip, width=self.width, qr=self.qr)

    def _write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        with self._lock:
            self.transport.close()


class TextPrinter(_Printer):
    """A plain-text receipt (the demo, ``pos receipt show``): to a file, or to a stream.

    ``qr_art`` adds the QR code drawn with Unicode blocks (segno), which a phone reads off a screen.
    """

    def __init__(
        self,
        url: str,
        path: str | Path | None = None,
        *,
        stream: Callable[[], TextIO] = lambda: sys.stdout,
        width: int = DEFAULT_WIDTH,
        qr_art: bool = True,
    ) -> None:
        super().__init__(url)
        self.path = Path(path) if path is not None else None
        self._stream = stream
        self.width = width
        self.qr_art = qr_art

    def _render(self, slip: Slip) -> bytes:
        text = slip_text(slip, self.width)
        if self.qr_art:
            import io

            import segno

            art = io.StringIO()
            segno.make(slip.qr_text, error="m").terminal(out=art, compact=True)
            text += art.getvalue()
        return (text + "\n").encode("utf-8")

    def _write(self, data: bytes) -> None:
        if self.path is not None:
            FileTransport(self.path).write(data)
            return
        out = self._stream()
        try:
            out.write(data.decode("utf-8"))
            out.flush()
        except (OSError, ValueError) as exc:
            raise PrinterError(f"cannot write the receipt: {exc}") from exc

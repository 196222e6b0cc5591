"""Receipt printers by URL, like every other device (STYLE: pyserial's URLs).

    file:PATH                 raw ESC/POS appended to PATH (a receipts log, or /dev/usb/lp0)
    /dev/ttyUSB0, serial:PORT a serial printer (PORT may be any pyserial URL)
    socket://HOST:9100        a network printer's raw port (through pyserial)
    loop://                   pyserial's loopback (tests)
    usb:VID:PID               a USB printer, ids in hex (python-escpos ``Usb``, pyusb + libusb-1.0)
    text:PATH, text:-         a plain-text receipt appended to PATH, or to standard output
    screen:                   a plain-text receipt with the QR drawn in Unicode blocks, to stdout

Options go in a query: ``?width=48`` (characters per line: 32 on 58 mm paper, the default; 42 or
48 on 80 mm), ``?qr=image`` (a raster QR code for printers without the ``GS ( k`` QR command),
``?baudrate=19200`` (serial). Unknown options of a pyserial URL are left to pyserial.

    printer = open_printer("file:/tmp/receipts.bin")
    printer.print_slip(make_slip(receipt.fields, receipt.text, money=format_money))

python-escpos, pyserial and segno are imported only when a receipt is rendered or a port opened.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from drivers.printer.slip import DEFAULT_WIDTH, Slip, make_slip, slip_text
from drivers.printer.transports import (
    EscposPrinter,
    FileTransport,
    PrinterError,
    SerialTransport,
    TextPrinter,
    UsbTransport,
)
from pos.ports import DeviceHealth

__all__ = [
    "PrinterError",
    "ReceiptPrinter",
    "Slip",
    "make_slip",
    "open_printer",
    "slip_text",
]

_SERIAL_SCHEMES = ("socket://", "loop://", "rfc2217://", "spy://", "alt://", "hwgrep://")
_OPTIONS = ("width", "qr", "baudrate")


class ReceiptPrinter(Protocol):
    url: str

    def print_slip(self, slip: Slip) -> None:
        """Print one receipt (blocking); ``PrinterError`` when it could not be printed."""
        ...

    def health(self) -> DeviceHealth: ...

    def close(self) -> None: ...


def _split_options(url: str) -> tuple[str, dict[str, str], str]:
    """(URL without our options, our options, the query left for pyserial)."""
    base, _sep, query = url.partition("?")
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in _OPTIONS:
            ours[key] = value
        else:
            rest.append((key, value))
    return base, ours, urlencode(rest)


def _int(options: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = options.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"printer option {key}={raw!r}: a whole number from {low} to {high}")
    return int(raw)


def _usb_ids(spec: str) -> tuple[int, int]:
    vid, sep, pid = spec.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(vid, 16), int(pid, 16)
    except ValueError:
        raise ValueError(f"usb:{spec!r}: write usb:VID:PID in hex, e.g. usb:04b8:0202") from None


def open_printer(url: str) -> ReceiptPrinter:
    """The printer a URL names; ``ValueError`` for a URL no printer takes. Nothing is opened yet:
    a printer that is off now fails its first receipt (with ``PrinterError``), not the start."""
    base, options, rest = _split_options(url)
    width = _int(options, "width", DEFAULT_WIDTH, 16, 96)
    qr = options.get("qr", "native")
    if rest and not (base.startswith(("serial:", "/dev/", *_SERIAL_SCHEMES))):
        raise ValueError(f"{url!r}: unknown printer option in {rest!r} (have {', '.join(_OPTIONS)})")
    if base == "screen:":
        return TextPrinter(url, width=width)
    if base.startswith("text:"):
        target = base[len("text:") :]
        if not target:
            raise ValueError("text:PATH names a file (text:- for standard output)")
        return TextPrinter(url, None if target == "-" else target, width=width, qr_art=target == "-")
    transport: Any
    if base.startswith("file:"):
        if not base[len("file:") :]:
            raise ValueError("file:PATH names the file the ESC/POS bytes are appended to")
        transport = FileTransport(base[len("file:") :])
    elif base.startswith("usb:"):
        transport = UsbTransport(*_usb_ids(base[len("usb:") :]))
    elif base.startswith(("serial:", "/dev/", *_SERIAL_SCHEMES)):
        port = base[len("serial:") :] if base.startswith("serial:") else base
        if not port:
            raise ValueError("serial:PORT names the port, e.g. serial:/dev/ttyUSB0")
        baudrate = _int(options, "baudrate", 9600, 50, 4_000_000)
        transport = SerialTransport(port + (f"?{rest}" if rest else ""), baudrate=baudrate)
    else:
        raise ValueError(
            f"{url!r} names no printer: use file:PATH, /dev/ttyUSB0, socket://HOST:9100, usb:VID:PID, "
            "text:PATH or screen:"
        )
    return EscposPrinter(url, transport, width=width, qr=qr)

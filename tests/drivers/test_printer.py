"""Receipt printers (issue 6, Receipts): ESC/POS through python-escpos to a file, a serial port
(pyserial ``loop://`` and a real pty) and text; the printed QR code reads back, with the camera's
decoders, as the signed receipt, which verifies."""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest

from drivers.camera.decoders import FrameDecoder
from drivers.camera.images import load_image
from drivers.printer import PrinterError, make_slip, open_printer, slip_text
from drivers.printer.escpos_out import CUT, INIT, QR_STORE, RASTER, module_dots, qr_image, render
from drivers.printer.transports import TextPrinter
from pos.identity import Identity
from pos.receipt import Receipt, ReceiptFields, make_receipt, verify_receipt
from ui.i18n.money import format_money

FIELDS = ReceiptFields(
    "SHOP-7", 42, 1_800_000_000, 1250, "EUR", bytes.fromhex("0102030405060708"), 17, bytes(32)
)


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return Identity(tmp_path_factory.mktemp("terminal"))


@pytest.fixture(scope="module")
def signed(identity: Identity) -> Receipt:
    return make_receipt(FIELDS, identity)


def slip_of(r: Receipt, merchant: str | None = None):  # type: ignore[no-untyped-def]
    return make_slip(r.fields, r.text, money=format_money, tz=UTC, merchant=merchant)


# -- reading ESC/POS back ---------------------------------------------------------------------------
def native_qr_texts(data: bytes) -> list[str]:
    """The contents of every ``GS ( k`` QR "store data" command (cn 49, fn 80, m 48)."""
    out, i = [], 0
    while (i := data.find(QR_STORE, i)) >= 0:
        size = data[i + 3] | data[i + 4] << 8
        body = data[i + 5 : i + 5 + size]
        if body[:3] == b"1P0":
            out.append(body[3:].decode("ascii"))
        i += 5 + size
    return out


def raster_images(data: bytes) -> list[np.ndarray]:
    """Every ``GS v 0`` raster block as a grayscale image (a set bit is a black dot)."""
    out, i = [], 0
    while (i := data.find(RASTER, i)) >= 0:
        width_bytes = data[i + 4] | data[i + 5] << 8
        rows = data[i + 6] | data[i + 7] << 8
        start = i + 8
        bits = np.unpackbits(np.frombuffer(data[start : start + width_bytes * rows], np.uint8))
        out.append(np.where(bits.reshape(rows, width_bytes * 8) == 1, 0, 255).astype(np.uint8))
        i = start + width_bytes * rows
    return out


def decode_qr(gray: np.ndarray) -> list[str]:
    padded = np.pad(gray, 16, constant_values=255)
    return FrameDecoder("zxing", hard="always").decode(padded).texts


# -- the receipt on paper ---------------------------------------------------------------------------
def test_file_printer_writes_escpos_with_init_cut_and_the_receipt_in_the_qr(
    tmp_path: Path, signed: Receipt, identity: Identity
) -> None:
    out = tmp_path / "receipts.bin"
    printer = open_printer(f"file:{out}")
    printer.print_slip(slip_of(signed, merchant="Corner Shop"))
    data = out.read_bytes()
    assert data.startswith(INIT)
    assert CUT in data[-8:]
    for words in (b"Corner Shop", b"EUR 12.50", b"APPROVED", b"****05060708", b"2027-01-15 08:00:00 UTC"):
        assert words in data
    assert signed.text.encode() in data  # a native QR code carries the text itself
    (text,) = native_qr_texts(data)
    assert text == signed.text
    assert verify_receipt(text, identity.public_raw).fields == FIELDS
    assert printer.health().ok


def test_file_printer_appends_one_receipt_after_another(tmp_path: Path, signed: Receipt) -> None:
    out = tmp_path / "receipts.bin"
    printer = open_printer(f"file:{out}")
    printer.print_slip(slip_of(signed))
    printer.print_slip(slip_of(signed))
    data = out.read_bytes()
    assert data.count(INIT) == 2 and len(native_qr_texts(data)) == 2


def test_image_qr_is_a_raster_that_decodes_to_the_receipt(signed: Receipt, identity: Identity) -> None:
    data = render(slip_of(signed), qr="image")
    assert QR_STORE not in data and signed.text.encode() not in data
    (image,) = raster_images(data)
    assert image.shape[1] <= 32 * 12  # fits 58 mm paper (384 dots)
    (text,) = decode_qr(image)
    assert verify_receipt(text, identity.public_raw).fields == FIELDS


def test_qr_image_file_decodes_with_the_camera_decoders(tmp_path: Path, signed: Receipt) -> None:
    png = tmp_path / "receipt.png"
    qr_image(signed.text, scale=6).save(png)
    gray = load_image(png.read_bytes())
    assert gray is not None
    assert FrameDecoder("zxing", hard="always").decode(gray).texts == [signed.text]


def test_wide_paper_gets_larger_modules(signed: Receipt) -> None:
    assert module_dots(32) < module_dots(48)
    narrow, wide = render(slip_of(signed), width=32), render(slip_of(signed), width=48)
    assert b"-" * 48 in wide and b"-" * 48 not in narrow


# -- serial printers ----------------------------------------------------------------------------------
def test_serial_loop_printer_bytes_read_back(signed: Receipt) -> None:
    printer = open_printer("loop://?baudrate=115200")
    try:
        printer.print_slip(slip_of(signed))
        port = printer.transport.port  # type: ignore[attr-defined]
        expected = render(slip_of(signed))
        got = port.read(len(expected))
        assert got == expected
        assert native_qr_texts(got) == [signed.text]
    finally:
        printer.close()


def test_serial_printer_on_a_pty_prints_the_image_receipt(signed: Receipt, identity: Identity) -> None:
    """A real tty device path (the printer end of a pty pair), as /dev/ttyUSB0 would be."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    received = bytearray()
    expected = render(slip_of(signed), qr="image")

    def read_all() -> None:
        deadline = time.monotonic() + 20
        while len(received) < len(expected) and time.monotonic() < deadline:
            try:
                received.extend(os.read(master, 65536))
            except OSError:
                return

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    printer = open_printer(f"{path}?qr=image&baudrate=115200")
    try:
        printer.print_slip(slip_of(signed))
        reader.join(25)
    finally:
        printer.close()
        os.close(slave)
        os.close(master)
    assert bytes(received) == expected
    (text,) = decode_qr(raster_images(bytes(received))[0])
    assert verify_receipt(text, identity.public_raw).signer_checked


def test_unreachable_printer_raises_printer_error_and_reports_health(tmp_path: Path, signed: Receipt) -> None:
    for url in (
        f"file:{tmp_path}/no/such/dir/r.bin",
        f"serial:{tmp_path}/no-such-tty",
        "socket://127.0.0.1:1",
    ):
        printer = open_printer(url)
        with pytest.raises(PrinterError):
            printer.print_slip(slip_of(signed))
        assert not printer.health().ok and printer.health().detail


def test_usb_printer_without_the_device_is_a_printer_error(signed: Receipt) -> None:
    printer = open_printer("usb:0fff:0fff")  # no such printer here, whatever pyusb finds
    with pytest.raises(PrinterError, match="USB printer 0fff:0fff"):
        printer.print_slip(slip_of(signed))


# -- text receipts ----------------------------------------------------------------------------------
def test_text_printer_writes_a_plain_receipt_with_its_qr_text(tmp_path: Path, signed: Receipt) -> None:
    out = tmp_path / "receipts.txt"
    open_printer(f"text:{out}").print_slip(slip_of(signed))
    text = out.read_text()
    assert "APPROVED" in text and "EUR 12.50" in text and signed.text in text
    assert "Receipt no." in text and "42" in text
    assert all(len(line) <= 32 for line in text.splitlines() if not line.startswith("OWR1:"))


def test_screen_printer_draws_the_qr_in_blocks(signed: Receipt) -> None:
    buf = io.StringIO()
    TextPrinter("screen:", stream=lambda: buf).print_slip(slip_of(signed))
    assert signed.text in buf.getvalue() and "█" in buf.getvalue()


def test_slip_text_puts_long_values_on_their_own_line(signed: Receipt) -> None:
    slip = slip_of(signed, merchant="M")
    long = make_slip(
        ReceiptFields("T" * 40, 1, 0, 1, "EUR", bytes(8), 0),
        signed.text,
        money=format_money,
        tz=UTC,
        merchant="M",
    )
    assert "Terminal" in slip_text(slip) and "T" * 32 in slip_text(long, width=32)


# -- URLs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["nonsense", "file:", "text:", "serial:", "usb:12", "usb:xyz:1", "file:/x?width=5", "file:/x?qr=svg",
     "file:/x?speed=1", "/dev/ttyUSB0?baudrate=fast"],
)  # fmt: skip
def test_bad_printer_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_printer(url)


def test_printer_urls_and_options() -> None:
    p = open_printer("usb:04b8:0202?width=48&qr=image")
    assert (p.transport.vendor, p.transport.product, p.width, p.qr) == (0x04B8, 0x0202, 48, "image")  # type: ignore[attr-defined]
    s = open_printer("socket://127.0.0.1:9100?baudrate=19200&logging=debug")
    assert s.transport.url == "socket://127.0.0.1:9100?logging=debug" and s.transport.baudrate == 19200  # type: ignore[attr-defined]
    assert open_printer("serial:/dev/ttyS0").transport.url == "/dev/ttyS0"  # type: ignore[attr-defined]
    assert isinstance(open_printer("screen:"), TextPrinter) and isinstance(
        open_printer("text:-"), TextPrinter
    )

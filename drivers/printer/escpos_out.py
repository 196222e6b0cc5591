"""A slip as ESC/POS bytes, made with python-escpos's in-memory printer (``Dummy``).

One rendering for every transport: the bytes are made here and written to a file, a serial port
or a USB printer by ``drivers.printer.transports``. The QR code is either the printer's own
(``GS ( k``, model 2, error correction M: the bytes carry the receipt text itself) or a raster
image (``GS v 0``) drawn by segno, for printers without a QR command.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from drivers.printer.slip import DEFAULT_WIDTH, Slip, body_lines

QR_NATIVE, QR_IMAGE = "native", "image"
QR_MODES = (QR_NATIVE, QR_IMAGE)
INIT = b"\x1b@"  # ESC @
CUT = b"\x1dV"  # GS V (python-escpos: full cut after a feed)
QR_STORE = b"\x1d(k"  # GS ( k: the QR symbol's data and print functions
RASTER = b"\x1dv0"  # GS v 0: a raster bit image
DOTS_PER_CHAR = 12  # font A is 12 dots wide: 32 characters are 384 dots (58 mm), 48 are 576
QR_BORDER = 4  # modules of quiet zone around an image QR code (ISO/IEC 18004)


def module_dots(width: int) -> int:
    """Dots per QR module so that a receipt's code (version 10-11, up to 61 modules plus the quiet
    zone) fits the paper: 5 on 58 mm, 7 on 80 mm."""
    return max(3, min(8, (width * DOTS_PER_CHAR) // (61 + 2 * QR_BORDER)))


def qr_image(text: str, scale: int = 4) -> Any:
    """The QR code of ``text`` as a 1-bit PIL image (black modules, white quiet zone)."""
    import segno
    from PIL import Image

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=QR_BORDER)
    buf.seek(0)
    with Image.open(buf) as img:
        return img.convert("1")


def _escpos_cache() -> None:
    """python-escpos caches its printer profiles as a pickle in a new temporary directory on every
    import unless told where: a private cache directory instead (never a shared /tmp path, since
    the pickle is loaded back)."""
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "owt-pos" / "escpos"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return  # escpos falls back to its own temporary directory
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(base)


def _dummy(width: int) -> Any:
    """An in-memory printer whose profile knows the paper width (escpos prints a warning to
    standard output for images on a profile without one)."""
    _escpos_cache()
    from escpos.printer import Dummy

    p = Dummy()
    data = dict(p.profile.profile_data)
    data["media"] = {"width": {"pixels": width * DOTS_PER_CHAR, "mm": "Unknown"}, "dpi": 203}
    p.profile.profile_data = data  # on this instance only: the class's dict is shared
    return p


def render(slip: Slip, *, width: int = DEFAULT_WIDTH, qr: str = QR_NATIVE) -> bytes:
    """The whole receipt: initialise, title, rows, verdict, QR code, footer, feed and cut."""
    if qr not in QR_MODES:
        raise ValueError(f"qr must be one of {', '.join(QR_MODES)}, not {qr!r}")
    p = _dummy(width)
    from escpos.constants import QR_ECLEVEL_M

    p.hw("INIT")
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.textln(slip.title[: width // 2])
    p.set(align="left", bold=False, normal_textsize=True)
    p.textln("-" * width)
    for line in body_lines(slip, width):
        p.textln(line)
    p.textln("-" * width)
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.textln(slip.verdict)
    p.set(align="center", bold=False, normal_textsize=True)
    dots = module_dots(width)
    if qr == QR_NATIVE:
        p.qr(slip.qr_text, native=True, size=dots, ec=QR_ECLEVEL_M)
    else:
        p.image(qr_image(slip.qr_text, dots), center=False)  # centred by ESC a 1 above
    for line in slip.footer:
        p.textln(line)
    p.cut()
    return bytes(p.output)

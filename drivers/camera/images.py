"""Still images (PNG, JPEG) holding an OWT QR code: what the CLI's ``@PATH`` reads when PATH is a picture.

    text = decode_image_file("code.png")      # b"OWT1:..." or None

The same decoder chain as the camera, with the hard pass always tried (a still image has time).
Files are recognised by their magic bytes, not their names. Bytes that are not a decodable image
give ``None``, never an exception; only reading the file itself can raise ``OSError``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.decoders import Decoder, FrameDecoder
from drivers.camera.filters import is_presentation, redact

log = logging.getLogger("drivers.camera")

MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}
MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40 MP photo at most; anything bigger is not a QR code picture
WORK_SIDE = 1600  # larger pictures are also tried shrunk to this long side


def sniff_image(head: bytes) -> str | None:
    """``"png"`` or ``"jpeg"`` from the first bytes of a file, else ``None``."""
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` starts like a PNG or JPEG file (``OSError`` if it cannot be read)."""
    with open(path, "rb") as f:
        return sniff_image(f.read(8)) is not None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first SOF segment, walking the markers before the scan."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xDA or length < 2:  # the scan begins: no frame header came first
            return None
        i += 2 + length
    return None


def load_image(data: bytes) -> np.ndarray | None:
    """A grayscale image from PNG/JPEG bytes, or ``None`` (not an image, corrupt, too large).

    The pixel count is read from the header and checked before OpenCV allocates anything.
    """
    kind = sniff_image(data[:8])
    if kind is None or len(data) > MAX_IMAGE_BYTES:
        return None
    size = _png_size(data) if kind == "png" else _jpeg_size(data)
    if size is None or size[0] * size[1] > MAX_PIXELS or 0 in size:
        return None
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error as exc:
        log.info("not a decodable image: %s", exc)
        return None
    if img is None or img.size == 0 or img.size > MAX_PIXELS:
        return None
    return img


def decode_image_bytes(data: bytes, decoder: Decoder | str = "zxing") -> bytes | None:
    """The OWT presentation text in a PNG/JPEG image, as bytes, or ``None``."""
    img = load_image(data)
    if img is None:
        return None
    chain = FrameDecoder(decoder, hard="always", budget_ms=1000, grid_budget_ms=1000)
    tries = [img]
    long_side = max(img.shape[:2])
    if long_side > WORK_SIDE:
        f = WORK_SIDE / long_side
        tries.append(cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))
    for gray in tries:
        for text in chain.decode(gray).texts:
            if is_presentation(text):
                return text.encode("utf-8")
            log.info("ignoring a QR code that is not an OWT presentation: %s", redact(text))
    return None


def decode_image_file(path: str | Path, decoder: Decoder | str = "zxing") -> bytes | None:
    """The OWT presentation text in the PNG/JPEG file at ``path``, or ``None``."""
    with open(path, "rb") as f:
        data = f.read(MAX_IMAGE_BYTES + 1)
    return decode_image_bytes(data, decoder)

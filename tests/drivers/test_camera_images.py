"""Still images for the CLI's ``@PATH``: PNG and JPEG files through the camera decoder chain."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import decode_image_bytes, decode_image_file, is_image_file, sniff_image
from drivers.camera.images import _jpeg_size
from sim import camera_frames as synth

TEXTS = synth.owt_texts(4, seed=3)


def write(path: Path, image: np.ndarray, *params: int) -> Path:
    assert cv2.imwrite(str(path), image, list(params))
    return path


def test_png_and_jpeg_files_give_the_presentation_text(tmp_path: Path) -> None:
    png = write(tmp_path / "code.png", synth.clean_frame(TEXTS[0], module_px=4, size=(640, 480)))
    assert decode_image_file(png) == TEXTS[0].encode()
    # a phone photo: perspective, noise, uneven light, JPEG 70-80; the name says nothing
    spec, data = next(synth.generate(1, 5, texts=TEXTS[1:2], empty=0, other=0))
    photo = tmp_path / "IMG_0001.dat"
    photo.write_bytes(data)
    assert is_image_file(photo)
    assert decode_image_file(photo) == spec.text.encode()


def test_a_code_only_the_hard_pass_reads_is_read_from_a_still_image(tmp_path: Path) -> None:
    frame = cv2.GaussianBlur(synth.clean_frame(TEXTS[2], module_px=3), (0, 0), 1.25)
    frame = cv2.addWeighted(frame, 0.35, np.full_like(frame, 120), 0.65, 0)  # faded print
    path = write(tmp_path / "faded.jpg", frame, cv2.IMWRITE_JPEG_QUALITY, 75)
    assert decode_image_file(path) == TEXTS[2].encode()


def test_a_large_phone_screenshot_is_read(tmp_path: Path) -> None:
    shot = np.full((2532, 1170, 3), 240, np.uint8)
    code = cv2.cvtColor(synth.render_code(TEXTS[3], 12), cv2.COLOR_GRAY2BGR)
    y, x = 700, (1170 - code.shape[1]) // 2
    shot[y : y + code.shape[0], x : x + code.shape[1]] = code
    assert decode_image_file(write(tmp_path / "shot.png", shot)) == TEXTS[3].encode()


def test_images_without_an_owt_code_give_none(tmp_path: Path) -> None:
    url = write(tmp_path / "menu.png", synth.clean_frame("https://example.com/menu", module_px=6))
    assert decode_image_file(url) is None
    scene = write(tmp_path / "scene.jpg", synth.background(np.random.default_rng(1)))
    assert decode_image_file(scene) is None


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        b"\xff\xd8\xff" + np.random.default_rng(2).bytes(5000),
        np.random.default_rng(3).bytes(20000),
        # valid headers claiming 100000 x 100000 and 60000 x 60000 pixels: refused before allocating
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)),
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0\x00\x0b\x08"
        + struct.pack(">HH", 60000, 60000)
        + b"\x01\x01\x11\x00"
        + bytes(4096),
    ],
    ids=["empty", "png-magic-only", "png-garbage", "jpeg-garbage", "random", "png-bomb", "jpeg-bomb"],
)
def test_garbage_bytes_give_none_not_an_exception(tmp_path: Path, data: bytes) -> None:
    assert decode_image_bytes(data) is None
    path = tmp_path / "junk.png"
    path.write_bytes(data)
    assert decode_image_file(path) is None


def test_a_truncated_real_png_gives_none_or_the_text(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".png", synth.clean_frame(TEXTS[0], module_px=4, size=(640, 480)))
    assert ok
    data = buf.tobytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 20):
        assert decode_image_bytes(data[:cut]) in (None, TEXTS[0].encode())


def test_jpeg_dimensions_are_read_from_the_header() -> None:
    ok, buf = cv2.imencode(".jpg", np.zeros((123, 456, 3), np.uint8))
    assert ok and _jpeg_size(buf.tobytes()) == (456, 123)
    assert _jpeg_size(b"\xff\xd8\xff\xda\x00\x02") is None  # a scan before any frame header


def test_image_kind_is_detected_by_magic_bytes(tmp_path: Path) -> None:
    assert sniff_image(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff_image(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff_image(b"OWT1:ABC") is None
    text = tmp_path / "token.png"
    text.write_text("OWT1:ABC")  # a text file with an image's name is still text
    assert not is_image_file(text)

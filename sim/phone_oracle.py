"""The honest "readable at all" check of a camera frame: an oracle that knows where every module is.

    ok = oracle_reads(shot)            # the frame as the camera delivered it (after the ISP and JPEG)

The generator knows the frame's true geometry: the camera-pixel centre of every module. The oracle
samples the final frame (the JPEG decoded, turned grey) at each centre, thresholds each sample
against the mean of the samples around it (a window of modules, so a glare band or bloom moves
the threshold with it), draws the result as a crisp clean QR code (quiet zone, 8 px per module)
and reads that with zxing-cpp. Modules outside the picture or under a finger are drawn light.

Two things a real sampler also does, done blind (never from the true modules): the grid is moved
as a whole by up to a pixel to where the samples differ most from their local mean (a motion
streak or defocus disc drawn off-centre moves the picture by a fraction of a pixel, which at 2 px
a module is a third of a module), and each sample has a share of its four neighbours' difference
removed (the blur's spill between modules, ``EQUALISE``). A few windows and shares are tried.
If none reads, the frame carries more module errors than the code's error correction repairs: no
decoder can be expected to read it. The check never looks at the terminal's pipeline (``drivers``).
"""

from __future__ import annotations

import cv2
import numpy as np

from sim.phone_screen import Shot

PX = 8  # pixels per module of the clean image
QUIET = 4  # modules of quiet zone around it
SHIFTS = np.arange(-1.0, 1.01, 0.25)  # camera px: the whole grid's offsets searched
SETTINGS = ((21, 0.5, 4), (15, 1.0, 8), (9, 0.5, 8), (21, 0.0, 4))  # (window, equalise, neighbours)
_KERNELS = {
    4: np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32),
    8: np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32),
}


def sample_modules(gray: np.ndarray, centres: np.ndarray, n: int) -> np.ndarray:
    """n x n float32: the grey value at each module centre (bilinear); NaN outside the picture."""
    xy = np.asarray(centres, np.float32).reshape(n, n, 2)
    values = cv2.remap(
        gray.astype(np.float32), xy[..., 0], xy[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan,
    )  # fmt: skip
    h, w = gray.shape[:2]
    outside = (xy[..., 0] < 0) | (xy[..., 1] < 0) | (xy[..., 0] > w - 1) | (xy[..., 1] > h - 1)
    values[outside] = np.nan
    return values


def _local_mean(values: np.ndarray, known: np.ndarray, window: int) -> np.ndarray:
    k = (window, window)
    total = cv2.boxFilter(values, -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(known.astype(np.float32), -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return np.asarray(total / np.maximum(count, 1))


def threshold_modules(
    values: np.ndarray,
    lost: np.ndarray | None = None,
    window: int = 21,
    equalise: float = 0.0,
    neighbours: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """(dark, known), n x n bool: a known module is dark when below the mean of the samples around it."""
    known = ~np.isnan(values)
    if lost is not None:
        known &= ~lost
    filled = np.where(known, values, 0).astype(np.float32)
    if equalise:
        kernel = _KERNELS[neighbours]
        count = cv2.filter2D(known.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
        around = cv2.filter2D(filled, -1, kernel, borderType=cv2.BORDER_CONSTANT) / np.maximum(count, 1)
        filled = np.where(known, filled + equalise * (filled - around), 0).astype(np.float32)
    return known & (filled < _local_mean(filled, known, window)), known


def align(gray: np.ndarray, centres: np.ndarray, n: int, lost: np.ndarray | None) -> np.ndarray:
    """The module samples at the whole-grid shift where they stand out most from their local mean."""
    best, best_score = sample_modules(gray, centres, n), -1.0
    for dx in SHIFTS:
        for dy in SHIFTS:
            values = sample_modules(gray, centres + np.array([dx, dy]), n)
            known = ~np.isnan(values) if lost is None else ~np.isnan(values) & ~lost
            filled = np.where(known, values, 0).astype(np.float32)
            score = float(np.abs(filled - _local_mean(filled, known, 21))[known].mean())
            if score > best_score:
                best, best_score = values, score
    return best


def clean_image(dark: np.ndarray) -> np.ndarray:
    """The module matrix as a crisp upright code: black modules, white quiet zone, ``PX`` px a module."""
    img = np.where(np.pad(dark, QUIET), 0, 255).astype(np.uint8)
    return cv2.resize(img, None, fx=PX, fy=PX, interpolation=cv2.INTER_NEAREST)


def oracle_reads_frame(
    frame: np.ndarray, text: str, centres: np.ndarray, n: int, lost: np.ndarray | None = None
) -> bool:
    """True when ``frame`` (BGR or grey) still holds ``text`` at the known module ``centres``."""
    import zxingcpp

    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    values = align(gray.astype(np.float32), np.asarray(centres, np.float64), n, lost)
    for window, equalise, neighbours in SETTINGS:
        dark, known = threshold_modules(values, lost, window, equalise, neighbours)
        for polarity in (dark, known & ~dark):  # the second for dark mode: light modules on a dark screen
            found = zxingcpp.read_barcodes(clean_image(polarity), formats=zxingcpp.BarcodeFormat.QRCode)
            if any(b.text == text for b in found):
                return True
    return False


def oracle_reads(shot: Shot) -> bool:
    """The oracle on a drawn frame (its JPEG, module centres and lost modules)."""
    if shot.centres is None:
        raise ValueError("this shot carries no module centres: draw it with sim.phone_frames")
    frame = cv2.imdecode(np.frombuffer(shot.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    n = round(float(np.sqrt(len(shot.centres))))
    return oracle_reads_frame(frame, shot.text, shot.centres, n, shot.lost)

"""The hard pass's image variants: each a few milliseconds on a 1280x720 frame, less on a crop.

Ordered by how often each rescued a frame the cheap pass missed on the degraded set (make_frames).
``decoders.FrameDecoder`` runs them on the region around what looked QR-like.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


def sharpen(g: np.ndarray, sigma: float = 1.5, amount: float = 1.5) -> np.ndarray:
    return cv2.addWeighted(g, 1 + amount, cv2.GaussianBlur(g, (0, 0), sigma), -amount, 0)


def _clahe(g: np.ndarray) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(g)


def _otsu(g: np.ndarray) -> np.ndarray:
    return cv2.threshold(cv2.GaussianBlur(g, (3, 3), 0), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


def _adaptive(g: np.ndarray, module_px: float) -> np.ndarray:
    block = min(51, max(11, int(module_px * 6) | 1))  # a box filter: the cost does not grow with it
    return cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 4)


def _denoise_sharpen(g: np.ndarray) -> np.ndarray:
    return sharpen(cv2.GaussianBlur(g, (0, 0), 0.8), 2.0, 2.0)


def _denoise_clahe(g: np.ndarray) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8)).apply(cv2.GaussianBlur(g, (0, 0), 0.8))


def _bilateral_clahe(g: np.ndarray) -> np.ndarray:
    return _clahe(cv2.bilateralFilter(g, 5, 30, 5))


def _upscale(g: np.ndarray, factor: float = 2.0) -> np.ndarray:
    return cv2.resize(g, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


Variant = tuple[str, Callable[[np.ndarray, float], np.ndarray]]

HARD_VARIANTS: tuple[Variant, ...] = (
    ("denoise_sharpen", lambda g, m: _denoise_sharpen(g)),
    ("adaptive", lambda g, m: _adaptive(g, m)),
    ("denoise_clahe", lambda g, m: _denoise_clahe(g)),
    ("sharpen", lambda g, m: sharpen(g)),
    ("bilateral_clahe", lambda g, m: _bilateral_clahe(g)),
    ("clahe", lambda g, m: _clahe(g)),
    ("otsu", lambda g, m: _otsu(g)),
    ("upscale_sharpen", lambda g, m: sharpen(_upscale(g), 2.0, 1.5)),
    ("upscale_adaptive", lambda g, m: _adaptive(_upscale(g), 2 * m)),
)

# the variants also worth a read with zxing-cpp's global binarizer (the others are binary already,
# or never read that way on the hard set)
GLOBAL_TOO = frozenset(
    {"denoise_sharpen", "sharpen", "clahe", "denoise_clahe", "bilateral_clahe", "upscale_sharpen"}
)

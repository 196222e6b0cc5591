"""A QR symbol's module grid, fitted to the picture, and its modules sampled and redrawn clean.

    grid = refine(blurred, Grid(version, first_corners), sign, module_px)  # fit a first guess
    for image in clean_codes(gray, grid, sign): decoder.read(image)       # the clean redraws

A grid is the homography from module coordinates (0..n on each axis, n = 17 + 4 x version) to
frame pixels, held as the frame positions of the symbol's four corners. What is known of a symbol
before reading it (its *function patterns*: the three finders and their light separators, the
timing row and column, the alignment patterns, the version information of version 7 and up, the
dark module) is where the fit looks: the corners are moved, one coordinate at a time, in steps
from a module down to a sixteenth, to where the samples at those modules' centres agree best
with what they must be. Then every module is sampled at its centre, thresholded against the mean
of the samples around it (a glare band or bloom moves the threshold with it), and drawn as a
crisp upright code with its function patterns redrawn as they must be; zxing-cpp or any other
decoder reads that and checks the error correction (``sampler``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

PX = 4  # pixels per module of a clean redraw
QUIET = 4  # modules of quiet zone around it
STEPS = (1.0, 0.5, 0.25, 0.12, 0.06)  # the fit's steps, in modules (``sampler`` splits them)
SETTINGS = ((21, 0.5, 4), (15, 1.0, 8), (9, 0.5, 8), (21, 0.0, 4))  # (window, equalise, neighbours)
_KERNELS = {
    4: np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32),
    8: np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32),
}


def side(version: int) -> int:
    return 17 + 4 * version


def alignment_centres(version: int) -> list[int]:
    """Row (and column) indices of the alignment patterns' centres (ISO 18004 table E.1)."""
    if version == 1:
        return []
    n, count = side(version), version // 7 + 2
    step = 26 if version == 32 else (version * 4 + count * 2 + 1) // (count * 2 - 2) * 2
    return [6, *sorted(n - 7 - i * step for i in range(count - 1))]


def _version_bits(version: int) -> int:
    rem = version
    for _ in range(12):
        rem = (rem << 1) ^ ((rem >> 11) * 0x1F25)
    return version << 12 | rem


@functools.lru_cache(maxsize=48)
def function_modules(version: int) -> tuple[np.ndarray, np.ndarray]:
    """(known, dark), n x n bool: the modules every symbol of ``version`` has, and which are dark."""
    n = side(version)
    known = np.zeros((n, n), bool)
    dark = np.zeros((n, n), bool)
    finder = np.zeros((9, 9), bool)  # with its light separator (one module all round)
    finder[1:8, 1:8] = True
    finder[2:7, 2:7] = False
    finder[3:6, 3:6] = True
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        r0, c0 = max(r - 1, 0), max(c - 1, 0)
        r1, c1 = min(r + 8, n), min(c + 8, n)
        known[r0:r1, c0:c1] = True
        dark[r0:r1, c0:c1] = finder[r0 - r + 1 : r1 - r + 1, c0 - c + 1 : c1 - c + 1]
    timing = np.arange(8, n - 8)
    known[6, timing] = known[timing, 6] = True
    dark[6, timing] = dark[timing, 6] = timing % 2 == 0
    centres = alignment_centres(version)
    ring = np.ones((5, 5), bool)
    ring[1:4, 1:4] = False
    ring[2, 2] = True
    for r in centres:
        for c in centres:
            if (r, c) in ((6, 6), (6, n - 7), (n - 7, 6)):  # under a finder
                continue
            known[r - 2 : r + 3, c - 2 : c + 3] = True
            dark[r - 2 : r + 3, c - 2 : c + 3] = ring
    if version >= 7:
        bits = _version_bits(version)
        for i in range(18):
            a, b = n - 11 + i % 3, i // 3
            known[b, a] = known[a, b] = True
            dark[b, a] = dark[a, b] = bool(bits >> i & 1)
    known[n - 8, 8] = dark[n - 8, 8] = True  # the dark module
    return known, dark


@dataclass(slots=True)
class Grid:
    version: int
    corners: np.ndarray  # 4 x 2 float32: frame positions of module corners (0,0), (n,0), (n,n), (0,n)
    score: float = -1.0  # agreement with the function patterns (a correlation, -1..1)

    @property
    def n(self) -> int:
        return side(self.version)

    def homography(self) -> np.ndarray:
        n = float(self.n)
        square = np.array([(0, 0), (n, 0), (n, n), (0, n)], np.float32)
        return cv2.getPerspectiveTransform(square, self.corners.astype(np.float32))

    def module_centres(self) -> np.ndarray:
        """n x n x 2 float32: the frame position of every module's centre."""
        idx = np.arange(self.n, dtype=np.float32) + 0.5
        xs, ys = np.meshgrid(idx, idx)
        pts = np.stack([xs, ys], -1).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.homography()).reshape(self.n, self.n, 2)


def affine_corners(module_pts: np.ndarray, frame_pts: np.ndarray, version: int) -> np.ndarray:
    """The four corners of the affine map taking three points in module coordinates to the frame."""
    n = float(side(version))
    square = np.array([[(0, 0)], [(n, 0)], [(n, n)], [(0, n)]], np.float32)
    m = cv2.getAffineTransform(np.asarray(module_pts, np.float32), np.asarray(frame_pts, np.float32))
    return cv2.transform(square, m).reshape(4, 2)


def sample(gray: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear grey values at ``xy`` (... x 2 float32 frame positions); NaN outside the picture."""
    shape = xy.shape[:-1]
    flat = xy.reshape(-1, 1, 2).astype(np.float32)
    values = cv2.remap(gray, flat[..., 0], flat[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)  # fmt: skip
    h, w = gray.shape[:2]
    outside = (flat[..., 0] < 0) | (flat[..., 1] < 0) | (flat[..., 0] > w - 1) | (flat[..., 1] > h - 1)
    values[outside] = np.nan
    return values.reshape(shape)


@functools.lru_cache(maxsize=48)
def _pattern_points(version: int) -> tuple[np.ndarray, np.ndarray]:
    """(the function modules' centres in module coordinates, k x 1 x 2; their wanted values, zero-mean)."""
    known, dark = function_modules(version)
    rows, cols = np.nonzero(known)
    pts = np.stack([cols + 0.5, rows + 0.5], -1).astype(np.float32).reshape(-1, 1, 2)
    want = np.where(dark[rows, cols], -1.0, 1.0)
    return pts, want


def pattern_score(gray: np.ndarray, grid: Grid, sign: float) -> float:
    """How well the samples at the function modules match them: a correlation, times ``sign``
    (+1: dark modules darker; -1: a dark-mode code). ``gray`` is float32, blurred a little."""
    pts, want = _pattern_points(grid.version)
    values = sample(gray, cv2.perspectiveTransform(pts, grid.homography())).reshape(-1)
    ok = ~np.isnan(values)
    if ok.sum() < 0.5 * len(values):
        return -1.0
    # a module outside the picture counts as a sample that says nothing (zero), so that pushing the
    # grid's badly matching part off the picture does not raise the score
    v = np.where(ok, values - values[ok].mean(), 0.0)
    w = want - want.mean()
    norm = float(np.sqrt(v.dot(v) / ok.sum() * len(v) * w.dot(w)))
    return sign * float(v.dot(w)) / norm if norm > 0 else -1.0


def _corners(p: np.ndarray) -> np.ndarray:
    """The grid's corners from (top-left, top-right, bottom-left, the fourth's offset from where
    the parallelogram of the other three puts it): perspective is the last thing the fit moves."""
    tl, tr, bl, d = p.reshape(4, 2)
    return np.array([tl, tr, tr + bl - tl + d, bl], np.float32)


def refine(
    gray: np.ndarray, grid: Grid, sign: float, module_px: float, steps: tuple[float, ...] = STEPS
) -> Grid:
    """Coordinate search over the 8 corner coordinates, each step size until nothing improves."""
    c = grid.corners.astype(np.float32)
    p = np.concatenate([c[0], c[1], c[3], c[2] - (c[1] + c[3] - c[0])]).astype(np.float32)
    best_score = pattern_score(gray, Grid(grid.version, _corners(p)), sign)
    for step in steps:
        delta = step * module_px
        for _ in range(6):
            improved = False
            for k in range(8):
                for d in (delta, -delta):
                    trial = p.copy()
                    trial[k] += d
                    score = pattern_score(gray, Grid(grid.version, _corners(trial)), sign)
                    if score > best_score + 1e-4:
                        p, best_score, improved = trial, score, True
                        break
            if not improved:
                break
    return Grid(grid.version, _corners(p), best_score)


def _local_mean(values: np.ndarray, known: np.ndarray, window: int) -> np.ndarray:
    k = (window, window)
    total = cv2.boxFilter(values, -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(known.astype(np.float32), -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return np.asarray(total / np.maximum(count, 1))


def threshold(
    values: np.ndarray, window: int, equalise: float, neighbours: int
) -> tuple[np.ndarray, np.ndarray]:
    """(dark, known), n x n bool: a module is dark when below the mean of the samples around it,
    after a share ``equalise`` of its difference to its neighbours is added (the blur's spill).

    ``sim.phone_oracle.threshold_modules`` does the same on purpose and is kept apart: the test
    set's readability oracle must not run the pipeline it judges."""
    known = ~np.isnan(values)
    filled = np.where(known, values, 0).astype(np.float32)
    if equalise:
        kernel = _KERNELS[neighbours]
        count = cv2.filter2D(known.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
        around = cv2.filter2D(filled, -1, kernel, borderType=cv2.BORDER_CONSTANT) / np.maximum(count, 1)
        filled = np.where(known, filled + equalise * (filled - around), 0).astype(np.float32)
    return known & (filled < _local_mean(filled, known, window)), known


def draw(dark: np.ndarray, version: int) -> np.ndarray:
    """The module matrix as a crisp upright code, its function patterns as they must be."""
    known, fixed = function_modules(version)
    modules = np.where(known, fixed, dark)
    img = np.where(np.pad(modules, QUIET), 0, 255).astype(np.uint8)
    return cv2.resize(img, None, fx=PX, fy=PX, interpolation=cv2.INTER_NEAREST)


def clean_codes(gray: np.ndarray, grid: Grid, sign: float) -> list[np.ndarray]:
    """The redraws worth a read: each thresholding setting, in the polarity the fit found.

    Modules outside the picture are drawn light (error correction restores them)."""
    values = sample(gray, grid.module_centres())
    if sign < 0:
        values = -values
    out = []
    for window, equalise, neighbours in SETTINGS:
        dark, _ = threshold(values, window, equalise, neighbours)
        out.append(draw(dark, grid.version))
    return out

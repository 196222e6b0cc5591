"""The hard pass's last try for a small code: find its grid, sample its modules, redraw it clean.

    for name, image in grid_views(gray, boxes, deadline=time.thread_time() + 0.15):
        decoder.read(image)

At 1.9-2.5 camera pixels per module a blurred code still holds its information (a module's
centre is darker or lighter than its neighbours), but a decoder must find the grid from finder
patterns of 13-18 px, and zxing-cpp misses it by a third of a module at the far corner. Here the
finder patterns in a crop around the code are found by correlating finder templates (a few sizes,
upright and at 45 degrees; a light-on-dark finder correlates negatively: both polarities in one
pass), and every triple of them making a right angle with two about equal sides gives first grids
(one per version its spacing allows), scored against what a symbol of that version must hold
(``grid.pattern_score``). The best few are fitted to the whole symbol (``grid.refine``), each
module is sampled at its centre and thresholded locally, and the clean redraws
(``grid.clean_codes``) go to the decoder, whose error correction decides: a wrong grid gives no
text, not a wrong one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from itertools import permutations

import cv2
import numpy as np

from drivers.camera import grid as qr

Box = tuple[int, int, int, int]
Finder = tuple[float, float, float]  # centre x, y (crop px), module size (px)

MAX_CROP = 400  # frame pixels a side: a small code is 120-200 px
MAX_MODULE_PX = 3.2  # codes of larger modules are left to the rest of the hard pass
SCALES = (1.9, 2.35, 2.85)  # module sizes (px) of the finder templates
ANGLES = (0.0, 45.0)  # in-plane rotations of the templates
MIN_MATCH = 0.45  # normalised correlation of a finder found
EDGE = 12  # pixels of border added before matching: a cut code's finder may touch the edge
MAX_FINDERS = 6  # per polarity, best first
MAX_TRIPLES = 12
MAX_VERSIONS = 5
SHORTLIST, REFINED = 4, 2  # grids refined coarsely, then finely, per crop
COARSE, FINE = (1.0, 0.5), (0.25, 0.12, 0.06)  # refinement steps, modules
MIN_SCORE = 0.4  # a refined grid that agrees less with the function patterns is not a code


@functools.lru_cache(maxsize=32)
def _template(module_px: float, angle: float) -> np.ndarray:
    """A finder pattern and its light separator, ``module_px`` a module, rotated, slightly blurred."""
    pattern = np.ones((9, 9), np.float32)  # light
    pattern[1:8, 1:8] = 0
    pattern[2:7, 2:7] = 1
    pattern[3:6, 3:6] = 0
    size = int(np.ceil(9 * module_px * 1.15)) | 1
    big = cv2.resize(pattern, (90, 90), interpolation=cv2.INTER_NEAREST)
    scale = 9 * module_px / 90
    m = cv2.getRotationMatrix2D((45.0, 45.0), angle, scale)
    m[:, 2] += size / 2 - 45.0
    out = cv2.warpAffine(big, m, (size, size), flags=cv2.INTER_AREA, borderValue=1.0)
    return cv2.GaussianBlur(out, (0, 0), 0.6)


def find_finders(roi: np.ndarray) -> tuple[list[Finder], list[Finder]]:
    """Finder-pattern centres in ``roi`` (its own pixels), best first, (dark on light, light on
    dark): peaks of the normalised correlation with finder templates of a few sizes and rotations."""
    # a finder of a code cut by the frame's edge may touch it: room for the template to sample past
    img = cv2.copyMakeBorder(roi, EDGE, EDGE, EDGE, EDGE, cv2.BORDER_REPLICATE).astype(np.float32)
    shape = img.shape
    best = [np.full(shape, -1.0, np.float32), np.full(shape, -1.0, np.float32)]
    size = [np.zeros(shape, np.float32), np.zeros(shape, np.float32)]
    for module in SCALES:
        for angle in ANGLES:
            t = _template(module, angle)
            if t.shape[0] >= min(shape):
                continue
            r = cv2.matchTemplate(img, t, cv2.TM_CCOEFF_NORMED)
            pad = t.shape[0] // 2
            r = cv2.copyMakeBorder(r, pad, shape[0] - r.shape[0] - pad, pad, shape[1] - r.shape[1] - pad,
                                   cv2.BORDER_CONSTANT, value=0.0)  # fmt: skip
            for k, resp in enumerate((r, -r)):  # a light-on-dark finder correlates negatively
                better = resp > best[k]
                best[k][better] = resp[better]
                size[k][better] = module
    return _peaks(best[0], size[0]), _peaks(best[1], size[1])


def _peaks(best: np.ndarray, size: np.ndarray) -> list[Finder]:
    peaks = (best >= MIN_MATCH) & (best >= cv2.dilate(best, np.ones((9, 9), np.uint8)))
    ys, xs = np.nonzero(peaks)
    out: list[Finder] = []
    for k in np.argsort(-best[ys, xs]):
        x, y = int(xs[k]), int(ys[k])
        f = (x + _offset(best, x, y, 1) - EDGE, y + _offset(best, x, y, 0) - EDGE, float(size[y, x]))
        if all(np.hypot(f[0] - g[0], f[1] - g[1]) > 4 * f[2] for g in out):
            out.append(f)
        if len(out) >= MAX_FINDERS:
            break
    return out


def _offset(r: np.ndarray, x: int, y: int, axis: int) -> float:
    """Sub-pixel peak position along one axis: the vertex of the parabola through three values."""
    if axis == 1:
        if not 0 < x < r.shape[1] - 1:
            return 0.0
        a, b, c = r[y, x - 1], r[y, x], r[y, x + 1]
    else:
        if not 0 < y < r.shape[0] - 1:
            return 0.0
        a, b, c = r[y - 1, x], r[y, x], r[y + 1, x]
    d = float(a - 2 * b + c)
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5)) if d < 0 else 0.0


def triples(finders: list[Finder]) -> list[tuple[Finder, Finder, Finder]]:
    """(top-left, top-right, bottom-left) triples: a right-ish angle at the first, equal-ish sides."""
    out: list[tuple[float, tuple[Finder, Finder, Finder]]] = []
    for a, b, c in permutations(finders, 3):
        ab = np.array(b[:2]) - np.array(a[:2])
        ac = np.array(c[:2]) - np.array(a[:2])
        la, lc = float(np.hypot(*ab)), float(np.hypot(*ac))
        if min(la, lc) < 10 * a[2] or max(la, lc) > 1.6 * min(la, lc):
            continue
        sizes = (a[2], b[2], c[2])
        if max(sizes) > 1.8 * min(sizes):
            continue
        cross = float(ab[0] * ac[1] - ab[1] * ac[0]) / (la * lc)  # sin of the angle, y down
        if cross < 0.6:  # also fixes the order: b is clockwise of c
            continue
        out.append((abs(la / lc - 1) + (1 - cross), (a, b, c)))
    out.sort(key=lambda q: q[0])
    return [t for _, t in out[:MAX_TRIPLES]]


def versions(tri: tuple[Finder, Finder, Finder]) -> list[int]:
    """The versions the finders' spacing allows (modules 0.8-1.25x the template's), likeliest first."""
    a, b, c = tri
    module = float(np.mean([f[2] for f in tri]))
    spacing = (np.hypot(b[0] - a[0], b[1] - a[1]) + np.hypot(c[0] - a[0], c[1] - a[1])) / 2
    guess = (spacing / module + 7 - 17) / 4
    lo = int(np.floor((spacing / (1.25 * module) - 10) / 4))
    hi = int(np.ceil((spacing / (0.8 * module) - 10) / 4))
    allowed = [v for v in range(max(lo, 1), min(hi, 40) + 1)]
    return sorted(allowed, key=lambda v: abs(v - guess))[:MAX_VERSIONS]


def initial_grid(tri: tuple[Finder, Finder, Finder], version: int) -> qr.Grid:
    n = qr.side(version)
    module_pts = [(3.5, 3.5), (n - 3.5, 3.5), (3.5, n - 3.5)]
    frame_pts = [f[:2] for f in tri]
    return qr.Grid(version, qr.affine_corners(np.array(module_pts), np.array(frame_pts), version))


def crops(gray: np.ndarray, boxes: list[Box]) -> list[Box]:
    """Each box grown by a margin (the dense cells may miss the code's border), in the frame;
    boxes larger than a small code are left out."""
    fh, fw = gray.shape[:2]
    out: list[Box] = []
    for x, y, w, h in boxes:
        m = min(max(24, max(w, h) // 4), (MAX_CROP - max(w, h)) // 2)
        if m < 16:
            continue
        x0, y0 = min(max(0, x - m), fw), min(max(0, y - m), fh)
        x1, y1 = max(min(fw, x + w + m), 0), max(min(fh, y + h + m), 0)
        if 0 < x1 - x0 <= MAX_CROP and 0 < y1 - y0 <= MAX_CROP:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def fits(roi: np.ndarray, deadline: float) -> list[tuple[qr.Grid, float]]:
    """(grid, sign) of the likeliest codes in ``roi``, refined, best first (sign -1: dark mode).

    Every triple of finders and version its spacing allows is scored unrefined (a tenth of a
    millisecond each); only the best few get the refinement (10-30 ms each)."""
    fitted = cv2.GaussianBlur(roi.astype(np.float32), (0, 0), 0.7)
    first: list[tuple[float, qr.Grid, float, float]] = []
    for sign, finders in zip((1.0, -1.0), find_finders(roi), strict=True):
        for tri in triples(finders):
            module = float(np.mean([f[2] for f in tri]))
            for version in versions(tri):
                g = initial_grid(tri, version)
                first.append((qr.pattern_score(fitted, g, sign), g, sign, module))
    first.sort(key=lambda c: -c[0])
    coarse = [(qr.refine(fitted, g, sign, m, COARSE), sign, m) for _, g, sign, m in first[:SHORTLIST]]
    coarse.sort(key=lambda c: -c[0].score)
    out: list[tuple[qr.Grid, float]] = []
    for g, sign, module in coarse[:REFINED]:
        if time.thread_time() > deadline:
            break
        fit = qr.refine(fitted, g, sign, module, FINE)
        if fit.score >= MIN_SCORE:
            out.append((fit, sign))
    out.sort(key=lambda c: -c[0].score)
    return out


def grid_views(gray: np.ndarray, boxes: list[Box], *, deadline: float) -> Iterator[tuple[str, np.ndarray]]:
    """Clean redraws of the codes fitted in ``boxes``, best fit first, until ``deadline`` (thread time)."""
    for x, y, w, h in crops(gray, boxes)[:2]:
        roi = gray[y : y + h, x : x + w]
        for fit, sign in fits(roi, deadline):
            for k, image in enumerate(qr.clean_codes(roi.astype(np.float32), fit, sign)):
                yield f"grid{'_dark' if sign < 0 else ''}_v{fit.version}_{k}", image
                if time.thread_time() > deadline:
                    return

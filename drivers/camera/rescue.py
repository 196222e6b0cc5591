"""What the hard pass adds for codes customers really hold up: dark mode, cut by the edge, far away.

Used by ``decoders.FrameDecoder`` only after the cheap pass read nothing, so none of it costs an
empty frame more than ``code_like_regions`` (about 0.2 ms, on the binarisation the finder check
already made, and only when neither the decoder nor the finder check saw anything):

- **small codes** (1.9-2.5 camera pixels per module): their finder patterns vanish at the finder
  check's half size, but the code still shows there as a compact block of cells about half dark;
  the region is then upscaled 2-3x before decoding (zxing-cpp needs about 3 pixels per module);
- **dark mode** (light modules on a dark screen): a finder pattern whose core is lighter than its
  ring says so, and the region is inverted; zxing-cpp's own ``try_invert`` would double the
  cost of every empty frame;
- **cut by the edge**: when the code's expected extent runs past the frame, the region is padded
  with its quiet-zone colour so the decoder can sample the lost modules as light ones and let the
  error correction restore them.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from drivers.camera.variants import sharpen

Box = tuple[int, int, int, int]
Pads = tuple[int, int, int, int]  # left, top, right, bottom

CELL = 8  # pixels of the half-size binarisation per density cell (16 frame pixels)
MIN_CELLS, MAX_CELLS = 6, 28  # a code of 57-77 modules at 1.9-2.6 px spans 7-13 cells, more with moire
MAX_WHOLE_UPSCALE = 1280 * 720
MIN_SPREAD = 32.0  # grey-level standard deviation of a texture block that may be a code
GLOBAL = "_global"  # a view name's suffix: read it again with one threshold for the whole view
EDGE_PAD = 24  # frame pixels of quiet zone added where a small code's crop meets the frame's edge


def code_like_regions(gray: np.ndarray, bw: np.ndarray, scale: float) -> list[Box]:
    """Boxes (frame pixels) of compact blocks where the binarisation is 25-75% dark, cell by cell.

    ``bw`` is the finder check's adaptive binarisation (dark = 255) of ``gray`` at ``scale``. Flat
    areas come out white and shapes as thin outlines, so only fine two-dimensional texture (a code
    too small for its finders to survive the halving, or dense print) fills a cell half way. In a
    dim, noisy frame the noise fills every cell: the binarisation is made again, smoothed and
    with a higher threshold offset (only then: it costs another 0.3 ms).
    """
    h, w = bw.shape[:2]
    if h < CELL * MIN_CELLS or w < CELL * MIN_CELLS:
        return []
    dense = _dense_cells(bw)
    if cv2.countNonZero(dense) > 0.3 * dense.size:
        small = cv2.GaussianBlur(cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA), (0, 0), 0.7)
        bw = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 7, 8)
        dense = _dense_cells(bw)
    if not cv2.countNonZero(dense):  # most frames without a code: no labelling to pay for
        return []
    n, _, stats, _ = cv2.connectedComponentsWithStats(dense, connectivity=8)
    x, y, bw_, bh, area = stats[1:n].T
    lo, hi = np.minimum(bw_, bh), np.maximum(bw_, bh)
    # 6-28 cells a side, at most 2:1, and a tilted code's block fills about half its box
    keep = (lo >= MIN_CELLS) & (hi <= MAX_CELLS) & (hi <= 2 * lo) & (area >= 0.35 * bw_ * bh)
    s = CELL / scale
    out: list[Box] = []
    for i in np.flatnonzero(keep):  # vectorised above: an empty frame loops over none
        box = (int(x[i] * s), int(y[i] * s), int((bw_[i] + 1) * s), int((bh[i] + 1) * s))
        bx, by, bw2, bh2 = box
        # a code is two-tone: grey levels spread by 40-75 on the phone set, where sensor noise on
        # a flat patch or dense texture of one tone spread by 5-25 (the bench's empty scenes)
        if float(cv2.meanStdDev(gray[by : by + bh2 : 2, bx : bx + bw2 : 2])[1][0][0]) >= MIN_SPREAD:
            out.append(box)
    return out


def _dense_cells(bw: np.ndarray) -> np.ndarray:
    h, w = bw.shape[:2]
    share = cv2.resize(bw, (w // CELL, h // CELL), interpolation=cv2.INTER_AREA)
    dense = cv2.inRange(share, 64, 191)
    return cv2.erode(dense, np.ones((2, 2), np.uint8))  # a lone cell of text is not a code


def small_views(
    gray: np.ndarray, regions: list[Box], *, normal_seen: bool
) -> Iterator[tuple[str, np.ndarray]]:
    """Tight crops around the two largest texture regions, upscaled 2-3x, in both polarities.

    zxing-cpp reporting an unread symbol means a normal-polarity code is there; otherwise an
    inverted one is the likelier (the cheap pass would have seen a normal one's finders).
    """
    fh, fw = gray.shape[:2]
    for x, y, w, h in sorted(regions, key=lambda b: -b[2] * b[3])[:2]:
        m = max(w, h) // 2 + 8  # the dense cells may cover only the code's middle
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(fw, x + w + m), min(fh, y + h + m)
        roi = gray[y0:y1, x0:x1]
        pads = tuple(EDGE_PAD if edge else 0 for edge in (x0 == 0, y0 == 0, x1 == fw, y1 == fh))
        for inverted in (False, True) if normal_seen else (True, False):
            view = prepare(roi, inverted, pads)  # type: ignore[arg-type]
            name = "small_inverted" if inverted else "small"
            up2, up3 = upscale(view, 2.0), upscale(view, 3.0)
            up2s, up3s = sharpen(up2, 1.5, 1.5), sharpen(up3, 2.0, 1.5)
            yield f"{name}_up2", up2
            yield f"{name}_up2{GLOBAL}", up2
            yield f"{name}_up2_sharpen", up2s
            yield f"{name}_up2_sharpen{GLOBAL}", up2s
            yield f"{name}_up3", up3
            yield f"{name}_up3_sharpen", up3s
            yield f"{name}_up3_sharpen{GLOBAL}", up3s


def whole_frame_views(gray: np.ndarray, *, dark: bool, small: bool) -> Iterator[tuple[str, np.ndarray]]:
    """The last tries: the whole frame as the cheap pass never saw it.

    Padded all round (a cut code whose finders misled the crop), inverted for a dark-mode code,
    and upscaled 2x when the code looks small (30 ms on 1280x720: only within the budget).
    """
    view = prepare(gray, dark, (EDGE_PAD,) * 4)
    yield "whole_padded", view
    yield f"whole_padded{GLOBAL}", view
    if small and gray.size <= MAX_WHOLE_UPSCALE:
        yield "whole_up2", upscale(view, 2.0)


def light_finders(gray: np.ndarray, finders: list[Box]) -> bool:
    """Whether most finder patterns have a core lighter than their mean: a dark-mode code."""
    votes = 0
    for x, y, w, h in finders:
        if w < 7 or h < 7:
            continue
        box = gray[y : y + h, x : x + w]
        core = box[3 * h // 7 : 4 * h // 7 + 1, 3 * w // 7 : 4 * w // 7 + 1]
        # a finder is 33 of 49 modules dark around a dark core: the core is darker than the mean,
        # whatever the rotation; in dark mode it is lighter
        votes += 1 if float(core.mean()) > float(box.mean()) else -1
    return votes > 0


def quiet_colour(roi: np.ndarray) -> int:
    """The light level of a region (its 90th percentile, on every 4th pixel: cheap and enough).

    ``np.partition``, not ``np.percentile``: the latter's first call in a process costs about
    50 ms (a lazy import), which the first hard pass of a camera's life would pay from its budget.
    """
    sample = roi[::4, ::4].ravel()
    if not sample.size:
        return 255
    k = int(0.9 * (sample.size - 1))
    return int(np.partition(sample, k)[k])


def prepare(roi: np.ndarray, dark: bool, pads: Pads) -> np.ndarray:
    """The region as the decoder wants it: dark modules dark, and room to sample past the frame."""
    if dark:
        roi = cv2.bitwise_not(roi)
    if any(pads):
        left, top, right, bottom = pads
        roi = cv2.copyMakeBorder(roi, top, bottom, left, right, cv2.BORDER_CONSTANT, value=quiet_colour(roi))
    return roi


def overhang(span: tuple[float, float, float, float], shape: tuple[int, ...], module_px: float) -> Pads:
    """How far a code's expected extent runs past each frame edge, plus a quiet zone of 6 modules.

    The extent comes from the finders as a parallelogram; perspective stretches the far corner
    beyond it, so a code ending within 6 modules of an edge is padded there too.
    """
    h, w = shape[:2]
    x0, y0, x1, y1 = span
    quiet = 6 * module_px
    over = (-x0, -y0, x1 - w, y1 - h)
    return tuple(int(max(o, 0) + quiet) if o > -quiet else 0 for o in over)  # type: ignore[return-value]


def edge_pads(box: Box, pads: Pads, shape: tuple[int, ...], quiet: int) -> Pads:
    """Padding for a crop: on each side where it meets the frame's edge, at least a quiet zone.

    A code seen reaching the edge knows its overhang (``pads``); one with fewer than three finders
    does not, and a quiet zone there costs nothing when the code was not cut.
    """
    x, y, w, h = box
    at_edge = (x <= 0, y <= 0, x + w >= shape[1], y + h >= shape[0])
    return tuple(max(p, quiet) if edge else 0 for p, edge in zip(pads, at_edge, strict=True))  # type: ignore[return-value]


def upscale(g: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(g, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)

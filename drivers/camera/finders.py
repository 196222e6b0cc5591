"""The cheap finder-pattern check that decides whether a frame gets the hard pass, and where.

Under a millisecond on a 1280x720 frame: the price every frame the cheap pass reads nothing in
pays (``decoders.FrameDecoder``), so it stays a single contour pass on a half-size binarisation.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels

FINDER_SCALE = 0.5
_FINDER_BLOCK, _FINDER_C = 7, 3


def finder_patterns(gray: np.ndarray) -> list[Box]:
    """The boxes of :func:`finder_scan` alone."""
    return finder_scan(gray)[0]


def finder_scan(gray: np.ndarray) -> tuple[list[Box], np.ndarray]:
    """Boxes (frame pixels) of QR finder-pattern look-alikes: a dark ring, a light ring, a dark core.

    A contour with a grandchild on a half-size adaptive binarisation, area ratios near 49:25:9 and a
    square outline (it fills at least 80% of its rotated bounding box: bullseyes are refused).
    Cheap (under a millisecond on 1280x720) and permissive: it only decides whether the hard pass
    is worth running, and where. The binarisation comes back too, for ``rescue.code_like_regions``.
    """
    h, w = gray.shape[:2]
    small = cv2.resize(
        gray, (max(1, int(w * FINDER_SCALE)), max(1, int(h * FINDER_SCALE))), interpolation=cv2.INTER_AREA
    )
    # adaptiveThreshold(MEAN_C, BINARY_INV) spelled as a box blur and a compare: the same pixels but
    # at the borders, 0.1 ms less per frame, which pays for ``rescue.code_like_regions``
    mean = cv2.blur(small, (_FINDER_BLOCK, _FINDER_BLOCK))
    bw = cv2.compare(small, cv2.subtract(mean, _FINDER_C), cv2.CMP_LE)
    contours, hierarchy = cv2.findContours(bw, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return [], bw
    tree = hierarchy[0]
    max_side = 0.15 * min(small.shape[:2])  # a finder pattern is 7 of a code's 53+ modules
    out: list[Box] = []
    children = tree[:, 2]
    grandchildren = np.where(children >= 0, tree[children, 2], -1)  # index -1 wraps; masked here
    for i in np.flatnonzero(grandchildren >= 0):  # the few contours nested three deep, not all
        contour, child = contours[i], children[i]
        outer = cv2.contourArea(contour)
        if outer < 20:
            continue
        core = cv2.contourArea(contours[tree[child][2]])
        ring = cv2.contourArea(contours[child])
        if core <= 0 or not 2.5 < outer / core < 14 or not 1.2 < outer / max(ring, 1.0) < 4:
            continue
        x, y, bw_, bh = cv2.boundingRect(contour)
        if max(bw_, bh) > 3 * min(bw_, bh) or max(bw_, bh) > max_side:
            continue
        _, (rw, rh), _ = cv2.minAreaRect(contour)
        if outer < 0.8 * rw * rh:  # a ring of a bullseye, not a square one (a disc fills 79%)
            continue
        s = 1 / FINDER_SCALE
        out.append((int(x * s), int(y * s), int(bw_ * s), int(bh * s)))
    return out, bw

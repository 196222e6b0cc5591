"""QR decoders behind one small interface, and the two-pass chain that every camera frame goes through.

    decoder = make_decoder("zxing")           # or "zbar", "opencv"
    chain = FrameDecoder(decoder)
    result = chain.decode(frame)              # BGR or grayscale numpy image
    result.texts                              # every QR text found, in reading order

The **cheap pass** is one decoder call on the grayscale frame at full resolution (zxing-cpp with
rotation, inversion and downscaling tries off: QR detection is rotation-invariant by itself).
Most frames with a code end there. The **hard pass** runs only when the frame looks QR-like: the
decoder saw a symbol it could not read (zxing's error results, OpenCV's corners without text), or
a cheap finder-pattern check (contours nested three deep, 7:5:3, on a half-size adaptive
binarisation, under a millisecond) found candidates, or a block of fine texture stands out there
(``rescue.code_like_regions``: a code too small for its finders to survive the halving). It retries
on a region around the candidates with sharpening, CLAHE, Otsu and adaptive binarisation and
upscaling of small codes, inverted for dark-mode codes and padded for codes cut by the edge
(``rescue``). The promising views are read a second time with one threshold for the whole view
(zxing-cpp's global binarizer, Otsu for the others; stage names ending ``_global``): glare, bloom
and the halos of a sharpened small code defeat the local one. A region that is the whole frame,
or a code that reaches the edge, is padded all round first: perspective stretches a cut code's
far corner past any crop its finders suggest. Last, on its own CPU budget, a small code's grid is
fitted and its modules redrawn clean (``sampler``). A frame with no code so costs one decoder call
plus the finder check; see ``scripts/bench_camera.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from drivers.camera import rescue, sampler
from drivers.camera.finders import FINDER_SCALE, finder_scan
from drivers.camera.variants import GLOBAL_TOO, HARD_VARIANTS

log = logging.getLogger("drivers.camera")

DECODERS = ("zxing", "zbar", "opencv")
Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


@dataclass(frozen=True, slots=True)
class Symbol:
    text: str
    box: Box | None = None


@dataclass(slots=True)
class Seen:
    """What one decoder call saw: readable symbols, and boxes of QR-like ones it could not read."""

    symbols: list[Symbol] = field(default_factory=list)
    unread: list[Box] = field(default_factory=list)


class Decoder(Protocol):
    """One QR decoding library. ``read`` takes an 8-bit grayscale image and never raises."""

    name: str

    def read(self, gray: np.ndarray, global_threshold: bool = False) -> Seen: ...


def _box_of(points: np.ndarray | list[tuple[float, float]]) -> Box:
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


class ZxingDecoder:
    """zxing-cpp, QR only; the fastest and most tolerant of the three (NOTES: 50/50 degraded frames)."""

    name = "zxing"

    def __init__(self) -> None:
        import zxingcpp

        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormat.QRCode
        self._local, self._global = zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram

    def read(self, gray: np.ndarray, global_threshold: bool = False) -> Seen:
        seen = Seen()
        try:
            found = self._zx.read_barcodes(
                gray,
                formats=self._formats,
                try_rotate=False,
                try_invert=False,
                try_downscale=False,
                binarizer=self._global if global_threshold else self._local,
                return_errors=True,
            )
        except Exception as exc:  # noqa: BLE001 - a decoder failure is a frame without a code
            log.warning("zxing-cpp failed on a frame: %s", exc)
            return seen
        for bc in found:
            p = bc.position
            box = _box_of([(q.x, q.y) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)])
            if bc.valid:
                seen.symbols.append(Symbol(bc.text, box))
            else:
                seen.unread.append(box)
        return seen


class ZbarDecoder:
    """pyzbar (libzbar0), QR only. zbar reports nothing about codes it cannot read."""

    name = "zbar"

    def __init__(self) -> None:
        from pyzbar import pyzbar

        self._zbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def read(self, gray: np.ndarray, global_threshold: bool = False) -> Seen:
        seen = Seen()
        if global_threshold:
            gray = otsu(gray)
        try:
            found = self._zbar.decode(np.ascontiguousarray(gray), symbols=self._symbols)
        except Exception as exc:  # noqa: BLE001
            log.warning("zbar failed on a frame: %s", exc)
            return seen
        for d in found:
            box = _box_of([(p.x, p.y) for p in d.polygon]) if d.polygon else None
            seen.symbols.append(Symbol(d.data.decode("utf-8", errors="replace"), box))
        return seen


class OpenCvDecoder:
    """OpenCV's QR detector: ``QRCodeDetectorAruco`` when the build has it, else ``QRCodeDetector``."""

    name = "opencv"

    def __init__(self) -> None:
        factory = getattr(cv2, "QRCodeDetectorAruco", None) or cv2.QRCodeDetector
        self._det = factory()

    def read(self, gray: np.ndarray, global_threshold: bool = False) -> Seen:
        seen = Seen()
        if global_threshold:
            gray = otsu(gray)
        try:
            text, points, _ = self._det.detectAndDecode(gray)
        except cv2.error as exc:
            log.warning("OpenCV QR detector failed on a frame: %s", exc)
            return seen
        if points is None or len(points) == 0:
            return seen
        box = _box_of(points)
        if text:
            seen.symbols.append(Symbol(text, box))
        else:
            seen.unread.append(box)
        return seen


def otsu(gray: np.ndarray) -> np.ndarray:
    """One threshold for the whole image (what zxing-cpp's global binarizer does), for the others."""
    return cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


def make_decoder(name: str) -> Decoder:
    """``zxing`` (default everywhere), ``zbar`` or ``opencv``; ``ValueError`` for anything else."""
    if name == "zxing":
        return ZxingDecoder()
    if name == "zbar":
        return ZbarDecoder()
    if name == "opencv":
        return OpenCvDecoder()
    raise ValueError(f"unknown QR decoder {name!r} (choose from {', '.join(DECODERS)})")


def to_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


# --- the hard pass ---------------------------------------------------------------------------------


GLOBAL = rescue.GLOBAL
SMALL_MODULE_PX = 4.0
SMALL_FINDER_MODULE_PX = 3.0  # upscale only codes whose modules look smaller than this
MAX_UPSCALE_INPUT = 640 * 480


def _grow(box: Box, by: float) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return x - by, y - by, x + w + by, y + h + by


def hard_region(
    unread: list[Box], finders: list[Box], shape: tuple[int, ...]
) -> tuple[Box | None, float, rescue.Pads]:
    """Where the hard pass should look (``None``: the whole frame), the module size, the padding.

    A decoder's unread symbol may be the whole code or only the part it could sample, so it is
    grown by half its size. Three finder patterns are three corners of the code: the fourth is
    where the parallelogram closes. Fewer finders leave the code anywhere within 11 finder widths
    (a finder is 7 of at most 77 modules). The padding is what a code seen reaching the frame's
    edge (three finders, or an unread symbol) needs to be sampled past it (``rescue.overhang``).
    """
    h, w = shape[:2]
    edge: list[tuple[float, float, float, float]] = [(x, y, x + bw, y + bh) for x, y, bw, bh in unread]
    spans: list[tuple[float, float, float, float]] = [_grow(b, 0.5 * max(b[2], b[3]) + 8) for b in unread]
    module_px = SMALL_MODULE_PX
    if finders:
        size = float(np.median([max(b[2], b[3]) for b in finders]))
        module_px = size / 7
        centres = np.array([(x + bw / 2, y + bh / 2) for x, y, bw, bh in finders], np.float32)
        if len(finders) == 3:
            # the corner finder is the one whose neighbours are farthest apart (the right angle)
            d = [np.linalg.norm(centres[(i + 1) % 3] - centres[(i + 2) % 3]) for i in range(3)]
            k = int(np.argmax(d))
            fourth = centres[(k + 1) % 3] + centres[(k + 2) % 3] - centres[k]
            pts = np.vstack([centres, fourth])
            lo, hi = pts.min(0) - 1.5 * size, pts.max(0) + 1.5 * size
            code = (pts.min(0) - size / 2, pts.max(0) + size / 2)  # the finder centres are 3.5 modules in
            edge.append((float(code[0][0]), float(code[0][1]), float(code[1][0]), float(code[1][1])))
        else:
            lo, hi = centres.min(0) - 11 * size, centres.max(0) + 11 * size
        spans.append((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))
    elif unread:
        module_px = float(np.median([max(b[2], b[3]) for b in unread])) / 75
    pads = (0, 0, 0, 0)
    for e in edge:
        pads = tuple(max(a, b) for a, b in zip(pads, rescue.overhang(e, shape, module_px), strict=True))  # type: ignore[assignment]
    if not spans:
        return None, module_px, pads
    x0 = max(0, int(min(s[0] for s in spans)))
    y0 = max(0, int(min(s[1] for s in spans)))
    x1 = min(w, int(max(s[2] for s in spans)))
    y1 = min(h, int(max(s[3] for s in spans)))
    # a side padded, or within 4 modules of the edge (perspective stretches the far corner past
    # the parallelogram): crop to the edge itself, where ``rescue.edge_pads`` adds a quiet zone
    near = 4 * module_px
    x0, y0 = (0 if pads[0] or x0 < near else x0), (0 if pads[1] or y0 < near else y0)
    x1, y1 = (w if pads[2] or x1 > w - near else x1), (h if pads[3] or y1 > h - near else y1)
    if x1 - x0 < 16 or y1 - y0 < 16 or (x1 - x0) * (y1 - y0) > 0.6 * w * h:
        return None, module_px, pads
    return (x0, y0, x1 - x0, y1 - y0), module_px, pads


@dataclass(slots=True)
class FrameResult:
    texts: list[str] = field(default_factory=list)
    stage: str | None = None  # "cheap", "hard:<variant>", or None when nothing was read
    candidate: bool = False  # something QR-like was seen (whether read or not)
    ms: float = 0.0


class FrameDecoder:
    """The decoder chain for one camera: cheap pass, then the hard pass when the frame looks QR-like.

    ``hard="auto"`` runs the hard pass only on QR-like frames; ``"always"`` also on frames where
    nothing QR-like was seen (still images, where time matters less); ``"never"`` skips it.
    ``budget_ms`` and ``grid_budget_ms`` (0: off) cap the thread CPU of its hard pass and ``sampler``.
    """

    def __init__(
        self,
        decoder: Decoder | str = "zxing",
        *,
        hard: str = "auto",
        budget_ms: float = 60.0,
        grid_budget_ms: float = 150.0,
    ) -> None:
        if hard not in ("auto", "always", "never"):
            raise ValueError(f"hard must be auto, always or never, not {hard!r}")
        self.decoder = make_decoder(decoder) if isinstance(decoder, str) else decoder
        self.hard = hard
        self.budget_ms = budget_ms
        self.grid_budget_ms = grid_budget_ms

    @property
    def name(self) -> str:
        return self.decoder.name

    def decode(self, frame: np.ndarray, hard: str | None = None) -> FrameResult:
        """Every QR text in ``frame``; ``hard`` overrides the chain's setting for this frame."""
        start, cpu = time.perf_counter(), time.thread_time()
        result = self._decode(to_gray(frame), cpu, hard or self.hard)
        result.ms = (time.perf_counter() - start) * 1000
        return result

    def _decode(self, gray: np.ndarray, cpu_start: float, hard: str) -> FrameResult:
        seen = self.decoder.read(gray)
        if seen.symbols:
            return FrameResult([s.text for s in seen.symbols], "cheap", True)
        if hard == "never":
            return FrameResult(candidate=bool(seen.unread))
        finders, bw = finder_scan(gray)
        unread = [b for b in seen.unread if b[2] > 0 and b[3] > 0]  # zxing-cpp reports some as (0, 0, 0, 0)
        regions = rescue.code_like_regions(gray, bw, FINDER_SCALE)
        if not finders:  # a small unread symbol with no finder seen: a small code, or part of one
            regions += [b for b in unread if max(b[2], b[3]) < 160]
        candidate = bool(seen.unread or finders or regions)
        if not candidate and hard == "auto":
            return FrameResult()
        tried: set[str] = set()
        for name, image in self._variants(gray, unread, finders, regions):
            if name in tried:  # the padded whole frame, tried early for a cut code, comes again last
                continue
            tried.add(name)
            # a view named ``*_global`` is one already tried, read again with one global threshold
            found = self.decoder.read(image, global_threshold=name.endswith(GLOBAL)).symbols
            if found:
                return FrameResult([s.text for s in found], f"hard:{name}", True)
            if (time.thread_time() - cpu_start) * 1000 > self.budget_ms:
                log.debug("hard pass stopped after %s: over %.0f ms of CPU", name, self.budget_ms)
                break
        for name, image in self._grid_views(gray, unread, finders, regions):
            if found := self.decoder.read(image).symbols:
                return FrameResult([s.text for s in found], f"hard:{name}", True)
        return FrameResult(candidate=candidate)

    def _grid_views(
        self, gray: np.ndarray, unread: list[Box], finders: list[Box], regions: list[Box]
    ) -> Iterator[tuple[str, np.ndarray]]:
        """The last try, for a small code only (``sampler``), on its own CPU budget."""
        finder_px = float(np.median([max(b[2], b[3]) for b in finders])) if finders else 0.0
        fine = 0 < finder_px < 7 * sampler.MAX_MODULE_PX
        box = hard_region(unread, finders, gray.shape)[0] if fine else None
        boxes = ([box] if box else []) + sorted(regions, key=lambda b: -b[2] * b[3])
        if boxes and self.grid_budget_ms > 0:
            deadline = time.thread_time() + self.grid_budget_ms / 1000
            yield from sampler.grid_views(gray, boxes, deadline=deadline)

    def _variants(
        self, gray: np.ndarray, unread: list[Box], finders: list[Box], regions: list[Box]
    ) -> Iterator[tuple[str, np.ndarray]]:
        # two finders or an unread symbol mean modules of 2.7 px or more: their region comes first,
        # unless the finders themselves are of modules under 3 px (a small code whose finders survived)
        finder_px = float(np.median([max(b[2], b[3]) for b in finders])) if finders else 0.0
        fine = 0 < finder_px < 7 * SMALL_FINDER_MODULE_PX
        small_first = bool(regions) and (len(finders) < 2 or fine) and not unread
        if small_first:
            yield from rescue.small_views(gray, regions, normal_seen=bool(unread))
        if unread or finders or not regions:
            yield from self._region_views(gray, unread, finders)
        if regions and not small_first:
            yield from rescue.small_views(gray, regions, normal_seen=bool(unread))
        dark = rescue.light_finders(gray, finders) if finders else bool(regions) and not unread
        yield from rescue.whole_frame_views(gray, dark=dark, small=bool(regions))

    def _region_views(
        self, gray: np.ndarray, unread: list[Box], finders: list[Box]
    ) -> Iterator[tuple[str, np.ndarray]]:
        box, module_px, pads = hard_region(unread, finders, gray.shape)
        dark = rescue.light_finders(gray, finders)
        if box is None:  # the whole frame, padded all round: a code near the edge may be cut by it
            roi, pads = gray, (rescue.EDGE_PAD,) * 4
        else:
            if any(pads):  # a code cut by the edge: perspective often misleads the crop, not the whole
                yield "whole_padded", rescue.prepare(gray, dark, (rescue.EDGE_PAD,) * 4)
            x, y, w, h = box
            roi = gray[y : y + h, x : x + w]
            pads = rescue.edge_pads(box, pads, gray.shape, int(4 * module_px) + 4)
        yield from self._views(rescue.prepare(roi, dark, pads), module_px, dark or any(pads))
        if box is not None:  # the candidates may have misled the crop: the two best on the whole frame
            view = rescue.prepare(gray, dark, (rescue.EDGE_PAD,) * 4)
            for name, fn in HARD_VARIANTS[:2]:
                yield f"full_{name}", fn(view, module_px)

    @staticmethod
    def _views(roi: np.ndarray, module_px: float, new_view: bool) -> Iterator[tuple[str, np.ndarray]]:
        """The variants of one region, inverted or padded if ``new_view``."""
        prefix = "prepared_" if new_view else ""
        # halving averages out noise and moire; on a whole frame it comes first, costing a quarter
        half = module_px >= 4 and min(roi.shape[:2]) >= 64
        whole = roi.size > MAX_UPSCALE_INPUT
        if half and whole:
            yield f"{prefix}half", cv2.resize(roi, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        if new_view:  # inverted or padded: the cheap pass never saw the region this way
            yield f"{prefix}plain", roi
        if half and not whole:
            yield f"{prefix}half", cv2.resize(roi, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        yield f"{prefix}plain{GLOBAL}", roi  # glare or bloom across the code: one threshold for all of it
        if module_px <= SMALL_MODULE_PX and roi.size <= rescue.MAX_WHOLE_UPSCALE:  # small finders, wide crop
            yield f"{prefix}up2", rescue.upscale(roi, 2.0)
        for name, fn in HARD_VARIANTS:
            if name.startswith("upscale") and (module_px > SMALL_MODULE_PX or roi.size > MAX_UPSCALE_INPUT):
                continue
            view = fn(roi, module_px)
            yield f"{prefix}{name}", view
            if name in GLOBAL_TOO:
                yield f"{prefix}{name}{GLOBAL}", view

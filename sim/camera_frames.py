"""Synthetic camera frames for tests and benchmarks: QR codes of OWT1 texts in degraded 1280x720 scenes.

Nothing here is used on a terminal; ``scripts/make_frames`` and the tests call it. Every frame is
drawn from a seeded ``numpy`` generator, so a seed gives the same geometry and degradations (the
token texts come from simulator wallets with fresh keys, so the module patterns differ per run).

Degradations, mixed per frame: perspective and any rotation, small (about 3 px per module) to
large codes, Gaussian or motion blur, sensor noise, uneven light (ramps, vignettes, shadows), a
glare spot, a phone screen with moire banding, low contrast, JPEG quality 70-80. Some frames hold
no code (a cluttered scene only) and some a QR code that is not an OWT presentation (a URL).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import segno

from sim.camera_tokens import OTHER_TEXTS, owt_texts

WIDTH, HEIGHT = 1280, 720
OWT, EMPTY, OTHER = "owt", "empty", "other"


@dataclass
class FrameSpec:
    """What a generated frame holds, for the manifest and the tests."""

    name: str
    kind: str  # owt | empty | other
    text: str | None
    module_px: float = 0.0
    degradations: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=64)
def _qr_matrix(text: str) -> np.ndarray:
    mode = "alphanumeric" if text.startswith("OWT") and text == text.upper() else None
    try:
        qr = segno.make_qr(text, mode=mode, error="m", boost_error=False)
    except (ValueError, segno.DataOverflowError):
        qr = segno.make_qr(text, error="m", boost_error=False)
    return np.pad(np.array(qr.matrix, dtype=np.uint8), 4)


def qr_modules(text: str) -> np.ndarray:
    """The module matrix (1 = dark) with a 4-module quiet zone; alphanumeric mode, EC M if it fits."""
    return _qr_matrix(text).copy()


def render_code(text: str, module_px: int) -> np.ndarray:
    """A clean grayscale code image: 0 dark, 255 light, ``module_px`` pixels per module."""
    mods = qr_modules(text)
    img = np.where(mods == 1, 0, 255).astype(np.uint8)
    return cv2.resize(img, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


def clean_frame(text: str, module_px: int = 6, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """An upright, sharp code in the middle of a light-gray BGR frame."""
    w, h = size
    frame = np.full((h, w, 3), 200, np.uint8)
    code = render_code(text, module_px)
    ch, cw = code.shape
    if ch > h or cw > w:
        raise ValueError(f"a code of {cw}x{ch} px does not fit a {w}x{h} frame")
    y, x = (h - ch) // 2, (w - cw) // 2
    frame[y : y + ch, x : x + cw] = code[:, :, None]
    return frame


def background(rng: np.random.Generator, w: int = WIDTH, h: int = HEIGHT) -> np.ndarray:
    """A cluttered scene: a tinted gradient, boxes, lines, circles and printed text."""
    base = rng.uniform(60, 200, 3)
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-40, 40, 3)
    img = np.clip(np.broadcast_to(base + ramp, (h, w, 3)), 0, 255).astype(np.uint8).copy()
    for _ in range(int(rng.integers(6, 16))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        shape = rng.integers(0, 4)
        if shape == 0:
            x1, y1 = x0 + int(rng.integers(20, 400)), y0 + int(rng.integers(20, 300))
            cv2.rectangle(
                img, (x0, y0), (x1, y1), color, -1 if rng.random() < 0.6 else int(rng.integers(1, 6))
            )
        elif shape == 1:
            cv2.line(
                img,
                (x0, y0),
                (int(rng.integers(0, w)), int(rng.integers(0, h))),
                color,
                int(rng.integers(1, 8)),
            )
        elif shape == 2:
            cv2.circle(img, (x0, y0), int(rng.integers(10, 150)), color, -1 if rng.random() < 0.5 else 3)
        else:
            words = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(4, 14))))
            cv2.putText(img, words, (x0, y0), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.6, 2.5), color, 2)
    return cv2.GaussianBlur(img, (0, 0), 1.2)


def _quad(rng: np.random.Generator, side: float, persp: float, w: int, h: int) -> np.ndarray:
    """The corners of a rotated, perspective-jittered square of ``side`` pixels that fits the frame."""
    for _ in range(50):
        angle = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(angle), np.sin(angle)
        half = side / 2
        pts = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], np.float32)
        pts += rng.uniform(-persp, persp, (4, 2)).astype(np.float32) * side
        pts = pts @ np.array([[c, s], [-s, c]], np.float32)
        span = pts.max(0) - pts.min(0)
        if span[0] < w - 8 and span[1] < h - 8:
            lo = -pts.min(0) + 4
            hi = np.array([w, h], np.float32) - pts.max(0) - 4
            return pts + rng.uniform(lo, hi).astype(np.float32)
    raise ValueError(f"a code of {side:.0f} px does not fit a {w}x{h} frame")


def _light_field(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, str]:
    """A multiplicative light field, drawn at quarter size and scaled up (it is smooth anyway)."""
    q = 4
    yy, xx = np.mgrid[0 : h // q, 0 : w // q].astype(np.float32) * q
    choice = rng.integers(0, 3)
    if choice == 0:  # a ramp across the frame
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * xx / w + np.sin(a) * yy / h + 1) / 2
        lo = rng.uniform(0.25, 0.7)
        field, tag = lo + (1 - lo) * t, "light_ramp"
    elif choice == 1:  # a vignette around a random point
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = np.hypot(xx - cx, yy - cy) / np.hypot(w, h)
        field, tag = np.clip(1.1 - rng.uniform(0.6, 1.0) * r, 0.3, 1.0), "vignette"
    else:  # a shadow edge (a hand, or the phone's own shadow)
        a = rng.uniform(0, 2 * np.pi)
        d = np.cos(a) * (xx - rng.uniform(0.3, 0.7) * w) + np.sin(a) * (yy - rng.uniform(0.3, 0.7) * h)
        field = 1 - rng.uniform(0.4, 0.7) / (1 + np.exp(-d / rng.uniform(2, 40)))
        tag = "shadow"
    return cv2.resize(field.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), tag


def degrade_code_frame(
    rng: np.random.Generator, text: str, *, w: int = WIDTH, h: int = HEIGHT, size_class: str | None = None
) -> tuple[np.ndarray, float, list[str]]:
    """A cluttered BGR scene holding ``text`` as a degraded code; returns (frame, module px, tags)."""
    tags: list[str] = []
    mods = qr_modules(text)
    n = mods.shape[0]
    size_class = size_class or str(rng.choice(["small", "medium", "medium", "large"]))
    module_px = {
        "small": rng.uniform(2.6, 3.4),
        "medium": rng.uniform(3.6, 6.5),
        "large": rng.uniform(6.5, 8.0),
    }[size_class]
    tags.append(size_class)
    side = module_px * n
    persp = rng.uniform(0.0, 0.10)
    if persp > 0.05:
        tags.append("perspective")
    img = background(rng, w, h).astype(np.float32)

    screen = rng.random() < 0.3
    dark, light = (rng.uniform(15, 45), rng.uniform(190, 245)) if screen else (rng.uniform(10, 60), 255.0)
    if rng.random() < 0.2:  # low contrast print (faded thermal paper, grey ink)
        dark, light = rng.uniform(70, 100), rng.uniform(160, 210)
        tags.append("low_contrast")
    scale = 4
    src = cv2.resize(
        np.where(mods == 1, dark, light).astype(np.float32),
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_NEAREST,
    )
    if screen:  # the phone: a dark bezel around the code, screen moire banding
        tags.append("screen")
        bezel = int(1.5 * scale)
        src = cv2.copyMakeBorder(src, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT, value=10.0)
        side *= src.shape[0] / (n * scale)
        if rng.random() < 0.6:
            tags.append("moire")
            yy, xx = np.mgrid[0 : src.shape[0], 0 : src.shape[1]].astype(np.float32)
            a, period = rng.uniform(0, np.pi), rng.uniform(12, 40) * scale
            band = np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period)
            src *= 1 + rng.uniform(0.08, 0.18) * band
    s = src.shape[0]
    dst = _quad(rng, side, persp, w, h)
    # everything local to the code happens in its bounding box (plus a margin for blur and glare)
    x0, y0 = np.maximum(np.floor(dst.min(0)).astype(int) - 24, 0)
    x1, y1 = np.minimum(np.ceil(dst.max(0)).astype(int) + 24, (w, h))
    region = img[y0:y1, x0:x1]
    m = cv2.getPerspectiveTransform(
        np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float32), (dst - (x0, y0)).astype(np.float32)
    )
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(src, m, size, flags=cv2.INTER_AREA, borderValue=0)
    mask = cv2.warpPerspective(np.ones_like(src), m, size, flags=cv2.INTER_LINEAR, borderValue=0)[:, :, None]
    if not screen:  # print on paper takes the scene's light tint
        code = warped[:, :, None] * rng.uniform(0.85, 1.0, 3).astype(np.float32)
    else:
        code = np.repeat(warped[:, :, None], 3, axis=2)
    region += (code - region) * mask

    _light_and_optics(rng, img, dst, side, module_px, (x0, y0, x1, y1), tags)
    return np.clip(img, 0, 255).astype(np.uint8), float(module_px), tags


def _light_and_optics(
    rng: np.random.Generator,
    img: np.ndarray,
    dst: np.ndarray,
    side: float,
    module_px: float,
    box: tuple[int, int, int, int],
    tags: list[str],
) -> None:
    """The scene's light, a glare spot, lens or motion blur and sensor noise, in place on ``img``
    (the random draws in the same order as ever, so seeded sets stay the same frames)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    if rng.random() < 0.7:
        field, tag = _light_field(rng, w, h)
        img *= field[:, :, None]
        tags.append(tag)
    if rng.random() < 0.3:  # a glare spot near the code, saturating
        tags.append("glare")
        cx, cy = dst.mean(0) + rng.uniform(-0.4, 0.4, 2) * side
        sigma = side * rng.uniform(0.05, 0.1)
        gx0, gy0 = max(0, int(cx - 3 * sigma)), max(0, int(cy - 3 * sigma))
        gx1, gy1 = min(w, int(cx + 3 * sigma) + 1), min(h, int(cy + 3 * sigma) + 1)
        if gx1 > gx0 and gy1 > gy0:
            yy, xx = np.mgrid[gy0:gy1, gx0:gx1].astype(np.float32)
            spot = rng.uniform(80, 180) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
            win = img[gy0:gy1, gx0:gx1]
            np.minimum(win + spot[:, :, None], 255, out=win)

    blur = rng.random()
    if blur < 0.45:
        sigma = rng.uniform(0.4, 0.4 * module_px)
        img[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), sigma)
        tags.append("blur")
    elif blur < 0.65:
        length = max(1, int(rng.uniform(0.5, 0.5 * module_px)))  # a streak of 2 * length + 1 <= ~1 module
        k = np.zeros((length * 2 + 1, length * 2 + 1), np.float32)
        a = rng.uniform(0, np.pi)
        cv2.line(
            k,
            (int(length - np.cos(a) * length), int(length - np.sin(a) * length)),
            (int(length + np.cos(a) * length), int(length + np.sin(a) * length)),
            1.0,
            1,
        )
        img[y0:y1, x0:x1] = cv2.filter2D(img[y0:y1, x0:x1], -1, k / k.sum())
        tags.append("motion_blur")
    sigma_n = rng.uniform(2, 8)
    img += _noise(rng, (h, w, 1), sigma_n)  # the same noise on the three channels: cheaper, as good
    if sigma_n > 5:
        tags.append("noise")


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian noise, seeded from ``rng`` but drawn by OpenCV (ten times faster than numpy's)."""
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    out = np.empty(shape, np.float32)
    cv2.randn(out, 0.0, float(sigma))
    return out


def jpeg(frame: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def generate(
    n: int, seed: int = 0, *, texts: Sequence[str] | None = None, empty: float = 0.1, other: float = 0.1
) -> Iterator[tuple[FrameSpec, bytes]]:
    """``n`` degraded frames as (spec, JPEG bytes at quality 70-80); ``empty``/``other`` are shares."""
    rng = np.random.default_rng(seed)
    n_empty, n_other = round(n * empty), round(n * other)
    kinds = [EMPTY] * n_empty + [OTHER] * n_other + [OWT] * (n - n_empty - n_other)
    rng.shuffle(kinds)
    owt = list(texts) if texts else owt_texts(min(n, 16))
    for i, kind in enumerate(kinds):
        name = f"frame_{i:04d}.jpg"
        if kind == EMPTY:
            frame, spec = background(rng), FrameSpec(name, EMPTY, None)
        else:
            text = owt[i % len(owt)] if kind == OWT else OTHER_TEXTS[i % len(OTHER_TEXTS)]
            frame, module_px, tags = degrade_code_frame(rng, text)
            spec = FrameSpec(name, kind, text, round(module_px, 2), tags)
        yield spec, jpeg(frame, int(rng.integers(70, 81)))


def write_set(out: Path, n: int, seed: int = 0, *, texts: Sequence[str] | None = None) -> list[FrameSpec]:
    """Write ``n`` frames and ``manifest.json`` into ``out``; return the specs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = []
    for spec, data in generate(n, seed, texts=texts):
        (out / spec.name).write_bytes(data)
        specs.append(spec)
    (out / "manifest.json").write_text(json.dumps([asdict(s) for s in specs], indent=1))
    return specs


def moving_code_frames(
    texts: Sequence[str | None],
    seed: int = 0,
    *,
    frames_per_text: int = 12,
    size: tuple[int, int] = (640, 480),
    module_px: float = 4.0,
) -> Iterator[np.ndarray]:
    """BGR frames of codes sliding across a scene; a ``None`` text is a stretch of empty frames."""
    rng = np.random.default_rng(seed)
    w, h = size
    scene = background(rng, w, h)
    for text in texts:
        if text is None:
            for _ in range(frames_per_text):
                yield np.clip(scene + _noise(rng, scene.shape, 3), 0, 255).astype(np.uint8)
            continue
        code = cv2.cvtColor(render_code(text, 4), cv2.COLOR_GRAY2BGR)
        s = code.shape[0]
        side = module_px * s / 4
        start = np.array([side / 2 + 10, h / 2], np.float32)
        end = np.array([w - side / 2 - 10, h / 2], np.float32)
        for k in range(frames_per_text):
            t = k / max(1, frames_per_text - 1)
            centre = start + (end - start) * t + np.array([0, 20 * np.sin(6 * t)], np.float32)
            angle = np.deg2rad(-10 + 20 * t)
            c, si = np.cos(angle), np.sin(angle)
            half = side / 2
            corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], np.float32)
            dst = corners @ np.array([[c, si], [-si, c]], np.float32) + centre
            m = cv2.getPerspectiveTransform(np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float32), dst)
            frame = cv2.warpPerspective(
                code, m, (w, h), dst=scene.copy(), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT
            )
            kx = int(rng.integers(1, 3)) * 2 + 1  # a little motion blur along the slide
            frame = cv2.blur(frame, (kx, 1))
            yield np.clip(frame + _noise(rng, frame.shape, 3), 0, 255).astype(np.uint8)


def write_video(
    path: Path, texts: Sequence[str | None], seed: int = 0, *, fps: float = 15.0, **kw: Any
) -> Path:
    """Record :func:`moving_code_frames` with ``cv2.VideoWriter`` (MJPG in .avi, else mp4v in .mp4)."""
    path = Path(path)
    frames = list(moving_code_frames(texts, seed, **kw))
    h, w = frames[0].shape[:2]
    for suffix, fourcc in ((".avi", "MJPG"), (".mp4", "mp4v")):
        target = path.with_suffix(suffix)
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
        if not writer.isOpened():
            continue
        for frame in frames:
            writer.write(frame)
        writer.release()
        if target.exists() and target.stat().st_size > 0:
            return target
    raise RuntimeError("this OpenCV build can write neither MJPG/.avi nor mp4v/.mp4")

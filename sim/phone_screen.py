"""A customer's phone held up to the terminal camera: the scene for the hard test set (tests and bench).

Nothing here runs on a terminal. A wallet app's screen (status bar, the QR code, two lines of text;
light or dark mode) inside a phone with a bezel, held by a hand, tilted in 3D in front of a
cluttered room, is drawn in linear light and handed to ``sim.camera_sensor`` (Bayer mosaic, noise, ISP,
JPEG). ``sim.phone_frames`` draws whole seeded sets and checks that every frame is readable at all.

The degradations a frame combines (2-4 of them, see ``sim.phone_frames``) are the ``KINDS``:

- ``perspective``: the phone tilted 20-40 degrees (otherwise up to 12);
- ``moire``: the screen's pixel grid point-sampled by the sensor near its own pitch;
- ``low_light``: a dim room, analog gain 6-14 (shot and read noise);
- ``bloom``: the screen (always 2-10x as bright as the room) metered to burn 1.8-3x over full
  scale, its light bleeding into the dark modules (otherwise metering keeps it near full scale);
- ``glare``: a window's reflection, a soft band across the screen;
- ``motion_blur`` / ``defocus``: a streak of 0.4-0.8 module, a disc of 0.3-0.45 module radius;
- ``small``: 1.9-2.5 camera pixels per module (a phone held far away, a wide-angle camera);
- ``cut_edge``: the corner without a finder pattern outside the picture, finders all inside;
- ``dark_mode``: light modules on a dark screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from sim.camera_frames import background, qr_modules

WIDTH, HEIGHT = 1280, 720
KINDS = (
    "perspective", "moire", "low_light", "bloom", "glare", "motion_blur", "defocus", "small", "cut_edge",
    "dark_mode",
)  # fmt: skip
SRC_MOD = 6  # canvas pixels per module: the screen is drawn this fine, then projected
FOCAL_PX = 1000.0
FINDER = 7  # modules


@dataclass
class Shot:
    """One drawn frame: the JPEG, and what it holds (for the manifest, tests and the readability check)."""

    text: str
    kinds: list[str]
    jpeg: bytes
    module_px: float  # the shortest projected module side, camera pixels
    tilt_deg: float
    cut_modules: float = 0.0  # how far the free corner reaches past the frame edge
    lost_modules: int = 0  # modules whose centre falls outside the picture
    lost: np.ndarray | None = field(default=None, repr=False)  # n x n, True where a module is lost
    centres: np.ndarray | None = field(default=None, repr=False)  # (n*n, 2): module centres, camera px
    redraws: int = 0  # draws of this frame the oracle (sim.phone_oracle) found unreadable, replaced


@dataclass
class Phone:
    """A phone in a hand on a transparent canvas (pixels of ``SRC_MOD`` per module)."""

    emit: np.ndarray  # canvas-sized float32, the screen's emission 0..1 (0 off the screen)
    albedo: np.ndarray  # canvas-sized BGR float32: bezel, hand, the screen's own reflectance
    alpha: np.ndarray  # canvas-sized float32: 1 where the phone or the hand is
    glare_bed: np.ndarray  # canvas-sized float32: 1 on the screen (where a reflection can fall)
    origin: tuple[float, float]  # the symbol's top-left corner (without quiet zone), canvas px
    n: int  # modules per side


def _rounded_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, r: int, value: object) -> None:
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), value, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), value, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, (cx, cy), r, value, -1)


def _text(img: np.ndarray, line: str, org: tuple[int, int], scale: float, value: float) -> None:
    mask = np.zeros(img.shape[:2], np.uint8)  # OpenCV 5 draws text on 8-bit images only
    cv2.putText(mask, line, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, max(1, int(scale * 2)))
    img[mask > 0] = value


def _draw_screen(text: str, dark: bool, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int], int]:
    """The wallet app's screen (emission 0..1), the symbol's top-left on it, modules per side."""
    mods = qr_modules(text)[4:-4, 4:-4]
    n = mods.shape[0]
    quiet = int(rng.integers(2, 5))  # apps draw 2-4 modules; the screen's background continues it
    code_px = (n + 2 * quiet) * SRC_MOD
    sw = int(code_px / rng.uniform(0.72, 0.9))
    sh = int(sw * rng.uniform(2.0, 2.2))
    # in dark mode the code's "dark" modules are drawn light on a dark screen: decoders must invert
    bg, ink, mod = (0.04, 0.85, rng.uniform(0.8, 1.0)) if dark else (0.97, 0.05, 0.02)
    screen = np.full((sh, sw), bg, np.float32)
    bar = int(0.045 * sh)
    screen[:bar] = bg * 0.9 if dark else 0.9
    _text(screen, "9:41", (int(0.06 * sw), int(0.75 * bar)), bar / 40, ink)
    cv2.rectangle(screen, (int(0.85 * sw), bar // 3), (int(0.93 * sw), 2 * bar // 3), ink, -1)  # battery
    ox, oy = (sw - n * SRC_MOD) // 2, int(sh * rng.uniform(0.26, 0.38))
    symbol = np.where(mods == 1, mod, bg).astype(np.float32)
    screen[oy : oy + n * SRC_MOD, ox : ox + n * SRC_MOD] = cv2.resize(
        symbol, (n * SRC_MOD, n * SRC_MOD), interpolation=cv2.INTER_NEAREST
    )
    y = oy + n * SRC_MOD + 4 * quiet * SRC_MOD
    for line in ("Pay with OWT", "EUR 12.50"):
        _text(screen, line, (int(0.12 * sw), y), sw / 500, ink)
        y += int(sw / 10)
    return screen, (ox, oy), n


def draw_phone(text: str, dark: bool, rng: np.random.Generator) -> Phone:
    """The screen in a phone body, the hand around it, on a transparent canvas."""
    screen, (sx, sy), n = _draw_screen(text, dark, rng)
    sh, sw = screen.shape
    side, top = int(0.04 * sw), int(0.07 * sw)
    pw, ph = sw + 2 * side, sh + 2 * top
    mx, mt, mb = int(0.35 * pw), int(0.05 * ph), int(0.45 * ph)
    ch, cw = ph + mt + mb, pw + 2 * mx
    albedo = np.zeros((ch, cw, 3), np.float32)
    alpha = np.zeros((ch, cw), np.float32)
    skin = tuple(float(v) for v in np.array([0.32, 0.42, 0.62]) * rng.uniform(0.7, 1.2))
    # the palm below the phone, fingers over one long edge, the thumb over the other
    palm = (cw // 2 + int(rng.uniform(-0.1, 0.1) * pw), mt + ph)
    for img, val in ((albedo, skin), (alpha, 1.0)):
        cv2.ellipse(img, palm, (int(0.6 * pw), int(0.3 * ph)), 0, 0, 360, val, -1)
    body = rng.uniform(0.02, 0.08)
    _rounded_rect(albedo, mx, mt, mx + pw, mt + ph, int(0.08 * pw), (body, body, body))
    _rounded_rect(alpha, mx, mt, mx + pw, mt + ph, int(0.08 * pw), 1.0)
    left = rng.random() < 0.5
    for k in range(3):  # fingers: they may overlap the bezel, never the code
        fy = mt + int(ph * (0.55 + 0.1 * k))
        fx = mx + (pw if left else 0)
        for img, val in ((albedo, skin), (alpha, 1.0)):
            cv2.ellipse(img, (fx, fy), (int(0.055 * pw), int(0.03 * ph)), 0, 0, 360, val, -1)
    tx = mx + (0 if left else pw)
    for img, val in ((albedo, skin), (alpha, 1.0)):
        cv2.ellipse(img, (tx, mt + int(0.88 * ph)), (int(0.07 * pw), int(0.06 * ph)), 30, 0, 360, val, -1)
    emit = np.zeros((ch, cw), np.float32)
    bed = np.zeros((ch, cw), np.float32)
    x0, y0 = mx + side, mt + top
    covered = albedo[y0 : y0 + sh, x0 : x0 + sw, 2] > body + 0.05  # a finger over the screen's edge
    emit[y0 : y0 + sh, x0 : x0 + sw] = np.where(covered, 0, screen)
    bed[y0 : y0 + sh, x0 : x0 + sw] = np.where(covered, 0, 1)
    albedo[y0 : y0 + sh, x0 : x0 + sw] = np.where(
        covered[:, :, None], albedo[y0 : y0 + sh, x0 : x0 + sw], 0.04
    )
    return Phone(emit, albedo, alpha, bed, (x0 + sx, y0 + sy), n)


def homography(
    tilt_deg: float, direction: float, roll: float, distance: float, centre: np.ndarray
) -> np.ndarray:
    """Canvas pixels -> camera pixels: the canvas plane turned in 3D about ``centre``, seen by a pinhole."""
    t = np.deg2rad(tilt_deg)
    pitch, yaw = t * np.cos(direction), t * np.sin(direction)
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    r = rz @ ry @ rx
    k = np.diag([FOCAL_PX, FOCAL_PX, 1.0])
    to_plane = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]])
    h = k @ np.column_stack([r[:, 0], r[:, 1], [0, 0, distance]]) @ to_plane
    return h / h[2, 2]


def project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(pts, np.float64).reshape(-1, 1, 2), h).reshape(-1, 2)


def symbol_points(origin: tuple[float, float], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvas points: the symbol's four corners (TL, TR, BR, BL), the finders' corners, module centres."""
    ox, oy = origin
    s, f = n * SRC_MOD, FINDER * SRC_MOD
    corners = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float64) + origin
    finders = []
    for fx, fy in ((0, 0), (s - f, 0), (0, s - f)):
        finders += [[fx, fy], [fx + f, fy], [fx + f, fy + f], [fx, fy + f]]
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))
    centres = np.column_stack([(jj.ravel() + 0.5) * SRC_MOD + ox, (ii.ravel() + 0.5) * SRC_MOD + oy])
    return corners, np.array(finders, np.float64) + origin, centres


def module_size(h: np.ndarray, corners: np.ndarray, n: int) -> float:
    q = project(h, corners)
    return float(min(np.linalg.norm(q[i] - q[(i + 1) % 4]) for i in range(4)) / n)


def _glare_band(phone: Phone, rng: np.random.Generator) -> np.ndarray:
    """A window's reflection: a soft straight band across the screen, fixed to the phone's glass."""
    h, w = phone.emit.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    cx, cy = np.array(phone.origin) + phone.n * SRC_MOD * rng.uniform(0.2, 0.8, 2)
    dist = np.cos(a) * (xx - cx) + np.sin(a) * (yy - cy)
    width = rng.uniform(3, 8) * SRC_MOD
    return (np.exp(-0.5 * (dist / width) ** 2) * phone.glare_bed).astype(np.float32)


def _moire(h: np.ndarray, screen: np.ndarray, pitch: float, depth: float) -> np.ndarray:
    """The screen's RGB stripe grid as the sensor point-samples it: beats where the pitches meet.

    Computed only within the bounding box of the lit screen (``screen`` > 0): 1 elsewhere.
    """
    rows, cols = screen.shape[:2]
    out = np.ones((rows, cols, 3), np.float32)
    ys, xs = np.nonzero(screen.reshape(rows, cols) > 0)
    if ys.size == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    inv = np.linalg.inv(h)
    z = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
    u = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / z
    v = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / z
    row = 1 - depth * 0.5 * (1 - np.cos(2 * np.pi * v / pitch))
    grid = [row * (1 - depth * 0.5 * (1 - np.cos(2 * np.pi * (u / pitch - c / 3)))) for c in (2, 1, 0)]
    out[y0:y1, x0:x1] = np.stack(grid, axis=2)  # B, G, R sub-pixels side by side
    return out


def compose(
    phone: Phone, h: np.ndarray, kinds: list[str], rng: np.random.Generator, size: tuple[int, int]
) -> np.ndarray:
    """The scene in exposure units (1.0 is the full well) as auto-exposure meters it."""
    w, hh = size
    room = background(rng, w, hh).astype(np.float32) / 255  # albedo: the room's white is 1.0
    yy, xx = np.mgrid[0:hh, 0:w].astype(np.float32)
    room *= (1 - 0.35 * (((xx - w / 2) / w) ** 2 + ((yy - hh / 2) / w) ** 2) * 2)[:, :, None]  # lens vignette
    ratio = rng.uniform(2, 10)  # the screen's white against the room's
    shrink = SRC_MOD / max(module_size(h, symbol_points(phone.origin, phone.n)[0], phone.n), 0.5)
    sigma = 0.5 * np.sqrt(max(shrink**2 - 1, 0))  # anti-aliasing before the projection shrinks it

    def warp(layer: np.ndarray) -> np.ndarray:
        if sigma > 0.3:
            layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        return cv2.warpPerspective(layer, h, (w, hh), flags=cv2.INTER_LINEAR, borderValue=0)

    emit, alpha = warp(phone.emit)[:, :, None], warp(phone.alpha)[:, :, None]
    albedo = warp(phone.albedo)
    tint = np.array([1.05, 1.0, 0.93], np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    light = emit * ratio * tint
    if "moire" in kinds:
        pitch = shrink * rng.uniform(0.7, 1.4)  # 0.7-1.4 camera pixels, in canvas pixels
        light = light * _moire(h, emit, pitch, rng.uniform(0.35, 0.7))
    scene = room * (1 - alpha) + albedo + light
    if "glare" in kinds:  # a reflection 15-40% as bright as the screen's white
        scene += warp(_glare_band(phone, rng))[:, :, None] * (ratio * rng.uniform(0.15, 0.4))
    # the mean to 0.18, but highlight-weighted metering keeps the screen's white near full scale;
    # a bloom frame is one whose metering let the screen burn 1.8-3x over
    ceiling = rng.uniform(1.8, 3.0) if "bloom" in kinds else rng.uniform(0.9, 1.5)
    scene *= min(0.18 / float(scene.mean()), ceiling / ratio)
    return scene.astype(np.float32)

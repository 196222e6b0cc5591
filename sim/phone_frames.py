"""The hard test set: seeded phone-in-hand frames, each checked to be readable at all.

    shot = phone_shot(text, ["dark_mode", "motion_blur"], seed=3)   # one frame of chosen kinds
    for shot in phone_frames(120, seed=0): ...                      # a set: 2-4 kinds per frame

Tests and benchmarks only. Two checks keep a frame. Before the camera: the code's information
survives its geometry (the module matrix, with every module whose centre falls outside the picture
or under a finger blanked, rendered upright and clean, is read by zxing-cpp; a draw that fails is
drawn again). After it, the honest one, *readable at all* (``sim.phone_oracle``): the final JPEG
sampled at the true module centres, thresholded locally and redrawn clean, is read by zxing-cpp.
A frame of a set that fails it holds more module errors than error correction repairs; it is
replaced by a draw of the same kinds from the next sub-seed (``shot.redraws`` counts them;
``phone_frames(..., oracle=False)`` keeps every first draw, the set as it was before the oracle).

    python -m sim.phone_frames --out /tmp/hard --n 40 [--seed 0]

writes the JPEGs and ``manifest.json`` and prints one line per frame (kinds, module size, cut
depth, modules lost, whether the reference decodes, how many draws the oracle refused before it)
for a person to look through.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from sim import camera_sensor as sensor_sim
from sim.camera_frames import qr_modules
from sim.phone_screen import (
    FOCAL_PX,
    HEIGHT,
    KINDS,
    SRC_MOD,
    WIDTH,
    Shot,
    compose,
    draw_phone,
    homography,
    module_size,
    project,
    symbol_points,
)

ISSUE_KINDS = ("dark_mode", "cut_edge", "small")  # what the terminal used to miss: drawn twice as often


def choose_kinds(rng: np.random.Generator) -> list[str]:
    """2-4 distinct kinds; the issue's three are twice as likely as the others."""
    weights = np.array([2.0 if k in ISSUE_KINDS else 1.0 for k in KINDS])
    picked = rng.choice(len(KINDS), int(rng.integers(2, 5)), replace=False, p=weights / weights.sum())
    return [KINDS[i] for i in sorted(picked)]


def draw_exposure(rng: np.random.Generator, kinds: Sequence[str], module_px: float) -> sensor_sim.Exposure:
    low = "low_light" in kinds
    return sensor_sim.Exposure(
        gain=rng.uniform(6, 14) if low else rng.uniform(1, 2.5),
        read_noise_e=rng.uniform(4, 8) if low else rng.uniform(2, 4),
        lens_sigma=rng.uniform(0.4, 0.6),
        defocus_px=max(0.6, rng.uniform(0.3, 0.45) * module_px) if "defocus" in kinds else 0.0,
        motion_px=max(1.0, rng.uniform(0.4, 0.8) * module_px) if "motion_blur" in kinds else 0.0,
        motion_angle=rng.uniform(0, np.pi),
        bloom=rng.uniform(0.15, 0.4) if "bloom" in kinds else 0.03,
        sharpen=rng.uniform(0.2, 0.9),
        jpeg_quality=int(rng.integers(40, 71)),
        wb=tuple(float(v) for v in rng.uniform(0.9, 1.1, 3)),  # type: ignore[arg-type]
    )


def _cut_shift(
    rng: np.random.Generator,
    corners: np.ndarray,
    finders: np.ndarray,
    module_px: float,
    size: tuple[int, int],
) -> tuple[np.ndarray, float] | None:
    """A shift that puts the free corner 1.5-4 modules past a frame edge with the finders inside."""
    depth = rng.uniform(1.5, 4) * module_px
    margin = module_px
    free = corners[2]  # the corner opposite the top-left finder: no finder pattern there
    for edge in rng.permutation(4):
        axis, far = int(edge % 2), bool(edge >= 2)
        shift = np.zeros(2)
        shift[axis] = size[axis] + depth - free[axis] if far else -depth - free[axis]
        f = finders[:, axis] + shift[axis]
        if f.min() < margin or f.max() > size[axis] - margin:
            continue
        other = 1 - axis
        lo, hi = margin - finders[:, other].min(), size[other] - margin - finders[:, other].max()
        if hi < lo:
            continue
        shift[other] = rng.uniform(lo, hi)
        return shift, depth / module_px
    return None


def _place(
    rng: np.random.Generator, origin: tuple[float, float], n: int, kinds: Sequence[str], size: tuple[int, int]
) -> tuple[np.ndarray, float, float, float] | None:
    """(homography, module px, tilt, cut depth in modules), or ``None`` when this draw does not fit."""
    corners, finders, _ = symbol_points(origin, n)
    target = rng.uniform(1.9, 2.5) if "small" in kinds else rng.uniform(2.6, 6.0)
    tilt = rng.uniform(20, 40) if "perspective" in kinds else rng.uniform(0, 12)
    direction, roll = rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
    centre = corners.mean(0)
    distance = FOCAL_PX * SRC_MOD / target
    for _ in range(3):  # the projected size is nearly inverse to the distance: converge on the target
        h = homography(tilt, direction, roll, distance, centre)
        distance *= module_size(h, corners, n) / target
    h = homography(tilt, direction, roll, distance, centre)
    module_px = module_size(h, corners, n)
    cut = 0.0
    if "cut_edge" in kinds:
        found = _cut_shift(rng, project(h, corners), project(h, finders), module_px, size)
        if found is None:
            return None
        shift, cut = found
    else:  # the whole symbol and two modules around it inside the picture
        grown = centre + (corners - centre) * (n + 4) / n
        q = project(h, grown)
        lo, hi = -q.min(0), np.array(size, np.float64) - q.max(0)
        if np.any(hi < lo):
            return None
        shift = rng.uniform(lo, hi)
    moved = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]]) @ h
    return moved, module_px, tilt, cut


def lost_modules(phone_albedo: np.ndarray, h: np.ndarray, origin: tuple[float, float], n: int,
                 size: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """n x n, True for a module whose centre is outside the picture or under the hand."""
    centres = symbol_points(origin, n)[2]
    q = project(h, centres)
    outside = (q[:, 0] < 0) | (q[:, 1] < 0) | (q[:, 0] >= size[0]) | (q[:, 1] >= size[1])
    cx, cy = centres[:, 0].astype(int), centres[:, 1].astype(int)
    covered = phone_albedo[cy, cx, 2] > 0.1  # the screen's own reflectance is 0.04; skin is more
    return (outside | covered).reshape(n, n)


def readable_at_all(text: str, lost: np.ndarray) -> bool:
    """The information check: the code with its lost modules blanked, clean and upright, decodes."""
    import zxingcpp

    mods = qr_modules(text)[4:-4, 4:-4].copy()
    mods[lost] = 0
    img = np.where(np.pad(mods, 4) == 1, 0, 255).astype(np.uint8)
    img = cv2.resize(img, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    return any(b.text == text for b in found)


def phone_shot(
    text: str,
    kinds: Sequence[str],
    seed: int | np.random.Generator,
    *,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> Shot:
    """One frame of ``text`` with exactly ``kinds`` (see ``sim.phone_screen.KINDS``), readable at all."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {KINDS}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    kinds = list(kinds)
    for _ in range(60):
        phone = draw_phone(text, "dark_mode" in kinds, rng)
        placed = _place(rng, phone.origin, phone.n, kinds, size)
        if placed is None:
            continue
        h, module_px, tilt, cut = placed
        lost = lost_modules(phone.albedo, h, phone.origin, phone.n, size)
        if lost.any() and not readable_at_all(text, lost):
            continue
        scene = compose(phone, h, kinds, rng, size)
        jpeg = sensor_sim.capture(scene, draw_exposure(rng, kinds, module_px), rng)
        # canvas pixel k covers [k - 0.5, k + 0.5): a module's centre is half a pixel before (j + 0.5) * 6
        centres = project(h, symbol_points(phone.origin, phone.n)[2] - 0.5)
        return Shot(text, kinds, jpeg, round(module_px, 2), round(tilt, 1), round(cut, 1), int(lost.sum()),
                    lost, centres)  # fmt: skip
    raise RuntimeError(f"could not draw a readable frame of {kinds} in 60 tries")


MAX_REDRAWS = 20


def _texts(texts: Sequence[str] | None, seed: int) -> Sequence[str]:
    if texts is not None:
        return texts
    from sim.camera_tokens import owt_texts

    return owt_texts(16, seed=seed)


def _frame(i: int, seed: int, text: str, oracle: bool) -> tuple[Shot, Shot]:
    """(the first draw of frame ``i``, the frame kept): the same unless the oracle refused the first."""
    from sim.phone_oracle import oracle_reads

    rng = np.random.default_rng([seed, i, zlib.crc32(b"phone")])
    kinds = choose_kinds(rng)
    first = shot = phone_shot(text, kinds, rng)
    redraws = 0
    while oracle and not oracle_reads(shot):
        redraws += 1
        if redraws > MAX_REDRAWS:
            raise RuntimeError(f"frame {i} of seed {seed}: no readable draw of {kinds} in {MAX_REDRAWS}")
        shot = phone_shot(text, kinds, np.random.default_rng([seed, i, zlib.crc32(b"phone"), redraws]))
    shot.redraws = redraws
    return first, shot


def phone_frames(
    n: int, seed: int = 0, *, texts: Sequence[str] | None = None, oracle: bool = True
) -> Iterator[Shot]:
    """``n`` frames, 2-4 kinds each; frame ``i`` depends only on (``seed``, ``i``) and its text.

    With ``oracle`` (the default), a frame the oracle (``sim.phone_oracle``) cannot read is replaced
    by a draw of the same kinds and text from the next sub-seed, ``shot.redraws`` counting the
    replaced draws; without it, every first draw is kept (the set as it was before the oracle).
    """
    texts = _texts(texts, seed)
    for i in range(n):
        yield _frame(i, seed, texts[i % len(texts)], oracle)[1]


def phone_sets(n: int, seed: int = 0, *, texts: Sequence[str] | None = None) -> tuple[list[Shot], list[Shot]]:
    """(every first draw, the oracle-readable set), drawing each frame once: what the bench reports."""
    texts = _texts(texts, seed)
    pairs = [_frame(i, seed, texts[i % len(texts)], True) for i in range(n)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def decode_jpeg(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sim.phone_frames", description=__doc__.splitlines()[0]
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for i, shot in enumerate(phone_frames(args.n, args.seed)):
        name = f"phone_{i:04d}.jpg"
        (args.out / name).write_bytes(shot.jpeg)
        ok = readable_at_all(shot.text, shot.lost if shot.lost is not None else np.zeros((1, 1), bool))
        row = {"name": name, "text": shot.text, "kinds": shot.kinds, "module_px": shot.module_px,
               "tilt_deg": shot.tilt_deg, "cut_modules": shot.cut_modules, "lost_modules": shot.lost_modules,
               "reference_decodes": ok, "oracle_redraws": shot.redraws}  # fmt: skip
        manifest.append(row)
        kinds = "+".join(shot.kinds)
        print(f"{name}  {kinds:45s} {shot.module_px:4.2f} px/module  tilt {shot.tilt_deg:4.1f}  "
              f"cut {shot.cut_modules:3.1f}  lost {shot.lost_modules:4d}  reference: {ok}  "
              f"oracle redraws: {shot.redraws}")  # fmt: skip
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

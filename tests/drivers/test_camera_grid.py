"""The hard pass's grid-fitting sampler: small codes the image transforms miss, read by fitting the grid.

Frames are drawn by the phone-in-hand generator (``sim.phone_frames``) with fixed seeds, each one a
kind the chain without the sampler (``grid_budget_ms=0``) does not read.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import grid as qr
from drivers.camera import sampler
from drivers.camera.decoders import FrameDecoder
from drivers.camera.images import decode_image_file
from sim.camera_frames import qr_modules
from sim.camera_tokens import owt_texts
from sim.phone_frames import decode_jpeg, phone_shot

TEXT = owt_texts(2, seed=5)[0]


@pytest.fixture(scope="module")
def chains() -> tuple[FrameDecoder, FrameDecoder]:
    # budgets raised: every other view is tried, and a slow machine must not turn a read into a miss
    return FrameDecoder("zxing", budget_ms=5000, grid_budget_ms=0), FrameDecoder("zxing", grid_budget_ms=2000)


@pytest.mark.parametrize(
    ("kinds", "seed"),
    [
        (["small", "dark_mode"], 3),
        (["small", "cut_edge"], 5),
        (["small", "dark_mode", "defocus"], 1),
        (["small", "low_light", "bloom"], 5),
    ],
    ids=["small_dark_mode", "small_cut_edge", "small_dark_mode_defocus", "small_low_light_bloom"],
)
def test_small_codes_the_transforms_miss_are_read_by_fitting_their_grid(
    kinds: list[str], seed: int, chains: tuple[FrameDecoder, FrameDecoder]
) -> None:
    shot = phone_shot(TEXT, kinds, seed)
    assert shot.module_px < 2.3
    frame = decode_jpeg(shot.jpeg)
    without, with_grid = chains
    assert TEXT not in without.decode(frame).texts
    result = with_grid.decode(frame)
    assert result.texts == [TEXT]
    assert result.stage is not None and result.stage.startswith("hard:grid")


def test_an_image_file_for_pos_accept_goes_through_the_same_sampler(tmp_path: Path) -> None:
    shot = phone_shot(TEXT, ["small", "dark_mode"], 3)
    path = tmp_path / "phone.jpg"
    path.write_bytes(shot.jpeg)
    assert decode_image_file(path) == TEXT.encode()


@pytest.mark.parametrize("fill", ["blank", "noise"])
def test_the_sampler_finds_no_code_in_a_blank_or_noisy_region(fill: str) -> None:
    rng = np.random.default_rng(7)
    gray = np.full((720, 1280), 128, np.uint8)
    if fill == "noise":
        gray = rng.integers(0, 256, (720, 1280), dtype=np.uint8)
        gray = cv2.GaussianBlur(gray, (0, 0), 0.8)
    boxes = [(400, 200, 200, 200), (900, 400, 180, 160)]
    views = list(sampler.grid_views(gray, boxes, deadline=time.thread_time() + 0.5))
    assert views == []
    chain = FrameDecoder("zxing", hard="always")
    assert chain.decode(gray).texts == []


def _synthetic_code(module_px: float) -> tuple[np.ndarray, qr.Grid]:
    """A version-12 code warped with perspective to about ``module_px`` a module, blurred and noisy."""
    modules = qr_modules(TEXT)[4:-4, 4:-4]
    n = len(modules)
    version = (n - 17) // 4
    corners = np.array([(60, 50), (60 + 63 * module_px, 62), (54 + 66 * module_px, 46 + 64 * module_px),
                        (48, 40 + 61 * module_px)], np.float32)  # fmt: skip
    src = np.array([(0, 0), (n, 0), (n, n), (0, n)], np.float32) * 16
    big = cv2.resize(np.where(modules == 1, 40, 220).astype(np.uint8), None, fx=16, fy=16,
                     interpolation=cv2.INTER_NEAREST)  # fmt: skip
    h = cv2.getPerspectiveTransform(src, corners)
    img = cv2.warpPerspective(big, h, (300, 300), flags=cv2.INTER_AREA, borderValue=220)
    img = cv2.GaussianBlur(img, (0, 0), 0.7).astype(np.float32)
    img += np.random.default_rng(3).normal(0, 6, img.shape).astype(np.float32)
    return img, qr.Grid(version, corners)


def test_refinement_moves_an_offset_grid_onto_the_symbol() -> None:
    img, truth = _synthetic_code(2.2)
    start = qr.Grid(
        truth.version, truth.corners + np.array([(2.0, -1.5), (-1.5, 2.0), (2.5, 2.0), (-2.0, -1.0)])
    )
    before = np.abs(start.module_centres() - truth.module_centres()).max()
    fitted = qr.refine(cv2.GaussianBlur(img, (0, 0), 0.7), start, 1.0, 2.2)
    after = np.abs(fitted.module_centres() - truth.module_centres()).max()
    assert before > 2.0  # about a module off at the far corners: the redraw would not read
    assert after < 0.5
    assert fitted.score > qr.pattern_score(img, start, 1.0)


def test_function_patterns_match_a_real_symbol_of_each_version() -> None:
    for text in owt_texts(4, seed=0)[:2]:
        modules = qr_modules(text)[4:-4, 4:-4].astype(bool)
        known, dark = qr.function_modules((len(modules) - 17) // 4)
        assert known.sum() > 400
        assert np.array_equal(modules[known], dark[known])

"""The hard set's honest readability check (issue 17): an oracle that knows where every module is.

It samples the final frame at the true module centres and reads a clean redraw of what it saw; a
frame it cannot read holds more module errors than error correction repairs, and the generator
replaces it. These tests prove it can say no (a frame blurred past recovery) as well as yes.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sim.camera_frames import qr_modules
from sim.camera_tokens import owt_texts
from sim.phone_frames import phone_frames, phone_shot
from sim.phone_oracle import oracle_reads, oracle_reads_frame

TEXT = owt_texts(1, seed=5)[0]


def flat_frame(
    text: str, px: float, blur: float = 0.0, dark_mode: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The code upright at ``px`` pixels per module (from a 6 px drawing), and its module centres."""
    mods = qr_modules(text)  # with its 4-module quiet zone
    img = np.where(mods == 1, 30, 225).astype(np.uint8)
    if dark_mode:
        img = 255 - img
    big = np.kron(img, np.ones((6, 6), np.uint8))
    frame = cv2.resize(big, None, fx=px / 6, fy=px / 6, interpolation=cv2.INTER_AREA)
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    n = mods.shape[0] - 8
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))
    centres = np.column_stack([(jj.ravel() + 4.5) * px - 0.5, (ii.ravel() + 4.5) * px - 0.5])
    return frame, centres


@pytest.mark.parametrize("dark_mode", [False, True])
def test_the_oracle_reads_a_clean_code_at_its_true_module_centres(dark_mode: bool) -> None:
    frame, centres = flat_frame(TEXT, 6.0, dark_mode=dark_mode)
    n = round(float(np.sqrt(len(centres))))
    assert oracle_reads_frame(frame, TEXT, centres, n)
    assert not oracle_reads_frame(frame, TEXT + "x", centres, n)  # it checks the text, not just a read


def test_the_oracle_refuses_a_small_code_blurred_past_recovery() -> None:
    frame, centres = flat_frame(TEXT, 1.5, blur=1.5)
    n = round(float(np.sqrt(len(centres))))
    assert not oracle_reads_frame(frame, TEXT, centres, n)
    sharp, centres = flat_frame(TEXT, 3.0)
    assert oracle_reads_frame(sharp, TEXT, centres, n)  # the same code, sharp and bigger, is read


def test_the_oracle_refuses_wrong_geometry() -> None:
    frame, centres = flat_frame(TEXT, 6.0)
    n = round(float(np.sqrt(len(centres))))
    assert oracle_reads_frame(frame, TEXT, centres + 1.0, n)  # a pixel off: the grid is aligned blind
    assert not oracle_reads_frame(frame, TEXT, centres + np.array([6.0, 0.0]), n)  # a module off: no


def test_a_phone_frame_is_read_by_the_oracle_and_a_destroyed_copy_is_not() -> None:
    shot = phone_shot(TEXT, ["perspective", "glare"], 2)
    assert oracle_reads(shot)
    gray = cv2.imdecode(np.frombuffer(shot.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    blurred = cv2.GaussianBlur(gray, (0, 0), 3 * shot.module_px)
    shot.jpeg = cv2.imencode(".jpg", blurred)[1].tobytes()
    assert not oracle_reads(shot)


def test_every_frame_of_a_set_passes_the_oracle_and_the_set_without_it_keeps_first_draws() -> None:
    texts = owt_texts(2, seed=5)
    kept = list(phone_frames(2, seed=11, texts=texts))
    first = list(phone_frames(2, seed=11, texts=texts, oracle=False))
    for a, b in zip(first, kept, strict=True):
        assert oracle_reads(b)
        assert b.kinds == a.kinds and (b.jpeg == a.jpeg) == (b.redraws == 0)


def test_a_refused_frame_is_replaced_by_the_next_sub_seed_with_the_same_kinds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sim.phone_oracle

    texts = owt_texts(1, seed=5)
    first = next(phone_frames(1, seed=11, texts=texts, oracle=False))
    real = sim.phone_oracle.oracle_reads
    monkeypatch.setattr(sim.phone_oracle, "oracle_reads", lambda shot: shot.jpeg != first.jpeg and real(shot))
    kept = [next(phone_frames(1, seed=11, texts=texts)) for _ in range(2)]
    assert kept[0].redraws >= 1 and kept[0].jpeg != first.jpeg and kept[0].kinds == first.kinds
    assert kept[1].jpeg == kept[0].jpeg  # deterministic: the same sub-seed every time

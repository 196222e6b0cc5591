"""Camera QR decoders on real generated frames: the three libraries, the cheap and the hard pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drivers.camera.decoders import DECODERS, FrameDecoder, Seen, make_decoder
from drivers.camera.filters import Deduper, is_presentation, redact
from sim import camera_frames as synth

TEXTS = synth.owt_texts(8, seed=1)  # deterministic EdDSA wallets: the same modules on every run


def frames_of(n: int, seed: int, **kw: float) -> list[tuple[synth.FrameSpec, np.ndarray]]:
    return [
        (spec, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
        for spec, data in synth.generate(n, seed, texts=TEXTS, **kw)
    ]


def rotated(frame: np.ndarray, degrees: float) -> np.ndarray:
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(frame, m, (w, h), borderValue=(200, 200, 200))


class CountingDecoder:
    """A real decoder, counting how often the chain calls it."""

    def __init__(self, name: str) -> None:
        self.inner = make_decoder(name)
        self.name = name
        self.calls = 0

    def read(self, gray: np.ndarray, global_threshold: bool = False) -> Seen:
        self.calls += 1
        return self.inner.read(gray, global_threshold)


@pytest.mark.parametrize("name", DECODERS)
def test_each_decoder_reads_clean_codes(name: str) -> None:
    chain = FrameDecoder(name)
    for i, text in enumerate(TEXTS[:2]):
        frame = synth.clean_frame(text, module_px=5)
        assert chain.decode(frame).texts == [text]
        assert chain.decode(rotated(frame, 25 + 40 * i)).texts == [text]
        assert chain.decode(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)).texts == [text]


@pytest.mark.parametrize("name", DECODERS)
def test_each_decoder_also_reads_with_one_threshold_for_the_whole_image(name: str) -> None:
    decoder = make_decoder(name)
    gray = cv2.cvtColor(synth.clean_frame(TEXTS[0], module_px=5), cv2.COLOR_BGR2GRAY)
    assert [s.text for s in decoder.read(gray, global_threshold=True).symbols] == [TEXTS[0]]


def test_zxing_with_the_hard_pass_decodes_99_percent_of_degraded_frames() -> None:
    """40 frames here (the benchmark runs 200): perspective, blur, noise, light, glare, moire, JPEG."""
    frames = frames_of(40, seed=2, empty=0, other=0)
    full, cheap = FrameDecoder("zxing"), FrameDecoder("zxing", hard="never")
    results = [full.decode(f) for _, f in frames]
    decoded = sum(spec.text in r.texts for (spec, _), r in zip(frames, results, strict=True))
    assert decoded / len(frames) >= 0.99, [r.stage for r in results]
    rescued = [r.stage for r in results if r.stage and r.stage.startswith("hard:")]
    assert rescued, "this set holds frames only the hard pass reads"
    assert sum(spec.text in cheap.decode(f).texts for spec, f in frames) < decoded


def test_idle_frames_cost_one_decoder_call_and_qr_like_frames_get_the_hard_pass() -> None:
    counting = CountingDecoder("zxing")
    chain = FrameDecoder(counting)
    rng = np.random.default_rng(4)
    calls = []
    for _ in range(12):
        counting.calls = 0
        result = chain.decode(synth.background(rng))
        assert result.texts == []
        calls.append(counting.calls)
    assert sorted(calls)[len(calls) // 2] == 1  # most idle frames: the cheap pass only
    # a code too blurred for the cheap pass still shows its finder patterns: the hard pass runs
    frame = cv2.GaussianBlur(synth.clean_frame(TEXTS[0], module_px=3), (0, 0), 1.6)
    counting.calls = 0
    result = chain.decode(frame)
    assert result.candidate and counting.calls > 1


@pytest.mark.parametrize("name", DECODERS)
def test_decoders_survive_odd_images(name: str) -> None:
    chain = FrameDecoder(name, hard="always")
    odd = [
        np.zeros((1, 1), np.uint8),
        np.zeros((7, 3, 3), np.uint8),
        np.full((480, 640), 255, np.uint8),
        np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8),
        np.zeros((720, 1280, 4), np.uint8),
        synth.clean_frame(TEXTS[0], module_px=4)[100:400:2, 50:600:3],  # a non-contiguous view
    ]
    for image in odd:
        assert isinstance(chain.decode(image).texts, list)


def test_unknown_decoder_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown QR decoder"):
        make_decoder("tesseract")


def test_only_owt_texts_are_presentations() -> None:
    assert is_presentation("OWT1:ABC")
    assert is_presentation("OWT2:ABC")  # the terminal declines it as unsupported_version
    for text in ("https://example.com", "owt1:abc", "OWTX-NOT", " OWT1:A", "", "WIFI:S:x;;"):
        assert not is_presentation(text)


def test_foreign_codes_are_logged_without_their_content() -> None:
    assert redact("WIFI:S:cafe;T:WPA;P:espresso2026;;") == "'WIFI:S:cafe;'... (34 characters)"
    assert redact("HELLO") == "'HELLO'"


def test_dedupe_holds_while_seen_and_counts_again_after_the_hold_time() -> None:
    d = Deduper(hold_s=1.0)
    assert d.fresh("A", 0.0)
    assert not d.fresh("A", 0.5)
    assert not d.fresh("A", 1.4)  # seen continuously: still the same presentation
    assert d.fresh("A", 2.5)  # gone for more than the hold time
    assert d.fresh("B", 2.5)
    assert d.fresh("A", 0.1)  # a file replayed from its start: time went back

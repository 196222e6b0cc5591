"""Keyboard-wedge detection with synthetic key timings; the evdev key map without evdev."""

from __future__ import annotations

import pytest

from drivers.serial import wedge
from drivers.serial.lines import frame_problem
from drivers.serial.wedge import KeyTranslator, Typed, WedgeDetector, WedgeEvent, WedgeToken
from pos import reasons
from pos.decision import PaymentRequest
from pos.errors import Decline
from pos.keystore import KeyStore
from pos.presentation import decode_text, encode_text
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from tests.conftest import Demo


def type_keys(det: WedgeDetector, text: str, *, start: float = 100.0, gap: float) -> list[WedgeEvent]:
    out: list[WedgeEvent] = []
    for i, ch in enumerate(text):
        out += det.feed(ch, start + i * gap)
    return out


def typed(events: list[WedgeEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, Typed))


def tokens(events: list[WedgeEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, WedgeToken)]


def test_fast_owt_burst_with_enter_is_a_token() -> None:
    det = WedgeDetector()
    events = type_keys(det, "OWT1:6BFOX0\r", gap=0.004)
    assert events == [WedgeToken(b"OWT1:6BFOX0")]
    assert not det.holding


def test_slow_typing_of_the_same_keys_is_typing() -> None:
    det = WedgeDetector()
    events = type_keys(det, "OWT1:6BFOX0\r", gap=0.12)
    assert tokens(events) == [] and typed(events) == "OWT1:6BFOX0\r"


def test_other_fast_bursts_pass_through_at_once() -> None:
    """A product barcode (EAN) from the same scanner is typing: no key is held."""
    det = WedgeDetector()
    for i, ch in enumerate("4006381333931\r"):
        assert det.feed(ch, 1.0 + i * 0.003) == [Typed(ch)]


def test_a_held_O_is_released_by_poll_when_typing_stops() -> None:
    det = WedgeDetector()
    assert det.feed("O", 5.0) == []
    assert det.holding
    assert det.poll(5.02) == []  # still within the gap
    assert det.poll(5.05) == [Typed("O")]
    assert not det.holding


def test_prefix_mismatch_releases_in_order_and_can_restart() -> None:
    det = WedgeDetector()
    events = type_keys(det, "OWOWT1:AB\r", gap=0.005)
    assert events == [Typed("OW"), WedgeToken(b"OWT1:AB")]


def test_person_typing_OW_then_pausing() -> None:
    det = WedgeDetector()
    events = type_keys(det, "OW", gap=0.01)
    events += det.feed("x", 100.5)  # a long pause: the held "OW" is released before "x"
    assert typed(events) == "OWx" and tokens(events) == []


def test_fast_OWT_burst_cut_off_without_enter_is_a_malformed_token() -> None:
    det = WedgeDetector()
    events = type_keys(det, "OWT1:6BF", gap=0.004)
    events += det.poll(100.5)
    (data,) = tokens(events)
    assert frame_problem(data) == "partial"
    with pytest.raises(Decline) as info:
        decode_text(data)
    assert info.value.reason == reasons.MALFORMED


def test_short_fast_OWT_then_pause_is_typing() -> None:
    det = WedgeDetector()
    events = type_keys(det, "OWT", gap=0.004) + det.poll(100.5)
    assert events == [Typed("OWT")]


def test_over_long_burst_is_drained_not_held() -> None:
    det = WedgeDetector(max_chars=4096)
    events = type_keys(det, "OWT1:" + "A" * 9_995 + "\r", gap=0.001)
    (data,) = tokens(events)
    assert frame_problem(data) == "overlong" and data.endswith(b":10000")
    assert len(det._held) == 0
    assert type_keys(det, "OWT1:OK\r", start=200.0, gap=0.001) == [WedgeToken(b"OWT1:OK")]


def test_gap_threshold_is_configurable() -> None:
    det = WedgeDetector(max_gap_s=0.08)
    assert type_keys(det, "OWT1:AB\r", gap=0.05) == [WedgeToken(b"OWT1:AB")]


def test_wedge_token_is_approved_by_the_terminal(demo: Demo) -> None:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    term = Terminal(demo.data_dir, store)
    try:
        text = encode_text(demo.wallet().token(max_amount=100, now=demo.now))
        (data,) = tokens(type_keys(WedgeDetector(), text + "\r", gap=0.002))
        assert term.accept_text(data, PaymentRequest(100, "EUR", demo.now, "T1")).approved
    finally:
        term.close()


# -- the evdev key map (pure; the evdev package itself is optional) ------------------------------

KEY_LEFTSHIFT, KEY_O, KEY_W, KEY_T, KEY_1, KEY_SEMICOLON, KEY_ENTER, KEY_CAPSLOCK = (
    42,
    24,
    17,
    20,
    2,
    39,
    28,
    58,
)


def press(tr: KeyTranslator, code: int, shift: bool = False) -> str | None:
    if shift:
        tr.feed(KEY_LEFTSHIFT, 1)
    ch = tr.feed(code, 1)
    tr.feed(code, 0)
    if shift:
        tr.feed(KEY_LEFTSHIFT, 0)
    return ch


def test_key_translator_types_the_owt_prefix() -> None:
    tr = KeyTranslator()
    keys = [(KEY_O, True), (KEY_W, True), (KEY_T, True), (KEY_1, False), (KEY_SEMICOLON, True)]
    assert "".join(press(tr, code, sh) or "" for code, sh in keys) == "OWT1:"
    assert press(tr, KEY_ENTER) == "\r"
    assert press(tr, KEY_O) == "o"


def test_key_translator_caps_lock_and_base45_symbols() -> None:
    tr = KeyTranslator()
    press(tr, KEY_CAPSLOCK)
    assert press(tr, KEY_O) == "O" and press(tr, KEY_1) == "1"
    assert press(tr, KEY_O, shift=True) == "o"
    shifted = {5: "$", 6: "%", 9: "*", 13: "+"}
    assert {code: press(tr, code, shift=True) for code in shifted} == shifted
    assert [press(tr, c) for c in (12, 52, 53, 57)] == ["-", ".", "/", " "]
    assert tr.feed(KEY_T, 0) is None and tr.feed(999, 1) is None


def test_evdev_source_explains_how_to_install_evdev() -> None:
    if wedge.evdev_available():
        pytest.skip("evdev is installed here")
    with pytest.raises(RuntimeError, match="evdev"):
        wedge.EvdevWedgeSource("/dev/input/event0")

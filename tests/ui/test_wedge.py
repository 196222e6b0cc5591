"""The App's keyboard-wedge adapter around the serial driver's detector: scanner bursts become
presentations, a person's keys come back as the very same key events, in order."""

from __future__ import annotations

from ui.runtime.wedge import KeyWedge, Release, Scanned, char_detector


def _wedge() -> KeyWedge[str]:
    detector = char_detector(0.030)
    assert detector is not None
    return KeyWedge(detector)


def _feed(wedge: KeyWedge[str], keys: list[tuple[str, str | None, float]]) -> list[object]:
    out: list[object] = []
    for key, char, t in keys:
        out += wedge.feed(key, char, key == "enter", t)
    return out


def test_fast_burst_with_enter_is_one_scan() -> None:
    wedge = _wedge()
    text = "OWT1:ABC 123"
    keys = [(f"k{i}", c, i * 0.002) for i, c in enumerate(text)] + [("enter", None, 0.03)]
    assert _feed(wedge, keys) == [Scanned(text.encode())]
    assert not wedge.holding


def test_slow_keys_are_released_as_the_same_events_in_order() -> None:
    wedge = _wedge()
    out = _feed(wedge, [("o", "O", 0.0), ("w", "W", 0.2), ("one", "1", 0.4)])
    out += wedge.expire(1.0)
    assert out == [Release("o"), Release("w"), Release("one")]


def test_prefix_broken_fast_releases_held_keys_first() -> None:
    wedge = _wedge()
    out = _feed(wedge, [("o", "O", 0.0), ("x", "X", 0.001), ("f2", None, 0.002)])
    assert out == [Release("o"), Release("x"), Release("f2")]


def test_burst_cut_short_is_a_marked_scan_the_core_declines() -> None:
    wedge = _wedge()
    _feed(wedge, [(f"k{i}", c, i * 0.002) for i, c in enumerate("OWT1:ABCDEF")])
    (scan,) = wedge.expire(1.0)
    assert isinstance(scan, Scanned) and b"partial" in scan.data

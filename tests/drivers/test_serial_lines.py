"""The line framer (SPEC 2, serial scanner): pure, byte by byte, memory bounded."""

from __future__ import annotations

import pytest

from drivers.serial.lines import MARK, OVERLONG, PARTIAL, Frame, LineFramer, frame_problem
from pos import reasons
from pos.errors import Decline
from pos.presentation import decode_text


def lines(framer: LineFramer, *chunks: bytes) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += [f.text() for f in framer.feed(chunk)]
    return out


@pytest.mark.parametrize("eol", [b"\r", b"\n", b"\r\n"])
def test_each_terminator_ends_a_line(eol: bytes) -> None:
    assert lines(LineFramer(), b"OWT1:AB" + eol + b"OWT1:CD" + eol) == [b"OWT1:AB", b"OWT1:CD"]


def test_cr_lf_split_across_reads_yields_no_empty_line() -> None:
    f = LineFramer()
    assert lines(f, b"OWT1:AB\r") == [b"OWT1:AB"]
    assert lines(f, b"\nOWT1:CD\r", b"\n") == [b"OWT1:CD"]
    assert not f.pending


def test_empty_lines_and_bare_crs_are_ignored() -> None:
    assert lines(LineFramer(), b"\r\r\n\n\r", b"X\r\r\r") == [b"X"]


def test_byte_by_byte_equals_one_write() -> None:
    data = b"OWT1:ONE\r\nOWT1:TWO\nOWT1:THREE\r"
    f = LineFramer()
    assert lines(f, *(data[i : i + 1] for i in range(len(data)))) == lines(LineFramer(), data)


def test_overlong_line_is_counted_not_buffered_then_next_line_is_fine() -> None:
    f = LineFramer(max_chars=4096)
    frames = f.feed(b"A" * 3000)
    frames += f.feed(b"B" * 3000)  # passes the cap here: the buffer is dropped
    assert f.buffered == 0 and f.pending
    frames += f.feed(b"C" * 4000 + b"\r\nOWT1:OK\r")
    assert [fr.kind for fr in frames] == [OVERLONG, "line"]
    assert frames[0].size == 10_000 and frames[0].data == b""
    assert frames[1].data == b"OWT1:OK"
    assert f.high_water <= 4096


def test_line_of_exactly_the_cap_is_a_line() -> None:
    (frame,) = LineFramer(max_chars=4096).feed(b"x" * 4096 + b"\n")
    assert frame.ok and frame.size == 4096
    (frame,) = LineFramer(max_chars=4096).feed(b"x" * 4097 + b"\n")
    assert frame.kind == OVERLONG


def test_take_partial_marks_the_bytes() -> None:
    f = LineFramer()
    assert f.take_partial() is None
    f.feed(b"OWT1:HALF")
    frame = f.take_partial()
    assert frame == Frame(PARTIAL, b"OWT1:HALF", 9)
    assert frame.text() == MARK + b"partial:OWT1:HALF"
    assert not f.pending


def test_binary_noise_passes_through() -> None:
    noise = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"")
    assert lines(LineFramer(), noise + b"\n") == [noise]


@pytest.mark.parametrize(
    "frame",
    [Frame(PARTIAL, b"OWT1:6BFOX", 10), Frame(PARTIAL, b"OWT2:ABC", 8), Frame(OVERLONG, b"", 10_000)],
)
def test_marked_frames_are_malformed_for_the_core(frame: Frame) -> None:
    """Even a partial that reads as another version is malformed, never unsupported_version."""
    with pytest.raises(Decline) as info:
        decode_text(frame.text())
    assert info.value.reason == reasons.MALFORMED
    assert frame_problem(frame.text()) == frame.kind


def test_frame_problem_of_ordinary_text_is_none() -> None:
    assert frame_problem(b"OWT1:ABC") is None
    assert frame_problem("OWT1:ABC") is None
    assert frame_problem(MARK + b"other:1") is None

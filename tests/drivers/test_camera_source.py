"""CameraSource on real files: folders of images and video files through OpenCV, real threads."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import CameraSource
from drivers.camera.capture import Frame, LatestSlot
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, SourceFailure
from sim import camera_frames as synth

A, B = synth.owt_texts(2, seed=7)
SIZE = (640, 480)


def empty(seed: int = 0) -> np.ndarray:
    return synth.background(np.random.default_rng(seed), *SIZE)


def code(text: str) -> np.ndarray:
    return synth.clean_frame(text, module_px=4, size=SIZE)


def folder(path: Path, frames: list[np.ndarray]) -> str:
    path.mkdir()
    for i, frame in enumerate(frames):
        # frame_2 sorts before frame_10 (natural order), so no zero padding here on purpose
        assert cv2.imwrite(str(path / f"frame_{i}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    (path / "notes.txt").write_text("not an image: skipped")
    return f"file:{path}"


def read_all(source: CameraSource, timeout: float = 0.2) -> list[str]:
    """Every presentation until the file is decoded to its end and nothing more comes."""
    assert source.wait_finished(60)
    out = []
    while True:
        try:
            out.append(source.read(None, timeout).data.decode())
        except SourceFailure as exc:
            assert exc.outcome == SOURCE_TIMEOUT
            return out


def test_a_folder_delivers_each_token_once_in_order_and_ignores_other_codes(tmp_path: Path, caplog) -> None:
    other = synth.clean_frame("https://example.com/menu?table=12", module_px=6, size=SIZE)
    frames = [empty(1), code(A), code(A), code(A), empty(2), other, other, code(B), code(B), empty(3)]
    frames += [empty(i) for i in range(4, 12)]  # frame_10.. sort after frame_9
    caplog.set_level(logging.INFO, logger="drivers.camera")
    with CameraSource(folder(tmp_path / "frames", frames)) as source:
        first = source.read(None, 30)
        assert first.kind == "text" and first.data == A.encode() and first.source.startswith("file:")
        assert read_all(source) == [B]
        stats = source.stats()
    assert stats["duplicates"] == 3 and stats["ignored_other"] == 1
    assert stats["decoded"] == stats["frames_read"] == len(frames)  # files: every frame, none dropped
    assert "not an OWT presentation: 'https://exam'... (33 characters)" in caplog.text


def test_a_video_file_delivers_each_token_once_in_order(tmp_path: Path) -> None:
    video = synth.write_video(tmp_path / "moving", [None, A, None, B, None], seed=1, frames_per_text=10)
    with CameraSource(f"file:{video}") as source:
        assert read_all(source) == [A, B]
        assert source.stats()["duplicates"] >= 10


def test_empty_frames_give_nothing_and_time_out_cleanly(tmp_path: Path) -> None:
    source = CameraSource(folder(tmp_path / "empty", [empty(i) for i in range(6)]))
    start = time.monotonic()
    with pytest.raises(SourceFailure) as info:
        source.read(None, 0.5)
    assert info.value.outcome == SOURCE_TIMEOUT
    assert 0.45 <= time.monotonic() - start < 10
    assert source.wait_finished(30)
    source.close()
    assert not any(t.is_alive() for t in source._threads)
    with pytest.raises(SourceFailure) as info:
        source.read(None, 0.1)
    assert info.value.outcome == DEVICE_ERROR and "closed" in info.value.detail
    source.close()  # twice is fine


@pytest.mark.parametrize(
    "url",
    [
        "/dev/video99",
        "file:{tmp}/missing",
        "file:{tmp}/junk.avi",
        "file:{tmp}/nothing",
        "gopher://x",
        "camera0",
        "rtsp://127.0.0.1:9/refused",
        "http://127.0.0.1:9/refused.mjpg",
    ],
)
def test_a_bad_device_url_gives_device_error(tmp_path: Path, url: str) -> None:
    (tmp_path / "junk.avi").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SourceFailure) as info:
        CameraSource(url.format(tmp=tmp_path), open_timeout_s=2)
    assert info.value.outcome == DEVICE_ERROR
    assert len(info.value.detail) > 15


def test_a_token_seen_again_after_the_hold_time_counts_again(tmp_path: Path) -> None:
    frames = [code(A), code(A)] + [empty(i) for i in range(10)] + [code(A)]  # gone for 1 s at 10 fps
    url = folder(tmp_path / "again", frames)
    with CameraSource(url, hold_s=0.5) as source:
        assert read_all(source) == [A, A]
    with CameraSource(url, hold_s=5) as source:
        assert read_all(source) == [A]


@pytest.mark.parametrize(("on_busy", "expected"), [("queue", [A, B]), ("ignore", [A])])
def test_a_new_token_while_the_result_is_shown_is_queued_or_ignored(
    tmp_path: Path, on_busy: str, expected: list[str]
) -> None:
    # played like a camera at 20 fps: B shows up 0.5 s after A, while A's result is on screen
    frames = [code(A)] + [empty(i) for i in range(10)] + [code(B)] * 2
    url = folder(tmp_path / "busy", frames)
    with CameraSource(url, realtime=True, folder_fps=20, on_busy=on_busy, busy_s=60) as source:
        got = [source.read(None, 30).data.decode()]
        got += read_all(source, timeout=0.5)
        assert got == expected
        ignored = source.stats().get("ignored_busy", 0)
        assert ignored >= 1 if on_busy == "ignore" else ignored == 0


def test_a_static_live_scene_is_not_decoded_again_but_a_code_appearing_is(tmp_path: Path) -> None:
    still = empty(5)
    frames = [still] * 25 + [code(A)] * 3
    with CameraSource(folder(tmp_path / "still", frames), realtime=True, folder_fps=50) as source:
        assert source.read(None, 30).data == A.encode()
        assert source.wait_finished(30)
        stats = source.stats()
    assert stats["gated"] >= 10
    assert stats["decoded"] + stats["gated"] + stats["dropped"] == len(frames)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a folder: a network camera for OpenCV's FFmpeg."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_stream_that_stops_is_a_device_error_until_it_is_back(http_dir: tuple[Path, str]) -> None:
    root, base = http_dir
    video = synth.write_video(root / "cam", [None, A, None], seed=3, fps=30, frames_per_text=8)
    with CameraSource(f"{base}/{video.name}", hold_s=0.2, open_timeout_s=5) as source:
        assert source.read(None, 30).data == A.encode()
        # the stream ends (a camera unplugged, a network cut): reads fail with DEVICE_ERROR...
        outcomes = []
        while len(outcomes) < 30 and DEVICE_ERROR not in outcomes:
            with pytest.raises(SourceFailure) as info:
                source.read(None, 0.3)
            outcomes.append(info.value.outcome)
        assert outcomes[-1] == DEVICE_ERROR and "stopped delivering frames" in info.value.detail
        # ...and the source reopens it by itself within a second or so: the code is read again
        assert source.read(None, 30).data == A.encode()


def frame(i: int) -> Frame:
    return Frame(np.zeros((2, 2), np.uint8), i, i / 30)


def test_the_live_slot_keeps_only_the_newest_frame() -> None:
    slot, stop = LatestSlot(blocking=False), threading.Event()
    for i in range(5):
        slot.put(frame(i), stop)  # nobody consumes: the older frames go stale and are dropped
    got = slot.get(0.1)
    assert got is not None and got.index == 4 and slot.dropped == 4
    assert slot.get(0.05) is None
    slot.end()
    assert slot.ended and slot.get(0.05) is None


def test_the_file_slot_makes_the_reader_wait_for_the_decoder() -> None:
    slot, stop = LatestSlot(blocking=True), threading.Event()
    put_done: list[int] = []

    def reader() -> None:
        for i in range(3):
            slot.put(frame(i), stop)
            put_done.append(i)
        slot.end()

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    assert put_done == [0]  # the second put waits until the first frame is taken
    got = []
    while (f := slot.get(5)) is not None:
        got.append(f.index)
    t.join(5)
    assert got == [0, 1, 2] and slot.dropped == 0


def test_a_watched_folder_reads_each_picture_dropped_later_once(tmp_path: Path) -> None:
    """``file:DIR?watch`` (the site tests' gate cameras): pictures already there are not read;
    each one that appears later is, once; a dot-file being written is not."""
    drop = tmp_path / "drop"
    drop.mkdir()
    assert cv2.imwrite(str(drop / "old.png"), code(A))  # shown before the camera looked
    with CameraSource(f"file:{drop}?watch") as source:
        with pytest.raises(SourceFailure) as nothing:
            source.read(None, 0.3)
        assert nothing.value.outcome == SOURCE_TIMEOUT
        assert cv2.imwrite(str(drop / ".half.png"), code(B))  # still being written: skipped
        assert cv2.imwrite(str(drop / "new.png"), code(B))
        assert source.read(None, 10).data == B.encode()
        with pytest.raises(SourceFailure):
            source.read(None, 0.3)
    with pytest.raises(SourceFailure, match="only option"):
        CameraSource(f"file:{drop}?loop")

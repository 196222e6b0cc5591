"""Frames from a camera URL, and the one-frame slot between the reader and the decoder.

URLs (``[devices] camera = ...``):

- ``/dev/videoN`` (or a ``/dev/v4l/by-id/...`` link): a V4L2 camera through OpenCV;
- ``file:PATH``: a video file, a single PNG/JPEG, or a folder of images read in natural sorted
  order (``frame_2`` before ``frame_10``); ``file:///abs/path`` works too;
- ``file:DIR?watch``: a drop folder, watched like a live scene: every image that appears in it
  later (not a dot-file: write ``.name`` then rename) is read once, with the wall clock as frame
  time; it may start empty. What gate tests and kiosks that receive pictures use;
- ``rtsp://``, ``rtsps://``, ``http://``, ``https://``: a network stream through FFmpeg.

Every opener raises :class:`CaptureError` with a sentence a person can act on.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from drivers.camera.images import sniff_image

log = logging.getLogger("drivers.camera")

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
WATCH_POLL_S = 0.01  # a drop folder is listed 100 times a second: a new picture waits <= 10 ms
WATCH_RETRIES = 50  # listings a half-written picture is retried for before it is skipped


class CaptureError(Exception):
    """The device or file cannot be opened or stopped delivering frames."""


@dataclass(slots=True)
class Frame:
    image: np.ndarray
    index: int
    t: float  # seconds: media time for files and folders, time.monotonic() for live sources
    read_at: float = 0.0  # time.monotonic() when the reader got it (for latency figures)


class FrameReader(Protocol):
    url: str
    live: bool  # a camera or stream (frames go stale); False for files, which wait for us
    fps: float

    def read(self) -> Frame | None:
        """The next frame; ``None`` at the end of a file; ``CaptureError`` when a live device fails."""
        ...

    def rewind(self) -> bool: ...

    def close(self) -> None: ...


class VideoReader:
    """``cv2.VideoCapture`` on a device, a stream or a video file."""

    def __init__(
        self, url: str, target: str | int, api: int, *, live: bool, params: list[int] | None = None
    ) -> None:
        self.url = url
        self.live = live
        self._target, self._api, self._params = target, api, params or []
        self._index = 0
        self._cap = self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1 <= fps <= 240 else 30.0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self._target, self._api, self._params)
        if not cap.isOpened():
            cap.release()
            what = "video file" if not self.live else "stream" if "://" in self.url else "camera"
            raise CaptureError(f"cannot open {what} {self.url}")
        if self.live:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # not every backend honours it; the slot drops the rest
        return cap

    def read(self) -> Frame | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            if self.live:
                raise CaptureError(f"{self.url} stopped delivering frames")
            return None
        self._index += 1
        if self.live:
            t = time.monotonic()
        else:
            ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            t = ms / 1000 if ms and ms > 0 else (self._index - 1) / self.fps
        return Frame(image, self._index - 1, t)

    def rewind(self) -> bool:
        """Reopen (a live device after a failure, or a file to loop it)."""
        self._cap.release()
        self._index = 0
        try:
            self._cap = self._open()
        except CaptureError:
            return False
        return True

    def close(self) -> None:
        self._cap.release()


def _natural_key(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


class FolderReader:
    """PNG/JPEG files of a folder (or one file), in natural sorted order, at ``fps`` of media time."""

    def __init__(self, url: str, paths: list[Path], fps: float, watch: Path | None = None) -> None:
        self.url = url
        self.live = False
        self.fps = fps
        self._paths = paths
        self._next = 0
        self.watch = watch  # the drop folder, listed again whenever every image in it was read
        if watch is not None:
            self._next = len(paths)  # pictures already there were shown before we looked
        self._closed = False
        self._tries: dict[Path, int] = {}

    def read(self) -> Frame | None:
        while True:
            while self._next < len(self._paths):
                i = self._next
                self._next += 1
                image = cv2.imread(str(self._paths[i]), cv2.IMREAD_COLOR)
                if image is None and self._retry_later(i):
                    break
                if image is None:
                    log.warning("%s: skipping %s, not a readable image", self.url, self._paths[i].name)
                    continue
                return Frame(image, i, time.monotonic() if self.watch else i / self.fps)
            if self.watch is None or self._closed:
                return None
            time.sleep(WATCH_POLL_S)
            seen = set(self._paths)
            self._paths += [p for p in _image_files(self.watch) if p not in seen]

    def _retry_later(self, i: int) -> bool:
        """A dropped picture still being written is read again on the next listings (for half
        a second), not skipped: whoever writes it need not know to rename."""
        if self.watch is None:
            return False
        path = self._paths[i]
        self._tries[path] = self._tries.get(path, 0) + 1
        if self._tries[path] > WATCH_RETRIES:
            return False
        del self._paths[i]
        self._next = i
        return True

    def rewind(self) -> bool:
        if self.watch is None:
            self._next = 0
        return True

    def close(self) -> None:
        """Also from another thread: a watching ``read`` returns None within ``WATCH_POLL_S``."""
        self._closed = True
        self._next = len(self._paths)


def _image_files(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir(), key=_natural_key):
        if p.name.startswith(".") or not p.is_file():
            continue
        try:
            with open(p, "rb") as f:
                if sniff_image(f.read(8)):
                    out.append(p)
        except OSError:
            continue
    return out


def open_reader(
    url: str,
    *,
    folder_fps: float = 10.0,
    open_timeout_s: float = 5.0,
    size: tuple[int, int] | None = (1280, 720),
) -> FrameReader:
    """The frame reader for a camera URL; ``CaptureError`` with the reason when it cannot open."""
    if url.startswith("file:"):
        target, _, query = url[len("file:") :].removeprefix("//").partition("?")
        path = Path(target)
        if not path.exists():
            raise CaptureError(f"{url}: no such file or folder")
        if query == "watch" and path.is_dir():
            return FolderReader(url, _image_files(path), folder_fps, watch=path)
        if query:
            raise CaptureError(f"{url}: the only option is ?watch, on a folder")
        if path.is_dir():
            files = _image_files(path)
            if not files:
                raise CaptureError(f"{url}: the folder holds no PNG or JPEG images")
            return FolderReader(url, files, folder_fps)
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError as exc:
            raise CaptureError(f"{url}: {exc.strerror or exc}") from None
        if sniff_image(head):
            return FolderReader(url, [path], folder_fps)
        return VideoReader(url, str(path), cv2.CAP_FFMPEG, live=False)
    if url.startswith(STREAM_SCHEMES):
        ms = int(open_timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return VideoReader(url, url, cv2.CAP_FFMPEG, live=True, params=params)
    if url.startswith("/dev/"):
        if not os.path.exists(url):
            raise CaptureError(f"no camera at {url} (is it plugged in? see `pos doctor`)")
        if not os.access(url, os.R_OK | os.W_OK):
            raise CaptureError(f"no permission to open {url} (add the user to the video group)")
        params = []
        if size:
            params = [cv2.CAP_PROP_FRAME_WIDTH, size[0], cv2.CAP_PROP_FRAME_HEIGHT, size[1]]
        return VideoReader(url, url, cv2.CAP_V4L2, live=True, params=params)
    raise CaptureError(
        f"unsupported camera URL {url!r}: use /dev/videoN, file:PATH (video, image or folder) or rtsp://..."
    )


class LatestSlot:
    """The bounded hand-over between reader and decoder: one frame, the newest.

    A live reader never waits: a frame the decoder has not taken yet is replaced (and counted in
    ``dropped``), since a stale frame is worth less than the current one. A file reader
    (``blocking=True``) waits until the decoder took the previous frame, so every frame is decoded.
    """

    def __init__(self, *, blocking: bool) -> None:
        self.blocking = blocking
        self.dropped = 0
        self._frame: Frame | None = None
        self._ended = False
        self._cond = threading.Condition()

    def put(self, frame: Frame, stop: threading.Event) -> None:
        with self._cond:
            while self.blocking and self._frame is not None and not stop.is_set():
                self._cond.wait(0.1)
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def end(self) -> None:
        """No more frames will come (end of file, or closing)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """The newest frame, waiting up to ``timeout``; ``None`` if none came (see ``ended``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._frame is None and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._frame is None

"""The demo's counter camera looking at a phone screen: each QR shown is a PNG in a folder.

``show(text)`` renders the phone screen's QR code (segno) to ``qr-NNNNN.png`` in ``folder`` and
opens ``drivers.sources.open_source("file:<that png>")``: the real ``CameraSource`` (OpenCV reads
the picture, zxing-cpp decodes it, the OWT filter and de-duplication run) that the terminal reads.
``PhoneScreenCamera`` is the ``TokenSource`` the terminal listens on; it hands each picture's
presentation on once, in the order shown.

Why one ``file:`` capture per picture and not one folder capture for the demo's life: a ``file:``
folder is listed once when it is opened and its frame times restart when it loops, so a picture
added later is never seen and the same picture shown again (a double spend) is taken for the
one still in view.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import threading
import time
from pathlib import Path

import segno

from drivers.sources import open_source
from pos.decision import PaymentRequest
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, Presentation, SourceFailure, TokenSource

log = logging.getLogger("pos.ui.demo.camera")

PREFIX = "qr-"
SCALE = 6  # pixels per module: a phone screen filling a good part of the frame


def write_qr_png(path: Path, text: str, scale: int = SCALE) -> Path:
    """The QR code of ``text`` (error correction M) as a PNG, written atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    segno.make_qr(text, error="m").save(str(tmp), kind="png", scale=scale, border=4)
    os.replace(tmp, path)
    return path


class PhoneScreenCamera:
    """A ``TokenSource``: the presentations of the pictures ``show`` puts in front of the camera."""

    def __init__(self, folder: Path, *, give_up_s: float = 10.0) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{PREFIX}*.png"):
            old.unlink()
        self.url = f"file:{folder}"
        self.give_up_s = give_up_s  # a picture that yields nothing in this long is taken away
        self.shown: list[Path] = []
        self._todo: queue.Queue[tuple[Path, str] | None] = queue.Queue()
        self._ready: collections.deque[tuple[Path, TokenSource, float]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._open_pictures, name="demo camera", daemon=True)
        self._thread.start()

    def show(self, text: str) -> Path:
        """Put a phone showing ``text`` in front of the camera (rendered off the caller's thread)."""
        with self._cond:
            if self._closed:
                raise SourceFailure(DEVICE_ERROR, f"{self.url}: the camera is closed")
            path = self.folder / f"{PREFIX}{len(self.shown) + 1:05d}.png"
            self.shown.append(path)
        self._todo.put((path, text))
        return path

    def _open_pictures(self) -> None:
        import drivers.camera.source  # noqa: F401 - OpenCV's import, before the first QR is shown

        while True:
            item = self._todo.get()
            if item is None:
                return
            path, text = item
            try:
                source = open_source(f"file:{write_qr_png(path, text)}")
            except (OSError, ValueError, SourceFailure) as exc:
                log.error("demo camera: cannot show %s: %s", path.name, exc)
                continue
            with self._cond:
                if self._closed:
                    source.close()
                    return
                self._ready.append((path, source, time.monotonic()))
                self._cond.notify_all()

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            with self._cond:
                while not self._ready and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SourceFailure(SOURCE_TIMEOUT, f"no new QR code within {timeout:g} s")
                    self._cond.wait(left)
                if self._closed:
                    raise SourceFailure(DEVICE_ERROR, f"{self.url}: the camera is closed")
                path, source, since = self._ready[0]
            try:
                presented = source.read(request, max(0.0, deadline - time.monotonic()))
            except SourceFailure as failure:
                if failure.outcome == SOURCE_TIMEOUT and time.monotonic() - since > self.give_up_s:
                    log.warning("demo camera: nothing readable in %s; taken away", path.name)
                    self._done(path, source)
                raise
            self._done(path, source)
            return presented

    def _done(self, path: Path, source: TokenSource) -> None:
        with self._cond:
            if self._ready and self._ready[0][0] == path:
                self._ready.popleft()
        source.close()

    def close(self) -> None:
        """Stop rendering, close every open capture (their threads are joined)."""
        with self._cond:
            self._closed = True
            ready = list(self._ready)
            self._ready.clear()
            self._cond.notify_all()
        self._todo.put(None)
        self._thread.join(10.0)
        for _path, source, _since in ready:
            with contextlib.suppress(Exception):
                source.close()

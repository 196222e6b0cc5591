"""``CameraSource``: a camera URL as a ``pos.ports.TokenSource`` of QR presentations.

    source = CameraSource("/dev/video0")                 # or "file:frames/", "rtsp://..."
    p = source.read(request, timeout=0.25)               # Presentation("text", b"OWT1:...", url)
    source.close()

Two worker threads per source::

    reader ──► LatestSlot (one frame) ──► decoder ──► dedupe, OWT filter ──► pending ──► read()

The reader pulls frames as fast as the device gives them. For a live camera the slot keeps only
the newest frame (latency beats completeness: a frame that waited is stale); for ``file:``
sources the reader waits for the decoder, so every frame is decoded, as fast as the CPU allows.
A static live scene (a 64x36 thumbnail comparison) in which nothing QR-like was seen is not
decoded again, and one whose QR-like thing the hard pass could not read gets the cheap pass only:
that is what keeps an idle camera cheap, even one looking at a bullseye. The whole chain runs
again when the scene changes, and at least every ``gate_max_skip`` frames.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import cv2
import numpy as np

from drivers.camera.capture import CaptureError, FolderReader, Frame, FrameReader, LatestSlot, open_reader
from drivers.camera.decoders import FrameDecoder, make_decoder
from drivers.camera.filters import Deduper, is_presentation, redact
from pos.decision import PaymentRequest
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, Presentation, SourceFailure

log = logging.getLogger("drivers.camera")

ON_BUSY = ("queue", "ignore")
GATE_SIZE = (64, 36)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """64x36 averages of about 100 pixels each (sensor noise mostly cancels), in about 0.2 ms."""
    w, h = GATE_SIZE
    return cv2.resize(
        cv2.resize(image, (w * 5, h * 5), interpolation=cv2.INTER_LINEAR),
        GATE_SIZE,
        interpolation=cv2.INTER_AREA,
    )


class CameraSource:
    """QR presentations from a camera, a video file, a folder of images or a stream.

    - ``decoder``: ``"zxing"`` (default), ``"zbar"`` or ``"opencv"``; ``hard``: ``"auto"`` runs
      the hard pass only on QR-like frames, ``"never"`` not at all (see ``decoders``).
    - ``hold_s``: the same text seen again within this (frame time) is the same presentation.
    - ``on_busy``: a new token decoded within ``busy_s`` after ``read`` returned one (the result is
      on screen) is kept for the next ``read`` (``"queue"``, at most ``max_pending``, each for at
      most ``pending_max_age_s``) or dropped (``"ignore"``: it is picked up again if still shown).
    - ``realtime``: the latest-frame slot drops stale frames; default True for devices and
      streams, False for files (then every frame is decoded). True on a file plays it at its frame
      rate like a camera. ``motion_gate`` (default: ``realtime``) skips decoding static scenes.
    - ``loop``: replay a file source from the start when it ends.

    Opening fails with ``SourceFailure(DEVICE_ERROR)`` and the reason. ``read`` waits up to its
    timeout, then raises ``SourceFailure(SOURCE_TIMEOUT)`` when nothing new came, or
    ``SourceFailure(DEVICE_ERROR)`` when a live device or stream is failing (it is reopened every
    second, and the source goes on by itself when it is back).
    """

    def __init__(
        self,
        url: str,
        decoder: str = "zxing",
        *,
        hard: str = "auto",
        hold_s: float = 3.0,
        on_busy: str = "queue",
        busy_s: float = 3.0,
        max_pending: int = 4,
        pending_max_age_s: float = 20.0,
        realtime: bool | None = None,
        motion_gate: bool | None = None,
        gate_threshold: float = 1.5,
        gate_max_skip: int = 30,
        loop: bool = False,
        folder_fps: float = 10.0,
        open_timeout_s: float = 5.0,
        size: tuple[int, int] | None = (1280, 720),
    ) -> None:
        if on_busy not in ON_BUSY:
            raise ValueError(f"on_busy must be one of {ON_BUSY}, not {on_busy!r}")
        self.url = url
        try:
            chain = FrameDecoder(make_decoder(decoder), hard=hard)
        except (ImportError, OSError) as exc:  # pyzbar without libzbar0, a broken wheel
            raise SourceFailure(DEVICE_ERROR, f"QR decoder {decoder!r} is not usable: {exc}") from None
        try:
            self._reader: FrameReader = open_reader(
                url, folder_fps=folder_fps, open_timeout_s=open_timeout_s, size=size
            )
        except CaptureError as exc:
            raise SourceFailure(DEVICE_ERROR, str(exc)) from None
        except cv2.error as exc:
            raise SourceFailure(DEVICE_ERROR, f"cannot open {url}: {exc}") from None
        self.chain = chain
        self.realtime = self._reader.live if realtime is None else realtime
        self.motion_gate = self.realtime if motion_gate is None else motion_gate
        self.gate_threshold, self.gate_max_skip = gate_threshold, gate_max_skip
        self.on_busy, self.busy_s = on_busy, busy_s
        self.max_pending, self.pending_max_age_s = max_pending, pending_max_age_s
        self.loop = loop
        self._dedupe = Deduper(hold_s)
        self._others = Deduper(hold_s)  # non-OWT texts: one log line per sighting, not per frame
        self._busy_log = Deduper(hold_s)
        self._slot = LatestSlot(blocking=not self.realtime)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._pending: collections.deque[tuple[float, str, float]] = collections.deque()
        self.last_frame_at: float | None = None  # when the frame of the last delivered code was read
        self._busy_until = 0.0
        self._error: str | None = None
        self._decoder_done = False
        self._stats: dict[str, float] = collections.defaultdict(float)
        self._threads = [
            threading.Thread(target=self._read_loop, name=f"camera-reader {url}", daemon=True),
            threading.Thread(target=self._decode_loop, name=f"camera-decoder {url}", daemon=True),
        ]
        for t in self._threads:
            t.start()

    # --- the TokenSource protocol -----------------------------------------------------------------

    def read(self, request: PaymentRequest | None = None, timeout: float = 1.0) -> Presentation:
        """The next new OWT presentation within ``timeout`` seconds (``request`` is not used)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                while self._pending and now - self._pending[0][0] > self.pending_max_age_s:
                    seen_at, _, _ = self._pending.popleft()
                    log.info("%s: dropped a queued QR presentation seen %.0f s ago", self.url, now - seen_at)
                    self._stats["expired"] += 1
                if self._pending:
                    _, text, self.last_frame_at = self._pending.popleft()
                    self._busy_until = now + self.busy_s
                    self._stats["delivered"] += 1
                    return Presentation("text", text.encode("utf-8"), self.url)
                if self._stop.is_set():
                    raise SourceFailure(DEVICE_ERROR, f"{self.url}: the camera source is closed")
                left = deadline - now
                if left <= 0:
                    if self._error is not None:  # failing for the whole wait (it may recover)
                        raise SourceFailure(DEVICE_ERROR, self._error)
                    raise SourceFailure(SOURCE_TIMEOUT, f"no new OWT QR code within {timeout:g} s")
                self._cond.wait(left)

    def close(self) -> None:
        """Stop both threads and release the device (idempotent)."""
        self._stop.set()
        if isinstance(self._reader, FolderReader) and self._reader.watch is not None:
            self._reader.close()  # a watching folder waits for pictures: tell it to stop
        self._slot.end()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- state for tests, benchmarks and `pos doctor` ----------------------------------------------

    @property
    def finished(self) -> bool:
        """A file source has been read and decoded to its end (never true for live sources)."""
        with self._cond:
            return self._decoder_done

    def wait_finished(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._decoder_done:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stats(self) -> dict[str, Any]:
        """Counters: frames read/decoded/dropped/gated, decode wall and CPU time, presentations."""
        with self._cond:
            out: dict[str, Any] = dict(self._stats)
        out["dropped"] = self._slot.dropped
        return out

    # --- the threads --------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        reader = self._reader
        start_wall: float | None = None
        try:
            while not self._stop.is_set():
                try:
                    frame = reader.read()
                except CaptureError as exc:
                    self._device_failed(str(exc))
                    continue
                except cv2.error as exc:
                    self._device_failed(f"{self.url}: {exc}")
                    continue
                if frame is None:  # end of a file
                    if self.loop and reader.rewind():
                        start_wall = None
                        continue
                    break
                if self._error is not None:
                    self._set_error(None)
                    log.info("%s: delivering frames again", self.url)
                self._count(frames_read=1)
                if self.realtime and not reader.live:  # play a file at its own pace, like a camera
                    if start_wall is None:
                        start_wall = time.monotonic() - frame.t
                    delay = start_wall + frame.t - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                frame.read_at = time.monotonic()
                self._slot.put(frame, self._stop)
        except Exception:
            log.exception("%s: the camera reader failed", self.url)
            self._set_error(f"{self.url}: the camera reader failed (see the log)")
        finally:
            self._slot.end()
            reader.close()

    def _device_failed(self, message: str) -> None:
        if self._error is None:
            log.error("%s; reopening every second", message)
        self._set_error(message)
        while not self._stop.wait(1.0):
            if self._reader.rewind():
                return

    def _set_error(self, message: str | None) -> None:
        with self._cond:
            self._error = message
            self._cond.notify_all()

    def _decode_loop(self) -> None:
        ref: np.ndarray | None = None  # thumbnail of the last frame that got the whole chain
        ref_candidate = True  # whether that frame looked QR-like
        skipped = 0
        try:
            while not self._stop.is_set():
                frame = self._slot.get(timeout=0.2)
                if frame is None:
                    if self._slot.ended:
                        break
                    continue
                cpu = time.thread_time()
                hard: str | None = None
                if self.motion_gate:
                    thumb = thumbnail(frame.image)
                    static = (
                        ref is not None
                        and skipped < self.gate_max_skip
                        and float(cv2.norm(thumb, ref, cv2.NORM_L1)) / thumb.size < self.gate_threshold
                    )
                    if static and not ref_candidate:  # the same empty scene: nothing to look for
                        skipped += 1
                        self._count(gated=1, cpu_idle_s=time.thread_time() - cpu, idle_frames=1)
                        continue
                    if static:  # the same QR-like scene the hard pass failed on: the cheap pass only
                        skipped += 1
                        hard = "never"
                    else:
                        ref, skipped = thumb, 0
                result = self.chain.decode(frame.image, hard)
                if hard is None:
                    ref_candidate = result.candidate
                used = time.thread_time() - cpu
                self._count(
                    decoded=1,
                    decode_ms=result.ms,
                    cpu_s=used,
                    hard=1 if (result.stage or "").startswith("hard") else 0,
                    idle_frames=0 if result.candidate else 1,
                    cpu_idle_s=0 if result.candidate else used,
                )
                for text in result.texts:
                    self._found(text, frame)
        except Exception:
            log.exception("%s: the QR decoder thread failed", self.url)
            self._set_error(f"{self.url}: the QR decoder failed (see the log)")
        finally:
            with self._cond:
                self._decoder_done = True
                self._cond.notify_all()

    def _count(self, **values: float) -> None:
        with self._cond:
            for k, v in values.items():
                self._stats[k] += v

    def _found(self, text: str, frame: Frame) -> None:
        if not is_presentation(text):
            if self._others.fresh(text, frame.t):
                log.info("%s: ignoring a QR code that is not an OWT presentation: %s", self.url, redact(text))
                self._count(ignored_other=1)
            return
        if not self._dedupe.fresh(text, frame.t):
            self._count(duplicates=1)
            return
        with self._cond:
            now = time.monotonic()
            if now < self._busy_until and self.on_busy == "ignore":
                self._dedupe.forget(text)  # still shown when the result screen ends: read it then
                self._stats["ignored_busy"] += 1
                if self._busy_log.fresh(text, frame.t):
                    log.info("%s: a new QR code while the last result is shown; ignored", self.url)
                return
            if len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self._stats["overflow"] += 1
                log.warning("%s: too many queued QR presentations; dropped the oldest", self.url)
            self._pending.append((now, text, frame.read_at))
            self._stats["presentations"] += 1
            self._cond.notify_all()

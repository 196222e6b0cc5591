"""The seams the UI needs beyond ``pos.ports``, and in-memory simulators for each of them.

Others plug in here:

- sync (``pos/sync``): a ``SyncProbe``, a callable returning a ``SyncStatus`` (or None: "offline");
- vending (the MDB helper): a ``VendSession``: the machine sends the price, the terminal answers
  VEND APPROVED / DENIED, the machine reports whether it dispensed;
- gate relays (the relay helper): any ``pos.ports.Actuator``; ``open`` must return promptly
  (schedule the close, do not sleep);
- the journal (``pos``): a ``VoidFn``: ``void(seq, reason)`` appends a reversal row for ``seq``
  and returns its seq (``Journal.reverse``; ``KeyError`` / ``ValueError`` / ``PosError`` when
  refused), called on the core thread;
- any device may offer ``health() -> DeviceHealth`` for the status bar.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pos.decision import PaymentRequest
from pos.ports import (
    DEVICE_ERROR,
    SOURCE_TIMEOUT,
    DeviceHealth,
    Presentation,
    SourceFailure,
    VendRequest,
)

log = logging.getLogger("pos.ui.devices")


@dataclass(frozen=True, slots=True)
class SyncStatus:
    online: bool
    last_upload: int | None = None  # epoch seconds of the last batch the collector acknowledged
    detail: str = ""


SyncProbe = Callable[[], SyncStatus | None]


def sync_status_of(doc: dict[str, object], now: int, within_s: int) -> SyncStatus | None:
    """The network cell from the sync state file (``pos.sync.state``): online when the last
    success is within ``within_s`` and nothing failed since (an upload error, or a list refresh
    that failed after it); None when the terminal never synced and never failed."""
    success, error, lists = doc.get("last_success"), doc.get("last_error"), doc.get("last_lists")
    detail = ""
    if isinstance(error, dict):
        why = str(error.get("error") or error.get("chain") or "")
        detail = "collector unreachable" if why.startswith(("gave up", "deadline")) else why[:60]
    if not isinstance(success, int):
        return SyncStatus(False, None, detail) if detail else None
    if isinstance(lists, dict) and lists.get("errors") and int(str(lists.get("time") or 0)) >= success:
        detail = detail or "collector unreachable"
    return SyncStatus(not detail and error is None and now - success <= within_s, success, detail)


VoidFn = Callable[[int, str], int]  # (payment seq, reason) -> reversal seq


class VendSession(Protocol):
    def wait_selection(self, timeout: float) -> VendRequest | None:
        """Block up to ``timeout`` for the customer's selection; None when there is none."""
        ...

    def approve(self, request: VendRequest, seq: int) -> bool:
        """VEND APPROVED for a committed payment; True when the machine reports VEND SUCCESS."""
        ...

    def deny(self, request: VendRequest) -> None:
        """VEND DENIED: the payment was declined; the machine returns to its idle state."""
        ...

    def cancel(self) -> None:
        """The session ends without a payment (timeout, customer cancel)."""
        ...


# -- simulators ---------------------------------------------------------------------------------
Maker = Callable[[PaymentRequest], Presentation]


class QueueSource:
    """A ``TokenSource`` fed in-process: each item makes a presentation from the live request.

    The demo's keys and the tests feed it; items are functions of the request, so an NFC tap can
    sign the challenge the terminal is asking with right now. A keyboard-wedge burst is fed here
    as text, so the wedge is one more token source.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._q: queue.Queue[Maker | SourceFailure | None] = queue.Queue()
        self._closed = False
        self.reads = 0

    def feed(self, maker: Maker) -> None:
        self._q.put(maker)

    def feed_text(self, text: str | bytes) -> None:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        self._q.put(lambda _request: Presentation("text", data, self.url))

    def feed_bytes(self, data: bytes) -> None:
        self._q.put(lambda _request: Presentation("bytes", data, self.url))

    def fail(self, outcome: str, detail: str = "") -> None:
        self._q.put(SourceFailure(outcome, detail))

    def drain(self) -> int:
        n = 0
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                return n
            n += 1

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        if self._closed:
            raise SourceFailure(DEVICE_ERROR, "closed")
        self.reads += 1
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise SourceFailure(SOURCE_TIMEOUT) from None
        if item is None:
            raise SourceFailure(DEVICE_ERROR, "closed")
        if isinstance(item, SourceFailure):
            raise item
        return item(request)

    def close(self) -> None:
        self._closed = True
        self._q.put(None)


@dataclass
class RecordingRelay:
    """A gate relay that records each opening (perf_counter time, seconds, and a probe's answer).

    ``probe`` runs inside ``open``, before it returns: a test passes one that reads the journal
    from its own connection, proving the payment was committed when the relay was switched.
    """

    probe: Callable[[], object] | None = None
    opened: list[tuple[float, float, object]] = field(default_factory=list)
    fail: bool = False
    event: threading.Event = field(default_factory=threading.Event)

    def open(self, seconds: float) -> None:
        if self.fail:
            raise OSError("relay does not answer")
        seen = self.probe() if self.probe is not None else None
        self.opened.append((time.perf_counter(), seconds, seen))
        self.event.set()

    def health(self) -> DeviceHealth:
        return DeviceHealth("relay", not self.fail, "no answer" if self.fail else "")


class LogRelay:
    """``relay = "log:"``: a dry-run relay that only logs (no hardware)."""

    def open(self, seconds: float) -> None:
        log.info("relay open %.1f s (log: relay, no hardware)", seconds)

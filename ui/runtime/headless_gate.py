"""The gate without Textual (``pos run --headless``): one thread per token source, read ->
decide -> commit -> relay, one JSON log line per decision."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pos.ports import DEVICE_ERROR, TokenSource
from ui.runtime.acceptance import listen
from ui.runtime.context import UiContext
from ui.runtime.logs import log_attempt
from ui.runtime.readiness import Service

log = logging.getLogger("pos.run")
SERVICE_CHECK_S = 1.0  # how soon a gate notices its relay is gone or back, and says so


def serve_gate_headless(
    ctx: UiContext,
    stop: threading.Event,
    on_approved: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """The gate without Textual: one thread per source, read -> decide -> commit -> relay.

    ``on_approved`` runs on the lane after each approved payment (the relay has already switched):
    the background sync's ``wake``, so the payment is uploaded at once instead of next interval.
    ``on_stop`` runs first on the way out (stopping that sync), before the lanes and the core close.
    """
    s = ctx.settings
    gate = ctx.gate()

    def on_outcome(url: str, outcome: str, detail: str) -> None:
        ctx.note_device(url, outcome != DEVICE_ERROR, detail)
        level = logging.ERROR if outcome == DEVICE_ERROR else logging.INFO
        log.log(
            level, "source outcome", extra={"fields": {"source": url, "outcome": outcome, "detail": detail}}
        )

    service = Service()
    service.update(ctx.out_of_service())

    def lane(source: TokenSource) -> None:
        while not stop.is_set():
            won = listen(source, lambda: not stop.is_set(), lambda _u: True, gate.new_request,
                         s.read_slice_s, on_outcome, stop.wait)  # fmt: skip
            if won is None:
                continue
            try:
                # Out of service, a token is still read, and declined at once with nothing
                # committed: a scan at a dead gate must not wait in the port to be charged later.
                attempt = gate.serve(*won) if service.ok else gate.refuse(*won, service.reasons)
                log_attempt(attempt, "gate")
                if on_approved is not None and attempt.decision is not None and attempt.decision.approved:
                    on_approved()
            except Exception:
                log.exception("gate lane failed on one presentation")

    threads = [
        threading.Thread(target=lane, args=(src,), name=f"lane {src.url}", daemon=True) for src in ctx.sources
    ]
    for t in threads:
        t.start()
    log.info("ready", extra={"fields": {"lanes": len(threads), "fare": s.fare, "in_service": service.ok}})
    try:
        while not stop.wait(SERVICE_CHECK_S):
            service.update(ctx.out_of_service())
    finally:
        if on_stop is not None:
            on_stop()
        deadline = time.monotonic() + s.read_slice_s + 2
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        ctx.close()
        log.info("stopped")
    return 0

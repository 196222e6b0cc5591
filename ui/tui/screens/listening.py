"""A screen that runs payment rounds: one reader worker per token source, first presentation wins.

Each source has one thread worker for the screen's life. While a round is open it calls
``source.read(request, slice)`` in a loop (``ui.runtime.acceptance.listen``); the first presentation
claims the round, is decided on the core thread and posted; the other readers find the round
closed and go back to waiting. A reader is never started twice for one source, so a read still
running when a round ends cannot swallow the next round's token: text that arrives late is carried
into the round now open; NFC bytes, signed over the old request, are dropped. Driver outcomes
(phone removed, not a wallet, device error) are posted as notes while the round goes on.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import replace

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from pos.decision import PaymentRequest
from pos.ports import DEVICE_ERROR, TokenSource
from ui.runtime.acceptance import Attempt, Round, decide, listen
from ui.tui.screens.base import PosScreen

log = logging.getLogger("pos.ui.listen")
IDLE_WAIT_S = 0.5  # a reader re-checks its screen this often between rounds


class Decided(Message):
    def __init__(self, round_no: int, attempt: Attempt) -> None:
        super().__init__()
        self.round_no = round_no
        self.attempt = attempt


class SourceNote(Message):
    def __init__(self, round_no: int, url: str, outcome: str, detail: str) -> None:
        super().__init__()
        self.round_no = round_no
        self.url = url
        self.outcome = outcome
        self.detail = detail


class ListeningScreen(PosScreen):
    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.round: Round | None = None
        self._rounds = 0
        self._readers = False
        self._changed = threading.Condition()
        self._closed = False

    @property
    def listening(self) -> bool:
        return self.round is not None and self.round.active

    def start_round(self, amount: int) -> Round:
        self.stop_round()
        self._rounds += 1
        rnd = Round(self._rounds, amount)
        with self._changed:
            self.round = rnd
            self._changed.notify_all()
        if not self._readers:
            self._readers = True
            for source in self.ctx.all_sources:
                self._reader(source)
        return rnd

    def stop_round(self) -> None:
        if self.round is not None:
            self.round.stop()

    def current(self, round_no: int) -> bool:
        return self.round is not None and self.round.number == round_no

    def on_unmount(self) -> None:
        self.stop_round()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _open_round(self) -> Round | None:
        """Block (briefly) until a round is open; None when the screen is going away."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self.listening, IDLE_WAIT_S)
            return None if self._closed or not self.listening else self.round

    @work(thread=True, group="listen", exit_on_error=False)
    def _reader(self, source: TokenSource) -> None:
        ctx = self.ctx
        worker = get_current_worker()

        def alive() -> bool:
            return not (worker.is_cancelled or self._closed)

        last_round = 0
        while alive():
            rnd = self._open_round()
            if rnd is None:
                continue
            if rnd.number != last_round:
                last_round = rnd.number
                discard = getattr(source, "discard_pending", None)
                if callable(discard):
                    discard()  # a scan left over from before this payment is not for it

            def new_request(rnd: Round = rnd) -> PaymentRequest:
                return PaymentRequest(rnd.amount, ctx.currency, ctx.clock(), ctx.terminal_id, os.urandom(16))

            def on_outcome(url: str, outcome: str, detail: str, rnd: Round = rnd) -> None:
                ctx.note_device(url, outcome != DEVICE_ERROR, detail)
                self.post_message(SourceNote(rnd.number, url, outcome, detail))

            def active(rnd: Round = rnd) -> bool:
                return rnd.active and alive()

            won = listen(
                source,
                active,
                lambda _url: True,
                new_request,
                ctx.settings.read_slice_s,
                on_outcome,
                rnd.wait,
            )
            if won is None:
                continue
            presented, request, arrived = won
            now_open = self.round
            if now_open is not rnd and presented.kind == "text" and now_open is not None and now_open.active:
                rnd, request = now_open, replace(request, amount=now_open.amount)  # a late QR/scan
            if not rnd.claim(source.url):
                log.info("presentation from %s after its round closed: ignored", source.url)
                continue
            ctx.note_device(source.url, True)
            attempt = decide(ctx.core, presented, request, arrived, ctx.clock)
            self.post_message(Decided(rnd.number, attempt))

"""The terminal on one thread of its own.

The journal's SQLite connection belongs to the thread that opened it, so every call into the
``Terminal`` (accepting, summaries, history, closing) runs on this one thread. Device workers
block on ``call``; the UI loop awaits ``run`` and never blocks. One thread also serialises the
gate's check-accept-open sequence, so two readers at one gate cannot both pass the same wallet.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import ParamSpec, TypeVar

from pos.decision import Decision, PaymentRequest
from pos.ports import Presentation
from pos.terminal import Terminal
from ui.runtime.devices import VoidFn

T = TypeVar("T")
P = ParamSpec("P")


class Core:
    def __init__(self, factory: Callable[[], Terminal]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pos-core")
        self._closed = False
        self._thread: int | None = None
        try:
            self.terminal: Terminal = self._pool.submit(self._open, factory).result()
        except BaseException:
            self._pool.shutdown(wait=False)
            raise

    def _open(self, factory: Callable[[], Terminal]) -> Terminal:
        self._thread = threading.get_ident()
        return factory()

    @property
    def on_core_thread(self) -> bool:
        return threading.get_ident() == self._thread

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._pool.submit(fn, *args, **kwargs)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the core thread and wait (from a worker thread, never the UI loop)."""
        if self.on_core_thread:
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn`` on the core thread from the UI loop."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args, **kwargs))

    def accept(self, presentation: Presentation, request: PaymentRequest) -> Decision:
        return self.call(accept_on, self.terminal, presentation, request)

    def close(self, now: int | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.submit(self.terminal.close, int(time.time()) if now is None else now).result()
        finally:
            self._pool.shutdown(wait=True)


def journal_void(core: Core, clock: Callable[[], int]) -> VoidFn | None:
    """``void(seq, reason)`` through ``Journal.reverse`` (a reversal row, never a deletion); call it
    on the core thread. None when the journal has no reversal API."""
    if not callable(getattr(core.terminal.journal, "reverse", None)):
        return None

    def void(seq: int, reason: str) -> int:
        return int(core.terminal.journal.reverse(seq, clock(), reason))

    return void


def accept_on(terminal: Terminal, presentation: Presentation, request: PaymentRequest) -> Decision:
    """One presentation through the core; text is a QR/scanner/wedge token, bytes an NFC answer.

    A text presentation is a QR-mode request (SPEC 3.2: ``challenge`` None), whatever challenge
    an NFC reader beside it was offering; an NFC-mode token shown as text is then declined
    ``challenge_mismatch`` by the core, as SPEC 3.2 requires.
    """
    if presentation.kind == "bytes":
        return terminal.accept_bytes(presentation.data, request)
    if request.challenge is not None:
        request = replace(request, challenge=None)
    return terminal.accept_text(presentation.data, request)

"""The transit gate: a fixed fare, no confirmation, the fastest path.

One worker per source loops read -> ``Gate.serve`` (passback check, accept with its durable
commit, relay, all on the core thread) and only then posts the attempt to this screen. The relay
never waits for drawing; the screen turns green or red, readable from a metre away, and returns
to the idle prompt by itself.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Label
from textual.worker import get_current_worker

from pos.ports import DEVICE_ERROR, TokenSource
from ui.i18n import N_, _
from ui.runtime.acceptance import Attempt, Gate, listen
from ui.runtime.snapshot import StatusSnapshot
from ui.tui.screens.base import PosScreen, key_hints, out_of_service_text, redraw
from ui.tui.widgets.money import MoneyDisplay
from ui.tui.widgets.result_banner import APPROVED, DECLINED, NOTICE, ResultBanner
from ui.tui.widgets.status_bar import StatusBar

HINTS = (("F3", N_("History")), ("F4", N_("Settings")))


class GateResult(Message):
    def __init__(self, attempt: Attempt) -> None:
        super().__init__()
        self.attempt = attempt


class GateNote(Message):
    def __init__(self, url: str, outcome: str) -> None:
        super().__init__()
        self.url = url
        self.outcome = outcome


class GateScreen(PosScreen):
    accepts_scans = True
    BINDINGS: ClassVar[list[BindingType]] = [("f3", "history"), ("f4", "settings")]

    def __init__(self) -> None:
        super().__init__(classes="mode-screen gate")
        self.gate: Gate | None = None
        self.shown: Attempt | None = None
        self._stopped = threading.Event()
        self._reset_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="gate-idle", classes="centred"):
            yield Label(_("Tap or scan to pass"), id="gate-prompt", markup=False)
            yield MoneyDisplay(self.ctx.settings.fare, self.ctx.currency, id="gate-fare")
            yield Label(_("Fare"), classes="caption")
        with Vertical(id="gate-result"):
            yield ResultBanner(self.ctx.currency, audience="customer")
        yield key_hints(HINTS, self.extra_hints)

    def on_mount(self) -> None:
        ctx = self.ctx
        self.gate = ctx.gate()
        for source in ctx.all_sources:
            self._lane(source)
        self.watch(self.app, "status", self._service, init=True)

    @redraw
    def _service(self, status: StatusSnapshot | None) -> None:
        down = out_of_service_text(status)
        self.set_class(bool(down), "-out-of-service")
        self.query_one("#gate-prompt", Label).update(down or _("Tap or scan to pass"))

    def _in_service(self) -> bool:
        status = self.pos_app.status
        return status is None or not status.out_of_service

    def relabel(self) -> None:
        if self.shown is not None:
            self._draw(self.shown)

    def on_unmount(self) -> None:
        self._stopped.set()

    def scanned(self, data: bytes) -> None:
        if self.ctx.wedge_source is not None:
            self.ctx.wedge_source.feed_text(data)

    @work(thread=True, group="gate", exit_on_error=False)
    def _lane(self, source: TokenSource) -> None:
        gate = self.gate
        assert gate is not None
        ctx = self.ctx
        worker = get_current_worker()

        def on_outcome(url: str, outcome: str, detail: str) -> None:
            ctx.note_device(url, outcome != DEVICE_ERROR, detail)
            self.post_message(GateNote(url, outcome))

        while not self._stopped.is_set() and not worker.is_cancelled:
            if not self._in_service():  # no token is read, so none is taken
                self._stopped.wait(ctx.settings.read_slice_s)
                continue
            won = listen(
                source,
                lambda: not self._stopped.is_set() and not worker.is_cancelled and self._in_service(),
                lambda _url: True,
                gate.new_request,
                ctx.settings.read_slice_s,
                on_outcome,
                self._stopped.wait,
            )
            if won is None:
                continue  # stopped, or out of service: the loop's head decides
            attempt = gate.serve(*won)  # the relay has switched (or not) before anything is drawn
            self.post_message(GateResult(attempt))

    def on_gate_result(self, message: GateResult) -> None:
        self._draw(message.attempt)
        self.run_worker(self.pos_app.refresh_status(), exclusive=True, group="status")

    def on_gate_note(self, message: GateNote) -> None:
        self._draw(Attempt(message.url, None, message.outcome))

    @redraw
    def _draw(self, attempt: Attempt) -> None:
        self.shown = attempt
        decision = attempt.decision
        if decision is None:
            level, verdict = NOTICE, _("Try again")
        elif decision.approved:
            level, verdict = APPROVED, _("Please pass")
        else:
            level, verdict = DECLINED, _("No entry")
        for lv in (APPROVED, DECLINED, NOTICE):
            self.set_class(lv == level, f"-{lv}")
        self.add_class("-showing")
        amount = decision.amount if decision is not None and decision.approved else None
        self.query_one(ResultBanner).show(level, verdict, attempt.code, amount)
        if self._reset_timer is not None:
            self._reset_timer.stop()
        self._reset_timer = self.set_timer(self.ctx.settings.result_s, self._idle)

    def _idle(self) -> None:
        self.shown = None
        self.remove_class("-showing", f"-{APPROVED}", f"-{DECLINED}", f"-{NOTICE}")

    def action_history(self) -> None:
        self.pos_app.action_history()

    def action_settings(self) -> None:
        self.pos_app.action_settings()

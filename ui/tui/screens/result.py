"""The large APPROVED / DECLINED screen of the counter; it goes away by itself after a few seconds.

One instance is installed for the App's life and redrawn for each result (``show``), so a result
is on screen within a frame of the decision instead of after a compose and mount.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.timer import Timer

from ui.i18n import N_, _
from ui.runtime.acceptance import Attempt
from ui.tui.screens.base import PosScreen, redraw
from ui.tui.widgets.result_banner import APPROVED, DECLINED, LEVELS, NOTICE, ResultBanner

KEEP_KEYS = frozenset({"f2"})  # the language key switches the result's language, it does not close it
NAME = "result"


def verdict_of(attempt: Attempt) -> tuple[str, str]:
    """(level, verdict msgid) for an attempt."""
    if attempt.decision is None:
        return NOTICE, N_("NOT CHARGED")
    if attempt.decision.approved:
        return APPROVED, N_("APPROVED")
    return DECLINED, N_("DECLINED")


class ResultScreen(PosScreen):
    def __init__(self) -> None:
        super().__init__(classes="result-screen")
        self.level = NOTICE
        self.verdict = ""  # an English msgid, translated when drawn
        self.code: str | None = None
        self.amount: int | None = None
        self.decided = 0.0  # perf_counter of the decision, for the latency figure
        self._timer: Timer | None = None

    def set_result(
        self, level: str, verdict: str, code: str | None, amount: int | None, decided: float = 0.0
    ) -> None:
        self.level, self.verdict, self.code, self.amount, self.decided = level, verdict, code, amount, decided
        if self.is_mounted:
            self._draw()

    def set_attempt(self, attempt: Attempt, amount: int) -> None:
        level, verdict = verdict_of(attempt)
        self.set_result(level, verdict, attempt.code, amount, attempt.decided)

    def compose(self) -> ComposeResult:
        yield ResultBanner(self.ctx.currency, id="result-banner")

    def on_mount(self) -> None:
        self._draw()

    def relabel(self) -> None:
        self._draw()

    @redraw
    def _draw(self) -> None:
        for lv in LEVELS:
            self.set_class(lv == self.level, f"-{lv}")
        self.query_one(ResultBanner).show(
            self.level, _(self.verdict) if self.verdict else "", self.code, self.amount
        )

    def on_screen_resume(self) -> None:
        self.restart_timer()

    def restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.ctx.settings.result_s, self._timeout)

    def _timeout(self) -> None:
        if self.is_current:
            self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        if event.key in KEEP_KEYS:
            return
        event.stop()
        if self.is_current:
            self.dismiss(None)

    def on_click(self) -> None:
        if self.is_current:
            self.dismiss(None)

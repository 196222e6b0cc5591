"""The terminal's one Textual App: a Screen per mode (counter, vending, gate) over one context.

The App owns what every screen shares: the status bar's data (refreshed on the core thread every
second and after each decision), the language, the keyboard-wedge detector in front of all key
handling, and the operator actions (history, settings and void, the last two behind the PIN).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer

from pos.errors import PosError
from pos.ports import DeviceHealth
from pos.terminal import Terminal
from ui.i18n import LANGUAGES, N_, _, active, use
from ui.i18n.money import format_money
from ui.runtime import readiness
from ui.runtime import snapshot as status_mod
from ui.runtime.acceptance import Attempt
from ui.runtime.context import UiContext
from ui.runtime.snapshot import StatusSnapshot
from ui.runtime.wedge import Release, Scanned
from ui.tui.screens.base import PosScreen
from ui.tui.screens.counter import CounterScreen
from ui.tui.screens.gate import GateScreen
from ui.tui.screens.history import HistoryScreen
from ui.tui.screens.pin import PinScreen
from ui.tui.screens.result import NAME as RESULT
from ui.tui.screens.result import ResultScreen, verdict_of
from ui.tui.screens.settings import SettingsScreen
from ui.tui.screens.vending import VendingScreen
from ui.tui.widgets.result_banner import NOTICE

log = logging.getLogger("pos.ui")

VOIDED = "voided"
VOID_UNAVAILABLE = "void_unavailable"
VOID_FAILED = "void_failed"


def mode_screen(mode: str) -> Screen[Any]:
    return {"counter": CounterScreen, "vending": VendingScreen, "gate": GateScreen}[mode]()


def last_row(terminal: Terminal) -> dict[str, Any] | None:
    """On the core thread: the journal's newest row (seqs are dense from 1, SPEC 3.4 chain)."""
    count = terminal.journal.summary()["payments"]
    return next(terminal.journal.rows(count - 1), None) if count else None


class PosApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere (sim.demo.app)
    TITLE = "OWT POS"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "toggle_language", show=False),
        Binding("ctrl+q", "quit", show=False, priority=True),
    ]

    status: reactive[StatusSnapshot | None] = reactive(None, always_update=True)

    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        use(ctx.settings.language)
        self.ready_at: float | None = None
        self._wedge_timer: Timer | None = None

    def get_default_screen(self) -> Screen[Any]:
        return mode_screen(self.ctx.settings.mode)

    async def on_mount(self) -> None:
        self.install_screen(ResultScreen(), RESULT)
        # Compose the result screen now (pushed and popped before any frame is drawn), so the
        # first payment's result is not the one that pays for composing it.
        self.push_screen(RESULT)
        self.pop_screen()
        await self.refresh_status()
        self.set_interval(self.ctx.status_every_s, self._tick)
        self._on_sigterm(self.exit)
        self.call_after_refresh(self._mark_ready)

    def _on_sigterm(self, handler: Callable[[], object] | None) -> None:
        """systemd stops the terminal with SIGTERM: leave the App so the journal head is sealed."""
        try:
            loop = asyncio.get_running_loop()
            if handler is None:
                loop.remove_signal_handler(signal.SIGTERM)
            else:
                loop.add_signal_handler(signal.SIGTERM, handler)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests in a worker thread), or no signals on this platform

    def on_unmount(self) -> None:
        self._on_sigterm(None)

    def _mark_ready(self) -> None:
        # Everything built so far (the DOM, the core, the caches) lives as long as the App: keep it
        # out of the collector's full passes, which otherwise stall a result by 40-50 ms here.
        gc.collect()
        gc.freeze()
        self.ready_at = time.perf_counter()
        if self.ctx.metrics is not None:
            self.ctx.metrics.mark("ready")
        log.info("ready: mode %s, terminal %s", self.ctx.settings.mode, self.ctx.terminal_id)

    @property
    def is_ready(self) -> bool:
        return self.ready_at is not None and self.status is not None

    # -- status -------------------------------------------------------------------------------
    def _tick(self) -> None:
        self.run_worker(self.refresh_status(), exclusive=True, group="status")

    async def refresh_status(self) -> None:
        ctx = self.ctx
        devices = ctx.device_health()
        down = ctx.device_reasons()
        try:
            self.status = await ctx.core.run(self._collect, devices, down)
        except PosError as exc:
            log.error("status: %s", exc)
        except RuntimeError:  # the core is shutting down
            pass

    def _collect(self, devices: list[DeviceHealth], down: list[str]) -> StatusSnapshot:
        """On the core thread."""
        ctx = self.ctx
        terminal = ctx.core.terminal
        for job in ctx.background:
            try:
                job(terminal)
            except Exception:  # one failing job must not end the status worker
                log.exception("background job failed")
        now = ctx.clock()
        reasons = (*down, *readiness.state_reasons(terminal, now, ctx.policy.grace_s))
        return replace(
            status_mod.collect(
                terminal,
                mode=ctx.settings.mode,
                terminal_id=ctx.terminal_id,
                currency=ctx.currency,
                policy=ctx.policy,
                now=now,
                sync_probe=ctx.sync_probe,
                devices=devices,
            ),
            out_of_service=reasons,
        )

    # -- language -----------------------------------------------------------------------------
    async def action_toggle_language(self) -> None:
        langs = LANGUAGES
        await self.switch_language(langs[(langs.index(active().lang) + 1) % len(langs)])

    async def switch_language(self, lang: str) -> None:
        use(lang)
        for screen in self.screen_stack:
            await screen.recompose()
            if isinstance(screen, PosScreen):
                screen.relabel()
        self.status = self.status

    # -- keyboard-wedge scanner ---------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        wedge = self.ctx.wedge
        if wedge is None or not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        for action in wedge.feed(event, event.character, event.key == "enter", event.time):
            await self._wedge_action(action)
        if wedge.holding:
            if self._wedge_timer is not None:
                self._wedge_timer.stop()
            gap = self.ctx.settings.wedge_gap_ms / 1000
            self._wedge_timer = self.set_timer(gap * 2, self._wedge_expire)

    async def _wedge_expire(self) -> None:
        wedge = self.ctx.wedge
        if wedge is not None:
            for action in wedge.expire(time.monotonic()):
                await self._wedge_action(action)

    async def _wedge_action(self, action: object) -> None:
        if isinstance(action, Release):
            await super().on_event(action.key)
            return
        data = action.data if isinstance(action, Scanned) else b""
        log.info("keyboard-wedge burst of %d characters", len(data))
        target = self._scan_target()
        if target is None:
            self.notify(_("Scan ignored: finish the current step first."), severity="warning")
            return
        target.scanned(data)

    def _scan_target(self) -> PosScreen | None:
        """The top screen if it takes scans; a result on top of it is closed first."""
        stack = self.screen_stack
        for i in range(len(stack) - 1, -1, -1):
            screen = stack[i]
            if isinstance(screen, PosScreen) and screen.accepts_scans:
                for above in stack[i + 1 :]:
                    if not isinstance(above, ResultScreen):
                        return None
                for _above in stack[i + 1 :]:
                    self.pop_screen()
                return screen
        return None

    # -- results ------------------------------------------------------------------------------
    def show_result(
        self, level: str, verdict: str, code: str | None, amount: int | None, decided: float = 0.0
    ) -> None:
        """The large result screen (one installed instance, redrawn): ``verdict`` is a msgid."""
        screen = self.get_screen(RESULT)
        assert isinstance(screen, ResultScreen)
        screen.set_result(level, verdict, code, amount, decided)
        if self.screen is screen:
            screen.restart_timer()  # a new result while one shows
        else:
            self.push_screen(screen)
        metrics = self.ctx.metrics
        if metrics is not None and decided:
            self.call_after_refresh(
                lambda: metrics.record("decision_to_screen", time.perf_counter() - decided)
            )

    def show_attempt(self, attempt: Attempt, amount: int) -> None:
        level, verdict = verdict_of(attempt)
        self.show_result(level, verdict, attempt.code, amount, attempt.decided)

    # -- operator -----------------------------------------------------------------------------
    def action_history(self) -> None:
        self.push_screen(HistoryScreen())

    def action_settings(self) -> None:
        def opened(ok: bool | None) -> None:
            if ok:
                self.run_worker(self.ctx.core.run(self.ctx.audit.record, "settings_opened"))
                self.push_screen(SettingsScreen())

        self.push_screen(PinScreen(_("Settings"), "settings"), opened)

    async def void_last(self) -> None:
        """Void the newest payment within the window, behind the PIN (run as a worker)."""
        ctx = self.ctx
        core = ctx.core
        row = await core.run(last_row, core.terminal)
        now = ctx.clock()
        if row is not None and row["kind"] == "reversal":
            self.notify(_("The last payment is already voided."), severity="warning")
            return
        if row is None or row["kind"] != "payment":
            self.notify(_("There is no payment to void."), severity="warning")
            return
        if now - row["time"] > ctx.settings.void_window_s:
            self.notify(
                _("The last payment is too old to void (more than {s} s).").format(
                    s=ctx.settings.void_window_s
                ),
                severity="warning",
            )
            return
        seq, amount = row["seq"], row["amount"]
        money = format_money(amount, row["currency"])
        title = _("Void {money} (payment {seq})?").format(money=money, seq=seq)
        if not await self.push_screen_wait(PinScreen(title, "void")):
            return
        code = await core.run(self._void, seq, amount)
        self.show_result(NOTICE, N_("VOIDED") if code == VOIDED else N_("NOT VOIDED"), code, amount)

    def _void(self, seq: int, amount: int) -> str:
        """On the core thread: the reversal, then its audit line, before the result is shown."""
        ctx = self.ctx
        if ctx.void is None:
            ctx.audit.record(
                "void", ok=False, seq=seq, amount=amount, error="the journal has no reversal API"
            )
            return VOID_UNAVAILABLE
        try:
            reversal = ctx.void(seq, "void")
        except (KeyError, ValueError, PosError) as exc:
            ctx.audit.record("void", ok=False, seq=seq, amount=amount, error=str(exc))
            log.error("void of payment seq %d refused: %s", seq, exc)
            return VOID_FAILED
        ctx.audit.record("void", seq=seq, amount=amount, reversal_seq=reversal)
        log.info("payment seq %d voided by the operator (reversal seq %s)", seq, reversal)
        return VOIDED

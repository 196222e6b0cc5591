"""Settings behind the operator PIN: what this terminal is set to, and the few operator actions
(change the PIN, clear local wallet locks, language). Every action goes to the audit log.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Label

from pos import velocity
from pos.terminal import Terminal
from ui.i18n import LANGUAGE_NAMES, N_, _, active
from ui.i18n.money import format_money
from ui.tui.screens.base import PosScreen, key_hints
from ui.tui.screens.pin import PinScreen
from ui.tui.widgets.status_bar import StatusBar

HINTS = (
    ("P", N_("Change PIN")),
    ("U", N_("Clear wallet locks")),
    ("Esc", N_("Back")),
)


def clear_locks(terminal: Terminal) -> int:
    """On the core thread: an operator clears this terminal's velocity locks (SPEC 3.3)."""
    return velocity.clear(terminal.journal.db, "operator")


class SettingsScreen(PosScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", show=False),
        Binding("p", "change_pin", show=False),
        Binding("u", "clear_locks", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(classes="settings-screen")
        self.message = ""

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="settings-list"):
            yield Label(_("Settings"), id="settings-title")
            for name, value in self._facts():
                yield Label(f"[b]{escape(name)}[/b]  {escape(value)}", classes="setting")
            yield Label(self.message, id="settings-message", markup=False)
        yield key_hints(HINTS)

    def _facts(self) -> list[tuple[str, str]]:
        ctx = self.ctx
        s = ctx.settings
        facts = [
            (_("Terminal"), ctx.terminal_id),
            (_("Mode"), s.mode),
            (_("Currency"), ctx.currency),
            (_("Language"), LANGUAGE_NAMES[active().lang]),
            (_("Data directory"), str(ctx.data_dir)),
            (_("Void window"), _("{s} s").format(s=s.void_window_s)),
            (
                _("Offline caps"),
                f"{ctx.policy.offline_count_max} · "
                + format_money(ctx.policy.offline_total_max, ctx.currency),
            ),
        ]
        if s.mode == "gate":
            facts.append((_("Fare"), format_money(s.fare, ctx.currency)))
            facts.append((_("Anti-passback"), _("{s} s").format(s=s.passback_s)))
        for name, url in sorted(s.devices.items()):
            facts.append((_("Device {name}").format(name=name), url))
        return facts

    def _say(self, text: str) -> None:
        self.message = text
        self.query_one("#settings-message", Label).update(text)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_change_pin(self) -> None:
        self.app.push_screen(
            PinScreen(_("Change the operator PIN"), "change_pin", verify=False), self._new_pin
        )

    def _new_pin(self, pin: str | None) -> None:
        if pin:
            self._save_pin(pin)

    @work(thread=True, exclusive=True, group="settings", exit_on_error=False)
    def _save_pin(self, pin: str) -> None:
        try:
            self.ctx.pin.set_pin(pin)
        except OSError as exc:
            self.ctx.audit.record("pin_changed", ok=False, error=str(exc))
            self.app.call_from_thread(self._say, _("The PIN could not be saved."))
            return
        self.ctx.audit.record("pin_changed")
        self.app.call_from_thread(self._say, _("PIN changed."))

    async def action_clear_locks(self) -> None:
        ctx = self.ctx
        cleared = await ctx.core.run(clear_locks, ctx.core.terminal)
        await ctx.core.run(ctx.audit.record, "clear_wallet_locks", cleared=cleared)
        self._say(_("{n} wallet lock(s) cleared.").format(n=cleared))

"""What every screen of the App shares: the context, the status bar, translated key hints."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, cast

from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Label

from ui.i18n import _
from ui.runtime.context import Hints

if TYPE_CHECKING:
    from ui.runtime.context import UiContext
    from ui.runtime.snapshot import StatusSnapshot
    from ui.tui.app import PosApp

P = ParamSpec("P")


def redraw(method: Callable[P, None]) -> Callable[P, None]:
    """A redraw that finds no widgets mid-recompose (language switch) does nothing: the screen's
    compose, then its ``relabel``, draw the same state."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except NoMatches:
            pass

    return wrapper


# (key shown, English label) pairs every screen of a mode shows after its own
GLOBAL_HINTS: tuple[tuple[str, str], ...] = (("F2", "中文/English"),)


def hints_text(pairs: Hints, extra: Hints = ()) -> str:
    """Key hints in the active language (labels are catalog msgids marked with ``N_``)."""
    return "  ".join(f"[b]{key}[/b] {_(label)}" for key, label in (*pairs, *GLOBAL_HINTS, *extra))


def key_hints(pairs: Hints, extra: Hints = ()) -> Label:
    return Label(hints_text(pairs, extra), id="hints", classes="key-hints")


def out_of_service_text(status: StatusSnapshot | None) -> str:
    """OUT OF SERVICE and why, when the terminal cannot take a payment (``ui.runtime.readiness``)."""
    if status is None or not status.out_of_service:
        return ""
    return _("OUT OF SERVICE") + "\n" + status.out_of_service[0]


class PosMixin:
    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", cast(Any, self).app)

    @property
    def ctx(self) -> UiContext:
        return self.pos_app.ctx

    @property
    def extra_hints(self) -> Hints:
        """More keys than the screen's own (``pos demo``: the simulated customers)."""
        extra = self.ctx.extra_keys
        return extra.hints(self.ctx.settings.mode) if extra is not None else ()

    def relabel(self) -> None:
        """After a language switch recomposed the screen: refill what compose does not draw."""


class PosScreen(PosMixin, Screen[Any]):
    """A screen of the App; ``accepts_scans`` screens take keyboard-wedge tokens."""

    accepts_scans = False

    def scanned(self, data: bytes) -> None:
        """A keyboard-wedge burst (token text) arrived while this screen is on top."""


class PosModal(PosMixin, ModalScreen[Any]):
    pass

"""A clickable keypad: digits, backspace, clear and one action key. Keys never take focus, so
the physical keyboard keeps driving the screen's bindings while the mouse or touch screen works.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Button

from ui.i18n import _

BACKSPACE, CLEAR, OK = "backspace", "clear", "ok"


class KeyButton(Button, can_focus=False):
    """A keypad key: clickable, never focused."""


class Keypad(Grid):
    class Pressed(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, ok_label: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="keypad")
        self.ok_label = ok_label

    def compose(self) -> ComposeResult:
        for digit in "789456123":
            yield KeyButton(digit, id=f"key-{digit}", classes="digit")
        yield KeyButton(_("C"), id=f"key-{CLEAR}", classes="clear", variant="warning")
        yield KeyButton("0", id="key-0", classes="digit")
        yield KeyButton("⌫", id=f"key-{BACKSPACE}", classes="backspace")
        yield KeyButton(self.ok_label, id=f"key-{OK}", classes="ok", variant="success")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id and event.button.id.startswith("key-"):
            self.post_message(self.Pressed(event.button.id.removeprefix("key-")))

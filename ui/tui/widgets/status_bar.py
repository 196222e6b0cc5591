"""The status bar on every screen: mode and terminal, network, uploads, list ages, exposure against
the caps, device health. It renders the App's latest ``StatusSnapshot`` and never reads anything.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from ui.i18n import LANGUAGE_NAMES, _, active
from ui.i18n.money import format_money, number
from ui.runtime.snapshot import ERROR, OK, WARN, StatusSnapshot, duration


def _mode_name(mode: str) -> str:
    return {"counter": _("Counter"), "vending": _("Vending"), "gate": _("Gate")}.get(mode, mode)


def items(s: StatusSnapshot) -> list[tuple[str, str, str]]:
    """(widget id, text, level) for each cell of the bar."""
    cells = [("st-mode", f"{_mode_name(s.mode)} · {s.terminal_id}", OK)]
    if s.sync is None or not s.sync.online:
        cells.append(("st-net", _("offline"), WARN))
    else:
        text = _("online")
        if s.sync.last_upload is not None:
            text += " · " + _("sent {ago} ago").format(ago=duration(s.now - s.sync.last_upload))
        cells.append(("st-net", text, OK))
    n, total = s.upload if s.upload is not None else (s.pending_count, s.pending_total)
    if n:  # net of reversals: a voided or undelivered payment is not money to collect
        money = format_money(total, s.currency)
        cells.append(("st-upload", _("{n} to upload ({money})").format(n=n, money=money), OK))
    else:
        cells.append(("st-upload", _("nothing to upload"), OK))
    cells.append(("st-lists", _lists_text(s), s.lists_level))
    cap = number(s.total_cap, s.currency)
    cells.append(
        (
            "st-exposure",
            _("un-uploaded {n}/{cap_n} · {total}/{cap}").format(
                n=s.pending_count, cap_n=s.count_cap, total=format_money(s.pending_total, s.currency), cap=cap
            ),
            s.exposure_level,
        )
    )
    bad = [d.name for d in s.devices if not d.ok]
    devices = _("device fault: {names}").format(names=", ".join(bad)) if bad else _("devices ok")
    if s.out_of_service:  # the first reason names the port or the list: what the installer fixes
        devices = _("OUT OF SERVICE: {why}").format(why=s.out_of_service[0])
    cells.append(("st-devices", devices, ERROR if s.out_of_service else s.devices_level))
    cells.append(("st-lang", LANGUAGE_NAMES[active().lang], OK))
    return cells


def _lists_text(s: StatusSnapshot) -> str:
    if any(a.clock_behind for a in s.lists):
        return _("clock wrong")
    if s.lists_level == ERROR:
        return _("keys STALE")
    if s.lists_level == WARN:
        soonest = min(a.stale_in for a in s.lists)
        return _("keys stale in {left}").format(left=duration(soonest))
    return _("keys ok")


ROWS = (("st-mode", "st-net", "st-upload", "st-lang"), ("st-lists", "st-exposure", "st-devices"))


class StatusBar(Vertical):
    """Two lines: who and where (mode, terminal, network, uploads, language); then the risks."""

    def __init__(self) -> None:
        super().__init__(id="status-bar")

    def compose(self) -> ComposeResult:
        for n, row in enumerate(ROWS):
            with Horizontal(classes=f"status-row row-{n}"):
                for cid in row:
                    # a class per cell as well as the id: Textual's style cache tells siblings with
                    # equal classes apart only by ids it indexes, and "#id.-state" is not indexed
                    yield Label(_("starting…") if cid == "st-mode" else "", id=cid, classes=cid, markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "status", self.show, init=True)

    def show(self, snapshot: StatusSnapshot | None) -> None:
        if snapshot is None:
            return
        for cid, text, level in items(snapshot):
            label = self.query_one(f"#{cid}", Label)
            label.update(text)
            for lv in (OK, WARN, ERROR):
                label.set_class(lv == level, f"-{lv}")

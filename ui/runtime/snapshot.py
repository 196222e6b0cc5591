"""What the status bar shows, computed off the UI loop (on the core thread) as one value.

List ages follow SPEC 3.1: a list is stale after ``next_update + grace``; from ``next_update`` on
(or within a day of going stale) it is "stale soon", a warning to connect the terminal. Exposure
is the un-uploaded count and total against the terminal's caps (SPEC 3.3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pos.decision import Policy
from pos.ports import DeviceHealth
from pos.terminal import Terminal
from pos.trust import SignedList
from ui.runtime.devices import SyncProbe, SyncStatus

SOON_S = 24 * 3600
HIGH_EXPOSURE_PERCENT = 80
OK, WARN, ERROR = "ok", "warn", "error"


@dataclass(frozen=True)
class ListAge:
    name: str  # "trust" | "deny"
    level: str  # OK | WARN | ERROR
    stale_in: int  # seconds until stale; < 0 when stale
    age: int  # seconds since the list was issued
    clock_behind: bool = False  # now is before the list's iat: the clock is wrong (clock_unset)


@dataclass(frozen=True)
class StatusSnapshot:
    mode: str
    terminal_id: str
    currency: str
    now: int
    sync: SyncStatus | None
    payments: int
    pending_count: int
    pending_total: int
    count_cap: int
    total_cap: int
    lists: tuple[ListAge, ...]
    devices: tuple[DeviceHealth, ...]
    out_of_service: tuple[str, ...] = ()  # why no payment can be taken now (ui.runtime.readiness)
    upload: tuple[int, int] | None = None  # (count, total) of standing payments: net of reversals

    @property
    def lists_level(self) -> str:
        levels = [a.level for a in self.lists]
        return ERROR if ERROR in levels else WARN if WARN in levels else OK

    @property
    def exposure_level(self) -> str:
        if self.pending_count >= self.count_cap or self.pending_total >= self.total_cap:
            return ERROR
        high = HIGH_EXPOSURE_PERCENT
        if (
            self.pending_count * 100 >= self.count_cap * high
            or self.pending_total * 100 >= self.total_cap * high
        ):
            return WARN
        return OK

    @property
    def devices_level(self) -> str:
        return OK if all(d.ok for d in self.devices) else ERROR


def list_age(name: str, lst: SignedList | None, now: int, grace: int) -> ListAge:
    if lst is None:
        return ListAge(name, ERROR, 0, 0)
    stale_in = lst.stale_in(now, grace)
    if now < lst.iat:
        return ListAge(name, ERROR, stale_in, now - lst.iat, clock_behind=True)
    if lst.stale_at(now, grace):
        level = ERROR
    elif now >= lst.next_update or stale_in <= SOON_S:
        level = WARN
    else:
        level = OK
    return ListAge(name, level, stale_in, now - lst.iat)


def collect(
    terminal: Terminal,
    *,
    mode: str,
    terminal_id: str,
    currency: str,
    policy: Policy,
    now: int,
    sync_probe: SyncProbe | None,
    devices: Sequence[DeviceHealth] = (),
) -> StatusSnapshot:
    """On the core thread: journal summary, key snapshot, sync probe, device health."""
    summary = terminal.journal.summary()
    snapshot = terminal.snapshot()
    lists = [list_age("trust", snapshot.trust, now, policy.grace_s)]
    if snapshot.deny is not None:  # optional until one is installed (SPEC 3.1)
        lists.append(list_age("deny", snapshot.deny, now, policy.grace_s))
    return StatusSnapshot(
        mode=mode,
        terminal_id=terminal_id,
        currency=currency,
        now=now,
        sync=_probe(sync_probe),
        payments=summary["payments"],
        pending_count=summary["pending_count"],
        pending_total=summary["pending_total"],
        count_cap=policy.offline_count_max,
        total_cap=policy.offline_total_max,
        lists=tuple(lists),
        devices=tuple(devices),
        upload=terminal.journal.to_upload(),
    )


def _probe(probe: Callable[[], SyncStatus | None] | None) -> SyncStatus | None:
    if probe is None:
        return None
    try:
        return probe()
    except Exception:  # noqa: BLE001 - a broken probe reads as "offline", never a crash
        return None


def duration(seconds: int) -> str:
    """Compact: 45s, 12m, 5h, 3d (the largest unit, rounded down)."""
    s = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"

"""Store-and-forward while ``pos run`` takes payments: the sync service, its start and its wake-ups.

The service (``pos.sync.service.SyncService``) starts when the configuration has a ``[sync]``
section and the terminal is enrolled; it runs on its own thread with its own journal connection
and the running terminal's own key store, so a list it installs is in force for the next payment.
Anything wrong with sync (no section, not enrolled, a re-keyed terminal, a bad collector URL) is
one clear log line and the terminal runs offline: sync never stops a terminal from taking payments,
which stay in the journal until they are uploaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pos.config import Config
from pos.sync.state import SyncState
from pos.terminal import Terminal
from ui.runtime.context import UiContext
from ui.runtime.devices import SyncProbe, SyncStatus, sync_status_of

if TYPE_CHECKING:
    from pos.sync.service import SyncService

log = logging.getLogger("pos.run.sync")

STOP_S = 3.0  # on shutdown, wait this long for a pass in flight (the thread is a daemon anyway)
SECTION = "sync"
ONLINE_WITHIN_S = 300  # a sync success this recent, and no error since: "online"


def _offline(reason: str, **fields: Any) -> None:
    log.warning(
        "sync off: %s; payments stay in the journal until they are uploaded",
        reason,
        extra={"fields": {"event": "sync_off", "reason": reason, **fields}},
    )


def start(cfg: Config, data_dir: Path, terminal: Terminal) -> SyncService | None:
    """Start background sync for this terminal, or say in one line why it runs offline."""
    if SECTION not in cfg.given:
        log.info(
            "sync off: no [sync] section in %s; payments stay in the journal", cfg.source,
            extra={"fields": {"event": "sync_off", "reason": "not_configured"}},
        )  # fmt: skip
        return None
    try:
        from pos.sync.service import SyncService
        from pos.sync.settings import of_section
        from pos.sync.state import SyncState
        from pos.sync.transport import check_url

        settings = of_section(cfg.section(SECTION), cfg.source)
        enrollment = SyncState(data_dir).enrollment
        if enrollment is None:
            _offline("this terminal is not enrolled (run `pos enroll --collector URL`)", code="not_enrolled")
            return None
        if enrollment.get("key") != terminal.journal.identity.public_raw.hex():
            _offline("the identity key differs from the enrolled one (enroll again)", code="key_changed")
            return None
        collector = settings.collector or enrollment.get("collector")
        if not isinstance(collector, str) or not collector:
            _offline("no collector: set sync.collector or enroll with --collector", code="no_collector")
            return None
        check_url(collector)
    except Exception as exc:  # noqa: BLE001 - a sync misconfiguration must not stop payments
        _offline(str(exc), code=getattr(exc, "code", "config"))
        return None
    service = SyncService(data_dir, settings, keystore=terminal.keys, collector=collector, on_pass=log_pass)
    service.start()
    log.info(
        "sync on",
        extra={
            "fields": {
                "event": "sync_on",
                "collector": collector,  # check_url refuses credentials in the URL
                "terminal_id": enrollment.get("terminal_id"),
                "interval_s": settings.interval_s,
                "list_interval_s": settings.list_interval_s,
            }
        },
    )
    return service


def attach(cfg: Config, data_dir: Path, ctx: UiContext) -> SyncService | None:
    """``start`` for a running terminal's context, woken on the screens' status tick whenever the
    journal grew (the headless gate also wakes it after each approval: it has no tick)."""
    service = start(cfg, data_dir, ctx.core.terminal)
    if service is not None:
        ctx.background.append(WakeOnNewRows(service.wake))
    return service


def log_pass(report: dict[str, Any]) -> None:
    """One structured line per pass (from the sync thread): counts, lists installed, errors."""
    from pos.sync.service import pass_summary

    fields = pass_summary(report)
    level = logging.INFO if fields["ok"] else logging.WARNING
    log.log(level, "sync pass", extra={"fields": {"event": "sync_pass", **fields}})


def stop(service: SyncService | None) -> None:
    if service is None:
        return
    service.stop(STOP_S)
    if service.running:
        log.warning("sync pass still in flight at shutdown; left to end with the process")
    else:
        log.info("sync stopped", extra={"fields": {"event": "sync_stopped", "passes": service.passes}})


class WakeOnNewRows:
    """A per-tick job on the core thread (``UiContext.background``): when the journal grew since
    the last tick (a sale, a void), wake the sync service, so an upload follows within a tick.

    One primary-key range read per tick (``Journal.rows`` after the last seq seen); the first tick
    only learns where the journal ends.
    """

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.last: int | None = None

    def __call__(self, terminal: Terminal) -> None:
        journal = terminal.journal
        try:
            if self.last is None:
                self.last = journal.summary()["payments"]
                return
            grew = False
            for row in journal.rows(self.last):
                self.last, grew = int(row["seq"]), True
        except Exception as exc:  # noqa: BLE001 - a status tick must survive a journal hiccup
            log.warning("could not look for new journal rows: %s", exc)
            return
        if grew:
            self.wake()


def sync_probe_for(cfg: Config, data_dir: Path, clock: Callable[[], int]) -> SyncProbe:
    """The network/sync state for the status bar, from what the sync service records in its state
    file (``pos.sync.state.SyncState``: last success, last error), read on each status tick, so a
    sync loop in another process (``pos sync`` from cron) shows here too."""
    state = SyncState(data_dir)
    within = online_window(cfg)

    def from_state() -> SyncStatus | None:
        return sync_status_of(state.load(), clock(), within)

    return from_state


def online_window(cfg: Config) -> int:
    """How recent a success reads as "online": a few background intervals, at least 5 minutes."""
    return max(ONLINE_WITHIN_S, int(3 * cfg.section(SECTION).interval_s))

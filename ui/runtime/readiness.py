"""Whether a terminal can take a payment now, and why not: the one rule the headless gate's log,
the screens' OUT OF SERVICE and the gate's last check before a commit share.

A terminal is out of service when no token source can present a token, when a gate's relay or a
vending machine's MDB link is unavailable (charging without opening or dispensing is the worst
outcome), when no trust list is installed or a list is stale (every token would be declined), or
when the journal cannot be read (no payment could be committed). A counter that lost one of two
readers is still in service; the status bar names the missing one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pos.ports import DeviceHealth, HasHealth, TokenSource
from pos.terminal import Terminal
from ui.runtime.worker import Core

log = logging.getLogger("pos.run")

OUT_OF_SERVICE = "out_of_service"  # a terminal policy code beside SPEC 3.5's: nothing was committed


def device_down(device: object) -> DeviceHealth | None:
    """The device's health when it is unavailable (missing, failed, reconnecting), else None."""
    if not isinstance(device, HasHealth):
        return None
    try:
        health = device.health()
    except Exception as exc:  # noqa: BLE001 - a failing probe is a failing device
        return DeviceHealth(getattr(device, "url", "?"), False, str(exc), "unavailable", str(exc))
    if health.state in ("unavailable", "reconnecting") and health.last_error:
        return health
    return None


def sources_reasons(sources: list[TokenSource]) -> list[str]:
    if not sources:
        return ["no token source: add one under [devices] (nfc, camera or scanner)"]
    down = [h for h in map(device_down, sources) if h is not None]
    if len(down) < len(sources):
        return []
    return [f"no token source available: {h.name}: {h.last_error}" for h in down]


def role_reasons(mode: str, relay: object, vend: object) -> list[str]:
    out = []
    for role, device, needed in (("relay", relay, mode == "gate"), ("vend", vend, mode == "vending")):
        health = device_down(device) if needed else None
        if health is not None:
            out.append(f"{role} unavailable: {health.detail or health.last_error}")
    return out


def state_reasons(terminal: Terminal, now: int, grace_s: int) -> list[str]:
    """On the core thread: the lists and the journal."""
    out = []
    try:  # a read of the one-row totals, not a count over the journal: this runs every second
        terminal.journal.db.execute("SELECT pending_count FROM totals").fetchone()
    except Exception as exc:  # noqa: BLE001 - any journal error means nothing can be committed
        out.append(f"storage failure: {exc}")
    try:
        keys = terminal.snapshot()
    except Exception as exc:  # noqa: BLE001 - unreadable lists decline every token
        return [*out, f"lists unreadable: {exc}"]
    if keys.trust is None:
        out.append("no trust list installed: pos keys install --trust-list ... or pos sync")
    for name, lst in (("trust list", keys.trust), ("deny list", keys.deny)):
        if lst is not None and lst.stale_at(now, grace_s):
            out.append(f"{name} seq {lst.seq} is stale: connect the terminal (pos sync)")
    return out


@dataclass
class Service:
    """The latest answer and one JSON log line each time it changes (``out_of_service`` with the
    reasons, then ``in_service``)."""

    reasons: list[str] = field(default_factory=list)
    _logged: tuple[str, ...] | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons

    def update(self, reasons: list[str]) -> bool:
        self.reasons = reasons
        key = tuple(reasons)
        if key != self._logged:
            self._logged = key
            if reasons:
                fields = {"event": OUT_OF_SERVICE, "reasons": reasons}
                log.error("out of service: %s", "; ".join(reasons), extra={"fields": fields})
            else:
                log.info("in service", extra={"fields": {"event": "in_service"}})
        return not reasons


def check(
    core: Core,
    sources: list[TokenSource],
    mode: str,
    relay: object,
    vend: object,
    now: Callable[[], int],
    grace_s: int,
) -> list[str]:
    """Every reason this terminal cannot take a payment now (from any thread but the core's)."""
    state = core.call(lambda: state_reasons(core.terminal, now(), grace_s))
    return [*sources_reasons(sources), *role_reasons(mode, relay, vend), *state]

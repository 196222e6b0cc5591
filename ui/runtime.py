"""What ``pos run`` runs: JSON-line logs, devices opened by URL, the context, the headless gate.

Imported only when a terminal actually starts (``ui.cmd_run`` keeps every other ``pos`` command
free of asyncio, Textual and the device factories).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pos import config as configuration
from pos.config import Config
from pos.decision import PaymentRequest, Policy
from pos.errors import ConfigError
from pos.ports import DEVICE_ERROR, Actuator, Presentation, SourceFailure, TokenSource
from pos.terminal import Terminal
from ui import background_sync, provisioning, receipts
from ui.acceptance import Attempt, Metrics, listen
from ui.context import UiContext, wall_clock
from ui.core import Core, journal_void
from ui.devices import (
    LogRelay,
    QueueSource,
    SimVendingMachine,
    SyncProbe,
    SyncStatus,
    VendSession,
    sync_status_of,
)
from ui.operator import AuditLog, OperatorPin, PinError, check_pin_format
from ui.uiconfig import UiSettings, from_config
from ui.wedge import key_wedge

log = logging.getLogger("pos.run")

LOG_FILE = "pos.log"
WEDGE_URL = "keyboard-wedge"
ONLINE_WITHIN_S = 300  # a sync success this recent, and no error since: "online"


# -- structured logs ---------------------------------------------------------------------------
class JsonLines(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(getattr(record, "fields", {}))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def setup_logging(target: Path | None) -> None:
    handler: logging.Handler
    if target is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per sync pass is ours, not per request


def log_attempt(attempt: Attempt, mode: str) -> None:
    d = attempt.decision
    fields: dict[str, Any] = {"event": "decision", "mode": mode, "source": attempt.source}
    if d is None:
        fields.update(decision="none", outcome=attempt.outcome)
    else:
        fields.update(
            decision="approved" if d.approved else "declined", reason=d.reason, amount=d.amount, seq=d.seq
        )
    if attempt.actuated is not None:
        fields["tap_to_relay_ms"] = round((attempt.actuated - attempt.presented) * 1000, 3)
    if attempt.outcome and d is not None:
        fields["outcome"] = attempt.outcome
    log.info("decision", extra={"fields": fields})


# -- devices by URL ----------------------------------------------------------------------------
def _factory(name: str) -> Callable[[str], Any] | None:
    try:
        module = importlib.import_module("drivers.sources")
    except ImportError:
        return None
    found: Callable[[str], Any] | None = getattr(module, name, None)
    return found if callable(found) else None


class LateSource:
    """A device that failed to open at start: reads report ``device_error`` (the status bar shows
    the fault) and retry the opening at most every ``retry_s``, so an unplugged reader does not
    stop the terminal and starts working once it is back."""

    def __init__(
        self, url: str, opener: Callable[[str], TokenSource], error: Exception, retry_s: float = 5.0
    ):
        self.url = url
        self._opener = opener
        self._error = f"{type(error).__name__}: {error}"
        self._retry_s = retry_s
        self._next = time.monotonic() + retry_s
        self._inner: TokenSource | None = None

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        if self._inner is None and time.monotonic() >= self._next:
            self._next = time.monotonic() + self._retry_s
            try:
                self._inner = self._opener(self.url)
                log.info("device opened late", extra={"fields": {"url": self.url}})
            except Exception as exc:  # noqa: BLE001 - any driver failure is a device error
                self._error = f"{type(exc).__name__}: {exc}"
        if self._inner is None:
            raise SourceFailure(DEVICE_ERROR, self._error)
        return self._inner.read(request, timeout)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


def open_sources(urls: dict[str, str]) -> list[TokenSource]:
    """Every ``[devices]`` token source; a bad URL is a configuration error, a device that does
    not open yet is a ``LateSource`` (a fault on the status bar, retried)."""
    if not urls:
        return []
    open_source = _factory("open_source")
    if open_source is None:
        raise ConfigError(
            "cannot open [devices] " + ", ".join(urls) + ": drivers.sources.open_source is not available"
        )
    opened: list[TokenSource] = []
    for name, url in urls.items():
        fields = {"device": name, "url": url}
        try:
            opened.append(open_source(url))
            log.info("device opened", extra={"fields": fields})
        except ValueError as exc:
            for source in opened:
                source.close()
            raise ConfigError(f"devices.{name}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a missing reader must not stop the terminal
            log.error("device did not open; retrying", extra={"fields": {**fields, "error": str(exc)}})
            opened.append(LateSource(url, open_source, exc))
    return opened


def open_relay(url: str | None) -> Actuator | None:
    if url is None:
        return None
    if url == "log:":
        return LogRelay()
    factory = _factory("open_actuator")
    if factory is None:
        raise ConfigError(f"cannot open relay {url!r}: drivers.sources.open_actuator is not available")
    relay: Actuator = factory(url)
    return relay


def open_vend(url: str | None) -> VendSession | None:
    if url is None:
        return None
    if url == "sim:":
        return SimVendingMachine()
    factory = _factory("open_vend_session")
    if factory is None:
        raise ConfigError(
            f"cannot open vending machine {url!r}: drivers.sources.open_vend_session is not available"
        )
    session: VendSession = factory(url)
    return session


def sync_probe_for(cfg: Config, data_dir: Path, clock: Callable[[], int]) -> SyncProbe | None:
    """The network/sync state for the status bar, from what the sync service records.

    ``pos.sync.status_probe(cfg)`` when the sync helper provides one; otherwise its state file
    (``pos.sync.state.SyncState``: last success, last error), read on each status tick, so a sync
    loop in another process shows here too. None (no sync installed) reads as "offline".
    """
    try:
        module = importlib.import_module("pos.sync")
    except ImportError:
        return None
    make = getattr(module, "status_probe", None)
    if callable(make):
        probe: SyncProbe = make(cfg)
        return probe
    try:
        from pos.sync.state import SyncState
    except ImportError:
        return None
    state = SyncState(data_dir)
    within = online_window(cfg)

    def from_state() -> SyncStatus | None:
        return sync_status_of(state.load(), clock(), within)

    return from_state


def online_window(cfg: Config) -> int:
    """How recent a success reads as "online": a few background intervals, at least 5 minutes."""
    table = cfg.extra.get("sync")
    interval = table.get("interval_s") if isinstance(table, dict) else None
    if isinstance(interval, int | float) and not isinstance(interval, bool) and interval > 0:
        return max(ONLINE_WITHIN_S, int(3 * interval))
    return ONLINE_WITHIN_S


# -- the context -------------------------------------------------------------------------------
def build_context(
    cfg: Config,
    settings: UiSettings,
    data_dir: Path,
    *,
    clock: Callable[[], int] = wall_clock,
    with_wedge: bool = True,
    metrics: Metrics | None = None,
) -> UiContext:
    if cfg.currency is None:
        raise ConfigError(f"{cfg.source}: terminal.currency is required")
    store = provisioning.keystore_of(argparse.Namespace(root_key=None), cfg, data_dir)
    store.load()  # pins the root on first use; a changed root is an operator error (exit 2)
    policy: Policy = cfg.policy
    core = Core(lambda: Terminal(data_dir, store, policy=policy, head_every=cfg.head_every))
    try:
        terminal_id = core.call(lambda: core.terminal.journal.identity.resolve_terminal_id(cfg.terminal_id))
        sources = open_sources(settings.source_urls)
        relay = open_relay(settings.devices.get("relay"))
        if settings.mode == "gate" and relay is None:
            raise ConfigError(f'{cfg.source}: gate mode needs devices.relay ("log:" for a dry run)')
        vend = open_vend(settings.devices.get("vend"))
        if settings.mode == "vending" and vend is None:
            raise ConfigError(f"{cfg.source}: vending mode needs devices.vend")
        printer = receipts.open_configured(settings.devices.get("printer"))
    except BaseException:
        core.close(clock())
        raise
    wedge = key_wedge(settings.wedge_gap_ms / 1000) if with_wedge and settings.wedge else None
    return UiContext(
        settings=settings,
        core=core,
        policy=policy,
        currency=cfg.currency,
        terminal_id=terminal_id,
        data_dir=data_dir,
        sources=sources,
        pin=OperatorPin(data_dir, clock),
        audit=AuditLog(data_dir, terminal_id, clock),
        clock=clock,
        sync_probe=sync_probe_for(cfg, data_dir, clock),
        relay=relay,
        vend=vend,
        printer=printer,
        void=journal_void(core, clock),
        wedge=wedge,
        wedge_source=QueueSource(WEDGE_URL) if wedge is not None else None,
        metrics=metrics,
    )


# -- pos run -----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    cfg = configuration.load(args.config)
    settings = from_config(cfg, mode=args.mode)
    data_dir = provisioning.data_dir_of(args, cfg)
    ui = not (args.headless or args.set_pin)
    setup_logging(args.log_file or (data_dir / LOG_FILE if ui else None))
    if args.headless and settings.mode != "gate":
        raise provisioning.UsageError('--headless runs the gate loop: set ui.mode = "gate" (or --mode gate)')
    if args.set_pin:
        return set_pin(data_dir, cfg)
    ctx = build_context(cfg, settings, data_dir, with_wedge=ui)
    log.info(
        "starting",
        extra={"fields": {"mode": settings.mode, "terminal_id": ctx.terminal_id, "headless": not ui}},
    )
    sync = background_sync.attach(cfg, data_dir, ctx)
    if not ui:
        stop = threading.Event()

        def on_signal(*_: object) -> None:
            stop.set()
            if sync is not None:
                sync.stop(0)  # only asks: the pass in flight ends at its next check

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        wake = sync.wake if sync is not None else None
        return serve_gate_headless(ctx, stop, on_approved=wake, on_stop=lambda: background_sync.stop(sync))
    from ui.app import PosApp  # Textual only when the UI runs

    try:
        PosApp(ctx).run()
    finally:
        background_sync.stop(sync)
        ctx.close()
    log.info("stopped")
    return 0


def set_pin(data_dir: Path, cfg: Config) -> int:
    first = getpass.getpass("new operator PIN: ")
    if getpass.getpass("again: ") != first:
        print("pos run: the two PINs differ; nothing changed", file=sys.stderr)
        return 2
    try:
        check_pin_format(first)
    except PinError as exc:
        print(f"pos run: {exc}", file=sys.stderr)
        return 2
    OperatorPin(data_dir, wall_clock).set_pin(first)
    AuditLog(data_dir, cfg.terminal_id or "", wall_clock).record("pin_set", via="pos run --set-pin")
    print("operator PIN set")
    return 0


def serve_gate_headless(
    ctx: UiContext,
    stop: threading.Event,
    on_approved: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """The gate without Textual: one thread per source, read -> decide -> commit -> relay.

    ``on_approved`` runs on the lane after each approved payment (the relay has already switched):
    the background sync's ``wake``, so the payment is uploaded at once instead of next interval.
    ``on_stop`` runs first on the way out (stopping that sync), before the lanes and the core close.
    """
    s = ctx.settings
    gate = ctx.gate()

    def on_outcome(url: str, outcome: str, detail: str) -> None:
        ctx.note_device(url, outcome != DEVICE_ERROR, detail)
        level = logging.ERROR if outcome == DEVICE_ERROR else logging.INFO
        log.log(
            level, "source outcome", extra={"fields": {"source": url, "outcome": outcome, "detail": detail}}
        )

    def lane(source: TokenSource) -> None:
        while not stop.is_set():
            won = listen(source, lambda: not stop.is_set(), lambda _u: True, gate.new_request, s.read_slice_s,
                         on_outcome, stop.wait)  # fmt: skip
            if won is None:
                return
            try:
                attempt = gate.serve(*won)
                log_attempt(attempt, "gate")
                if on_approved is not None and attempt.decision is not None and attempt.decision.approved:
                    on_approved()
            except Exception:
                log.exception("gate lane failed on one presentation")

    threads = [
        threading.Thread(target=lane, args=(src,), name=f"lane {src.url}", daemon=True) for src in ctx.sources
    ]
    for t in threads:
        t.start()
    log.info("ready", extra={"fields": {"lanes": len(threads), "fare": s.fare}})
    try:
        while not stop.wait(1.0):
            pass
    finally:
        if on_stop is not None:
            on_stop()
        deadline = time.monotonic() + s.read_slice_s + 2
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        ctx.close()
        log.info("stopped")
    return 0

"""What ``pos run`` runs: the configuration, devices opened by URL, the context, then the
Textual app or the headless gate, with background sync beside either.

Imported only when a terminal actually starts (``ui.cli.run`` keeps every other ``pos`` command
free of asyncio, Textual and the device drivers).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from pos import config as configuration
from pos.config import Config
from pos.decision import Policy
from pos.errors import ConfigError
from pos.terminal import Terminal
from ui.runtime import background_sync, provisioning, site_link
from ui.runtime import receipt_printing as receipts
from ui.runtime.acceptance import Metrics
from ui.runtime.context import UiContext, wall_clock
from ui.runtime.devices import QueueSource
from ui.runtime.headless_gate import serve_gate_headless
from ui.runtime.logs import setup_logging
from ui.runtime.opening import open_relay, open_sources, open_vend
from ui.runtime.operator import OperatorLog, OperatorPin, PinError, check_pin_format
from ui.runtime.settings import UiSettings, from_config
from ui.runtime.wedge import key_wedge
from ui.runtime.worker import Core, journal_void

log = logging.getLogger("pos.run")

LOG_FILE = "pos.log"
WEDGE_URL = "keyboard-wedge"


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
    store = provisioning.keystore_of(None, cfg, data_dir)
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
        site = site_link.attach(cfg, data_dir, terminal_id, core.terminal.journal.identity.sign, store.root)
        core.terminal.site = site  # read on the core thread only, from the next decision on
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
        audit=OperatorLog(data_dir, terminal_id, clock),
        clock=clock,
        sync_probe=background_sync.sync_probe_for(cfg, data_dir, clock),
        relay=relay,
        vend=vend,
        printer=printer,
        void=journal_void(core, clock),
        wedge=wedge,
        wedge_source=QueueSource(WEDGE_URL) if wedge is not None else None,
        metrics=metrics,
        site=site,
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
    from ui.tui.app import PosApp  # Textual only when the UI runs

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
    OperatorLog(data_dir, cfg.terminal_id or "", wall_clock).record("pin_set", via="pos run --set-pin")
    print("operator PIN set")
    return 0

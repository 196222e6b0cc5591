"""``python -m sim.nfc_wallet`` / ``scripts/nfc-wallet``: a phone wallet in NFC card
emulation, one JSON line per event on stdout (``ready``, ``select``, ``generate``, ``token``, ...)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from drivers.nfc.faults import FAULT_NAMES, Faults
from sim.nfc_wallet import WalletEmulator
from sim.wallet import Wallet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nfc-wallet", description="A phone wallet in NFC card emulation")
    p.add_argument("--wallet", type=Path, required=True, help="wallet JSON (sim.wallet)")
    p.add_argument("--port", type=int, help="udp port (device udp:HOST:PORT)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--device", help="nfcpy device instead of udp (e.g. usb:054c:06c3)")
    p.add_argument("--fault", action="append", default=[], choices=FAULT_NAMES)
    p.add_argument("--delay", type=float, help="seconds for slow / slow-wtx (default 0.3)")
    p.add_argument("--chunk", type=int, help="response bytes per APDU (chained: default 32)")
    p.add_argument("--max-amount", type=int, help="refuse (69 85) above this amount")
    p.add_argument("--uid", help="4-byte NFCID1, hex (default 08 + wallet id)")
    p.add_argument("--no-save", action="store_true", help="keep the counter in memory (no fsync per token)")
    p.add_argument("--taps", type=int, help="exit after this many sessions")
    p.add_argument("--timeout", type=float, help="exit after this many seconds")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    logging.getLogger("nfc").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if args.device is None and args.port is None:
        p.error("--port or --device is required")
    url = args.device or f"udp:{args.host}:{args.port}"
    faults = replace(Faults.named(args.fault, delay=args.delay, chunk=args.chunk), max_amount=args.max_amount)

    def emit(event: str, **kw: Any) -> None:
        print(json.dumps({"event": event, **kw}), flush=True)

    wallet = Wallet.load(args.wallet)
    if args.no_save:
        wallet.path = None
    emu = WalletEmulator(
        wallet, url, faults, uid=bytes.fromhex(args.uid) if args.uid else None, on_event=emit
    )
    try:
        emu.open()
    except OSError as exc:
        print(f"nfc-wallet: cannot open {url}: {exc}", file=sys.stderr)
        return 2
    emit("ready", url=url, uid=emu.uid.hex(), wallet_id=wallet.wallet_id.hex(), faults=args.fault)
    try:
        served = emu.serve(taps=args.taps, timeout=args.timeout)
    except OSError as exc:
        print(f"nfc-wallet: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        served = emu.taps
    finally:
        emu.close()
    emit("done", taps=served)
    return 0

"""``pos demo``: everything embedded and simulated (demo scheme, simulated customers, a real
journal, a local collector). The demo itself (``sim.demo``) is imported only when it runs.

    pos demo [--mode counter|vending|gate] [--language en|zh] [--dir DIR] [--headless [--payments N]]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pos.config_model import LANGUAGES, MODES

DEFAULT_PAYMENTS = 1_000
MAX_PAYMENTS = 100_000  # the network story's day: beyond this it stops being a demo


def payments_count(text: str) -> int:
    """``--payments``: how many offline payments the network story queues (0 skips it)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_PAYMENTS:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 to {MAX_PAYMENTS:,}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the embedded demo: simulated devices, demo keys")
    p.add_argument("--dir", type=Path, help="keep the demo's scheme and data here (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir at exit (it is removed otherwise)")
    p.add_argument("--headless", action="store_true", help="no UI: print a scripted stream of decisions")
    p.add_argument("--mode", choices=MODES, default="counter", help="counter (default), vending or gate")
    p.add_argument("--language", choices=LANGUAGES, default="en", help="the screens' language (F2 switches)")
    p.add_argument(
        "--payments", type=payments_count, default=DEFAULT_PAYMENTS, metavar="N",
        help=f"--headless: payments queued offline in the network story (default {DEFAULT_PAYMENTS:,})",
    )  # fmt: skip
    p.add_argument(
        "--linger", action="store_true",
        help="--headless: keep the demo's collector and operator console up after the story, until Ctrl-C",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="--headless: the fault seed (a failing run replays)")  # fmt: skip
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    temp = None
    if args.dir is None:  # a temp dir the demo owns: removed at exit unless --keep
        temp = Path(tempfile.mkdtemp(prefix="pos-demo-"))
        args.dir = temp
    try:
        if args.headless:
            from sim.demo import headless

            return headless.run(args)
        from sim.demo.interactive import run_demo as run_ui_demo  # Textual only when the UI runs

        return run_ui_demo(args.mode, args.dir, args.language)
    finally:
        if temp is not None and not args.keep:
            shutil.rmtree(temp, ignore_errors=True)
        elif temp is not None:
            print(f"demo data kept in {temp}")

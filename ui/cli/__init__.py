"""``pos``: the command line, the composition root that wires drivers and stores into the core.

Exit codes everywhere: 0 success (approved), 1 a negative answer (declined, journal broken),
2 usage, configuration or list error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from collector import cli as collector_cli
from pos.errors import PosError
from ui.cli import accept as cmd_accept
from ui.cli import demo as cmd_demo
from ui.cli import doctor as cmd_doctor
from ui.cli import keys as cmd_keys
from ui.cli import receipt as cmd_receipt
from ui.cli import run as cmd_run
from ui.cli import sim as cmd_sim
from ui.cli import sync as cmd_sync

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pos", description="Offline OWT1 payment terminal")
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd_accept.register(sub)
    cmd_keys.register(sub)
    cmd_sim.register(sub)
    cmd_doctor.register(sub)
    cmd_demo.register(sub)
    cmd_run.register(sub)
    cmd_sync.register(sub)
    collector_cli.register(sub)
    cmd_receipt.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A file-size limit must give EFBIG (-> storage_failure), not kill the terminal.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except PosError as exc:
        print(f"pos {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

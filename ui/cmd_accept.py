"""``pos accept``: the headless contract outside tools call (issue: core, section 6).

    pos accept --data-dir DIR --root-key ROOT.pem --trust-list TL.cose [--deny-list DL.cose]
               --currency CUR --amount MINOR_UNITS [--now UNIX_SECONDS]
               [--terminal-id ID --challenge HEX32] TOKEN

The last stdout line is one JSON object; exit 0 approved, 1 declined, 2 usage/config/list error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pos import config as configuration
from pos import reasons
from pos.decision import Decision, PaymentRequest
from pos.errors import StorageError
from pos.terminal import Terminal
from ui import provisioning

MAX_INPUT_BYTES = 1 << 20  # far above any token text; more is declined unread


def register(sub: Any) -> None:
    p = sub.add_parser("accept", help="decide one presented token (headless)")
    provisioning.add_terminal_args(p)
    p.add_argument("--amount", type=provisioning.positive_int, required=True, help="minor units")
    p.add_argument("--now", type=provisioning.unsigned_int, help="replace the clock (epoch seconds)")
    p.add_argument(
        "--challenge", type=provisioning.challenge_hex, help="NFC: the 16-byte challenge, 32 hex digits"
    )
    p.add_argument("token", metavar="TOKEN", help="OWT1 text, - for standard input, @PATH for a file")
    p.set_defaults(handler=run)


def read_presentation(arg: str) -> bytes:
    """The TOKEN argument as bytes; oversize input is cut to a length that is surely declined."""
    if arg == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    if arg.startswith("@"):
        path = Path(arg[1:])
        try:
            with path.open("rb") as fh:
                return fh.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise provisioning.UsageError(f"cannot read {path}: {exc.strerror}") from None
    return arg.encode("utf-8", "surrogateescape")


def run(args: argparse.Namespace) -> int:
    if (args.terminal_id is None) != (args.challenge is None):
        raise provisioning.UsageError("--terminal-id and --challenge go together (NFC mode)")
    cfg = provisioning.load_config(args)
    currency = configuration.check_currency(args.currency or cfg.currency or "", "--currency")
    presented = read_presentation(args.token)
    now = args.now if args.now is not None else int(time.time())
    try:
        terminal = provisioning.open_terminal(args, cfg)
    except StorageError as exc:  # no journal, no approval: a decline, not a usage error
        print(f"pos accept: {exc}", file=sys.stderr)
        print(json.dumps(Decision.declined(reasons.STORAGE_FAILURE, args.amount).as_json()))
        return 1
    try:
        request = PaymentRequest(
            amount=args.amount,
            currency=currency,
            now=now,
            terminal_id=args.terminal_id or cfg.terminal_id or terminal.default_terminal_id,
            challenge=args.challenge,
        )
        decision = decide(terminal, presented, request)
    finally:
        terminal.close(now)
    print(json.dumps(decision.as_json()))
    return 0 if decision.approved else 1


def decide(terminal: Terminal, presented: bytes, request: PaymentRequest) -> Decision:
    if len(presented) > MAX_INPUT_BYTES:
        return Decision.declined(reasons.MALFORMED, request.amount)
    return terminal.accept_text(presented, request)

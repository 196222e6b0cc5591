"""``pos accept``: the headless contract outside tools call (issue: core, section 6).

    pos accept --data-dir DIR --root-key ROOT.pem --trust-list TL.cose [--deny-list DL.cose]
               --currency CUR --amount MINOR_UNITS [--now UNIX_SECONDS]
               [--terminal-id ID --challenge HEX32] TOKEN

The last stdout line is one JSON object; exit 0 approved, 1 declined, 2 usage/config/list error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pos import config as configuration
from pos import reasons
from pos.decision import Decision, PaymentRequest
from pos.errors import ListError, StorageError
from pos.ports import Presentation, SourceFailure
from pos.terminal import Terminal
from ui.runtime import provisioning

MAX_INPUT_BYTES = 1 << 20  # far above any token text; more is declined unread
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def register(sub: Any) -> None:
    p = sub.add_parser("accept", help="decide one presented token (headless)")
    provisioning.add_terminal_args(p, lists_required=False)  # without --trust-list: the installed lists
    p.add_argument("--amount", type=provisioning.positive_int, required=True, help="minor units")
    p.add_argument("--now", type=provisioning.unsigned_int, help="replace the clock (epoch seconds)")
    p.add_argument(
        "--challenge", type=provisioning.challenge_hex, help="NFC: the 16-byte challenge, 32 hex digits"
    )
    p.add_argument(
        "token", metavar="TOKEN", nargs="?",
        help="OWT1 text, - for standard input, @PATH for a file holding the text or a PNG/JPEG of the QR",
    )  # fmt: skip
    p.add_argument("--source", metavar="URL", help="wait for one token from a device instead of TOKEN")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait with --source (30)")
    p.set_defaults(handler=run)


def read_presentation(arg: str) -> bytes:
    """The TOKEN argument as bytes; oversize input is cut to a length that is surely declined.

    ``@PATH`` naming a PNG or JPEG file (by its magic bytes) is a picture of the QR code: the
    camera's decoder chain reads it; a picture without a readable OWT code gives empty text,
    which is declined ``malformed``.
    """
    if arg == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    if arg.startswith("@"):
        path = Path(arg[1:])
        try:
            with path.open("rb") as fh:
                head = fh.read(MAX_INPUT_BYTES + 1)
                if not head.startswith(IMAGE_MAGIC):
                    return head
                from drivers.camera.images import MAX_IMAGE_BYTES, decode_image_bytes

                data = head + fh.read(MAX_IMAGE_BYTES + 1 - len(head))
        except OSError as exc:
            raise provisioning.UsageError(f"cannot read {path}: {exc.strerror}") from None
        return decode_image_bytes(data) or b""
    return arg.encode("utf-8", "surrogateescape")


def read_source(url: str, request: PaymentRequest, timeout: float) -> Presentation:
    """One presentation from a device; ``SourceFailure`` when none came (a driver outcome)."""
    from drivers.sources import open_source

    try:
        source = open_source(url)
    except (ValueError, OSError) as exc:
        raise provisioning.UsageError(f"--source {url}: {exc}") from None
    try:
        return source.read(request, timeout)
    finally:
        source.close()


def run(args: argparse.Namespace) -> int:
    if (args.token is None) == (args.source is None):
        raise provisioning.UsageError("give TOKEN or --source URL (one of them)")
    nfc_source = args.source is not None and source_kind(args.source) == "nfc"
    if args.source is not None and args.challenge is not None:
        raise provisioning.UsageError("with --source the terminal makes its own challenge")
    if args.source is None and (args.terminal_id is None) != (args.challenge is None):
        raise provisioning.UsageError("--terminal-id and --challenge go together (NFC mode)")
    cfg = provisioning.load_config(args)
    currency = configuration.check_currency(args.currency or cfg.currency or "", "--currency")
    presented = read_presentation(args.token) if args.token is not None else b""
    now = args.now if args.now is not None else int(time.time())
    try:
        terminal = provisioning.open_terminal(args, cfg)
    except StorageError as exc:  # no journal, no approval: a decline, not a usage error
        print(f"pos accept: {exc}", file=sys.stderr)
        print(json.dumps(Decision.declined(reasons.STORAGE_FAILURE, args.amount).as_json()))
        return 1
    try:
        if args.trust_list is None and terminal.snapshot().trust is None:
            raise ListError("no trust list installed: give --trust-list, or run pos keys install or pos sync")
        request = PaymentRequest(
            amount=args.amount,
            currency=currency,
            now=now,
            terminal_id=args.terminal_id or terminal.journal.identity.resolve_terminal_id(cfg.terminal_id),
            challenge=os.urandom(16) if nfc_source else args.challenge,
        )
        if args.source is None:
            decision = decide(terminal, presented, request)
        else:
            decision = decide_from_source(terminal, args.source, request, args.timeout)
    finally:
        terminal.close(now)
    print(json.dumps(decision.as_json()))
    return 0 if decision.approved else 1


def source_kind(url: str) -> str:
    from drivers.sources import kind_of

    try:
        return kind_of(url)
    except ValueError as exc:
        raise provisioning.UsageError(str(exc)) from None


def decide_from_source(terminal: Terminal, url: str, request: PaymentRequest, timeout: float) -> Decision:
    try:
        shown = read_source(url, request, timeout)
    except SourceFailure as failure:  # no token reached the verifier: the driver says why
        print(f"pos accept: {url}: {failure}", file=sys.stderr)
        return Decision.declined(failure.outcome, request.amount)
    if shown.kind == "bytes":
        return terminal.accept_bytes(shown.data, request)
    return decide(terminal, shown.data, request)


def decide(terminal: Terminal, presented: bytes, request: PaymentRequest) -> Decision:
    if len(presented) > MAX_INPUT_BYTES:
        return Decision.declined(reasons.MALFORMED, request.amount)
    return terminal.accept_text(presented, request)

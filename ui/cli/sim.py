"""``pos scheme`` and ``pos wallet``: the demo scheme and wallet simulators (DEMO keys only)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from pos.presentation import encode_text
from pos.wire.signing import ALG_NAMES
from ui.runtime import provisioning


def register(sub: Any) -> None:
    scheme = sub.add_parser("scheme", help="demo scheme: root, issuers, lists").add_subparsers(
        dest="scheme_cmd", required=True
    )
    p = scheme.add_parser("init", help="make a demo scheme root key")
    _scheme_dir(p)
    p.add_argument("--alg", choices=sorted(ALG_NAMES), default="ed25519", help="the root key's algorithm")
    p.set_defaults(handler=run_init)
    issuer = scheme.add_parser("issuer", help="issuers").add_subparsers(dest="issuer_cmd", required=True)
    p = issuer.add_parser("add", help="add a demo issuer key")
    _scheme_dir(p)
    p.add_argument("--name", required=True, help="the issuer's name in the trust list")
    p.add_argument("--alg", choices=sorted(ALG_NAMES), default="ed25519", help="the issuer key's algorithm")
    p.add_argument("--nbf", type=provisioning.unsigned_int, help="valid from (epoch seconds; default now)")
    p.add_argument("--exp", type=provisioning.unsigned_int, help="valid until (epoch seconds)")
    p.set_defaults(handler=run_issuer_add)
    for name in ("trust-list", "deny-list"):
        p = scheme.add_parser(name, help=f"sign a {name.replace('-', ' ')}")
        _scheme_dir(p)
        p.add_argument("--out", type=Path, required=True, help="write the signed list (COSE) here")
        p.add_argument(
            "--seq", type=provisioning.unsigned_int, help="the list's sequence number (default: next)"
        )
        p.add_argument("--iat", type=provisioning.unsigned_int, help="issued at (epoch seconds; default now)")
        p.add_argument(
            "--valid-days", type=provisioning.unsigned_int, default=7, help="days to next_update (7)"
        )
        if name == "deny-list":
            p.add_argument("--deny", action="append", default=[], metavar="WALLET_HEX",
                           help="a wallet id to deny (repeat for more)")  # fmt: skip
        p.set_defaults(handler=run_list, kind=name)

    wallet = sub.add_parser("wallet", help="demo wallet").add_subparsers(dest="wallet_cmd", required=True)
    p = wallet.add_parser("new", help="issue a demo wallet")
    _scheme_dir(p)
    p.add_argument("--issuer", required=True, help="the issuer's name (pos scheme issuer add --name)")
    p.add_argument(
        "--out", type=Path, required=True, help="write the wallet (JSON, with its private key) here"
    )
    p.add_argument("--alg", choices=sorted(ALG_NAMES), default="ed25519", help="the wallet key's algorithm")
    p.add_argument("--currency", default="EUR", help="ISO 4217 currency of the wallet (EUR)")
    p.add_argument(
        "--limit", type=provisioning.unsigned_int, default=10_000, help="per payment (minor units)"
    )
    p.add_argument("--offline-limit", type=provisioning.unsigned_int, default=50_000,
                   help="most the wallet spends offline (minor units)")  # fmt: skip
    p.set_defaults(handler=run_wallet_new)
    p = wallet.add_parser("pay", help="make a payment token")
    p.add_argument("--wallet", type=Path, required=True, help="the wallet file (pos wallet new --out)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--max-amount", type=provisioning.unsigned_int, help="QR mode")
    mode.add_argument("--amount", type=provisioning.unsigned_int, help="NFC mode (exact)")
    p.add_argument(
        "--challenge", type=provisioning.challenge_hex, help="NFC: the reader's challenge (32 hex)"
    )
    p.add_argument("--terminal-id", help="NFC: the terminal's id the token is bound to")
    p.add_argument("--now", type=provisioning.unsigned_int, help="replace the clock (epoch seconds)")
    p.add_argument("--qr", type=Path, help="also write the QR code as a PNG")
    p.add_argument("--cose", type=Path, help="also write the raw COSE bytes")
    p.set_defaults(handler=run_wallet_pay)


def _scheme_dir(p: argparse.ArgumentParser) -> None:
    """The scheme folder is ``--scheme`` in every command (``--dir`` still works, unlisted)."""
    either = p.add_mutually_exclusive_group(required=True)
    either.add_argument("--scheme", type=Path, help="the demo scheme's folder")
    either.add_argument("--dir", dest="scheme", type=Path, help=argparse.SUPPRESS)


def run_init(args: argparse.Namespace) -> int:
    from sim.scheme import Scheme  # the demo scheme: only when this command runs

    Scheme.init(args.scheme, ALG_NAMES[args.alg])
    print(f"demo scheme in {args.scheme}; pin {args.scheme / 'root.pem'} in terminals (DEMO key)")
    return 0


def run_issuer_add(args: argparse.Namespace) -> int:
    from sim.scheme import Scheme  # the demo scheme: only when this command runs

    issuer = Scheme(args.scheme).add_issuer(args.name, ALG_NAMES[args.alg], args.nbf, args.exp)
    print(f"issuer {issuer.name!r} kid {issuer.kid.hex()} (DEMO key)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sim.scheme import DAY, Scheme  # the demo scheme: only when this command runs

    scheme = Scheme(args.scheme)
    valid = args.valid_days * DAY
    if args.kind == "trust-list":
        raw = scheme.trust_list(seq=args.seq, iat=args.iat, valid_s=valid)
    else:
        for wid in args.deny:
            scheme.deny(bytes.fromhex(wid))
        raw = scheme.deny_list(seq=args.seq, iat=args.iat, valid_s=valid)
    args.out.write_bytes(raw)
    print(f"{args.kind} written to {args.out} ({len(raw)} bytes)")
    return 0


def run_wallet_new(args: argparse.Namespace) -> int:
    from sim.scheme import Scheme  # the demo scheme: only when this command runs
    from sim.wallet import Wallet

    issuer = Scheme(args.scheme).issuer(args.issuer)
    wallet = Wallet.issue(
        issuer, ALG_NAMES[args.alg], currency=args.currency,
        payment_limit=args.limit, offline_limit=args.offline_limit,
    )  # fmt: skip
    wallet.path = args.out
    wallet.save()
    print(f"wallet {wallet.wallet_id.hex()} written to {args.out} (DEMO key)")
    return 0


def run_wallet_pay(args: argparse.Namespace) -> int:
    from sim.wallet import Wallet

    wallet = Wallet.load(args.wallet)
    now = args.now if args.now is not None else int(time.time())
    if args.amount is not None:
        token = wallet.token(
            amount=args.amount, challenge=args.challenge or os.urandom(16),
            terminal_id=args.terminal_id or "", now=now,
        )  # fmt: skip
    else:
        token = wallet.token(max_amount=args.max_amount, now=now)
    text = encode_text(token)
    if args.cose:
        args.cose.write_bytes(token)
    if args.qr:
        import segno

        segno.make(text, error="m", mode="alphanumeric", micro=False).save(str(args.qr), scale=6, border=4)
    print(text)
    return 0

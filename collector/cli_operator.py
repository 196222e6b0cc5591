"""``pos collector deny|reinstate|audit``: operator actions on the deny list, and their trail.

    pos collector deny WALLET --reason TEXT --db URL --scheme DIR [--operator WHO]
    pos collector reinstate WALLET --reason TEXT --db URL --scheme DIR [--operator WHO]
    pos collector audit --db URL [--json]

``register(coll)`` adds the three subcommands to the ``pos collector`` group; the handlers
return the exit code (0 done, 2 refused: the message says why). The logic lives in
``collector.operator_actions`` and ``collector.audit``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(coll: Any) -> None:
    for name, what in (("deny", "put a wallet on the deny list"), ("reinstate", "take a wallet off it")):
        p = coll.add_parser(name, help=f"{what}, publish a new signed deny list, audit it")
        p.add_argument("wallet", metavar="WALLET", help="wallet id, 16 hex digits")
        p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        p.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://...")
        p.add_argument("--scheme", type=Path, required=True, help="scheme dir: its root key signs the list")
        p.add_argument("--operator", help="who acts (default: user@host)")
        p.set_defaults(handler=run_deny if name == "deny" else run_reinstate)
    p = coll.add_parser("audit", help="the operator audit trail (deny, reinstate: who, when, why)")
    p.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://...")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=run_audit)


def _act(args: argparse.Namespace, action: str) -> int:
    from collector import audit, operator_actions
    from collector.db import Database
    from collector.lists import Lists, ListSigner
    from pos.errors import PosError

    try:
        wid = operator_actions.parse_wallet_id(args.wallet)
        signer = ListSigner.from_scheme_dir(args.scheme)
    except (PosError, OSError, ValueError) as exc:
        print(f"pos collector {action}: {exc}", file=sys.stderr)
        return 2
    db = Database(args.db)
    try:
        lists = Lists(db, signer.public, signer)
        do = operator_actions.deny if action == "deny" else operator_actions.reinstate
        seq = do(lists, wid, args.reason, args.operator or audit.default_operator())
    except PosError as exc:
        print(f"pos collector {action}: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(f"{action}: wallet {wid.hex()}; published deny list seq {seq}")
    return 0


def run_deny(args: argparse.Namespace) -> int:
    return _act(args, "deny")


def run_reinstate(args: argparse.Namespace) -> int:
    return _act(args, "reinstate")


def run_audit(args: argparse.Namespace) -> int:
    from collector import audit
    from collector.db import Database

    db = Database(args.db)
    try:
        n = audit.write(db, sys.stdout, as_json=args.json)
    finally:
        db.close()
    print(f"{n} audit records", file=sys.stderr)
    return 0

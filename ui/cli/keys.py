"""``pos keys`` (install, show, unlock) and ``pos journal`` (export, verify)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pos import velocity
from pos.errors import JournalIntegrityError, ListError
from pos.journal import Journal
from pos.journal_check import verify_journal
from pos.trust import DenyList, TrustList
from ui.cli.phrasing import plural, when
from ui.runtime import provisioning


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="trust and deny lists").add_subparsers(dest="keys_cmd", required=True)
    p = keys.add_parser("install", help="verify and install lists with the pinned root key")
    provisioning.add_terminal_args(p, lists_required=False)
    p.set_defaults(handler=run_install)
    p = keys.add_parser("show", help="the lists in force and their freshness")
    provisioning.add_terminal_args(p, lists_required=False)
    p.add_argument("--now", type=provisioning.unsigned_int, help="replace the clock (epoch seconds)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p.set_defaults(handler=run_show)
    p = keys.add_parser("unlock", help="operator: clear a velocity lock on a wallet")
    provisioning.add_terminal_args(p, lists_required=False)
    p.add_argument("wallet_id", help="wallet id, 16 hex digits")
    p.set_defaults(handler=run_unlock)

    journal = sub.add_parser("journal", help="the local payment journal").add_subparsers(
        dest="journal_cmd", required=True
    )
    p = journal.add_parser("export", help="one JSON object per payment")
    p.add_argument("--data-dir", required=True, type=Path, help="the terminal's data dir")
    # "--since" is a time everywhere else (collector export): a journal position is a seq
    after = p.add_mutually_exclusive_group()
    after.add_argument("--after-seq", dest="since", type=provisioning.unsigned_int, default=0,
                       help="only rows after this journal seq")  # fmt: skip
    after.add_argument("--since", dest="since", type=provisioning.unsigned_int, help=argparse.SUPPRESS)
    p.set_defaults(handler=run_export)
    p = journal.add_parser("verify", help="check the hash chain and signed heads")
    p.add_argument("--data-dir", required=True, type=Path, help="the terminal's data dir")
    p.set_defaults(handler=run_verify)


def run_install(args: argparse.Namespace) -> int:
    if args.trust_list is None and args.deny_list is None:
        raise provisioning.UsageError("give --trust-list and/or --deny-list")
    terminal = provisioning.open_terminal(args, provisioning.load_config(args))
    terminal.close()
    print("lists installed; see `pos keys show`")
    return 0


def _list_info(lst: TrustList | DenyList | None, now: int, grace: int) -> dict[str, Any] | None:
    if lst is None:
        return None
    info: dict[str, Any] = {
        "seq": lst.seq,
        "iat": lst.iat,
        "next_update": lst.next_update,
        "age_s": now - lst.iat,
        "stale": lst.stale_at(now, grace),
    }
    if isinstance(lst, TrustList):
        info["issuers"] = [
            {
                "kid": i.kid.hex(),
                "name": i.name,
                "alg": i.alg,
                "nbf": i.nbf,
                "exp": i.exp,
                "valid_now": i.valid_at(now),
            }
            for i in lst.issuers.values()
        ]
    else:
        info["denied"] = len(lst)
    return info


def run_show(args: argparse.Namespace) -> int:
    cfg = provisioning.load_config(args)
    data_dir = provisioning.data_dir_of(args, cfg)
    snap = provisioning.keystore_of(args.root_key, cfg, data_dir).load()
    now = args.now if args.now is not None else int(time.time())
    grace = cfg.policy.grace_s
    doc = {"trust_list": _list_info(snap.trust, now, grace), "deny_list": _list_info(snap.deny, now, grace)}
    if args.json:
        print(json.dumps(doc))
        return 0
    for name, info in doc.items():
        if info is None:
            print(f"{name}: none installed")
            continue
        state = "STALE" if info["stale"] else "fresh"
        print(
            f"{name}: seq {info['seq']}, issued {when(now - info['age_s'], now)},"
            f" next update {when(info['next_update'], now)} ({state})"
        )
        for i in info.get("issuers", []):
            valid = "valid" if i["valid_now"] else "NOT valid now"
            print(f"  issuer {i['name']!r} kid {i['kid']} alg {i['alg']} {valid}")
        if "denied" in info:
            print(f"  {plural(info['denied'], 'wallet id')} denied")
    return 0


def run_unlock(args: argparse.Namespace) -> int:
    try:
        wallet = bytes.fromhex(args.wallet_id)
    except ValueError:
        raise provisioning.UsageError("wallet id must be hex") from None
    journal = Journal(provisioning.data_dir_of(args, provisioning.load_config(args)))
    cleared = velocity.clear(journal.db, "operator", wallet)
    journal.close()
    print(f"cleared {cleared} lock(s) on wallet {wallet.hex()}")
    return 0


def _existing_journal(args: argparse.Namespace) -> Journal:
    if not (args.data_dir / "journal.db").exists():
        raise ListError(f"{args.data_dir} holds no journal")
    return Journal(args.data_dir)


def run_export(args: argparse.Namespace) -> int:
    journal = _existing_journal(args)
    out = sys.stdout
    for row in journal.rows(args.since):
        out.write(json.dumps(row) + "\n")
    journal.close()
    return 0


def run_verify(args: argparse.Namespace) -> int:
    journal = _existing_journal(args)
    try:
        n = verify_journal(journal)
    except JournalIntegrityError as exc:
        print(f"journal verify: FAILED at seq {exc.seq}: {exc.what}")
        return 1
    finally:
        journal.close()
    print(f"journal verify: OK, {plural(n, 'row')}, chain and signed heads hold")
    return 0

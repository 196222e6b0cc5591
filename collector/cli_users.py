"""``pos collector user add|remove|list|reset-totp``: console accounts and their second factor.

    echo "$PASSWORD" | pos collector user add --db URL NAME --role viewer|operator [--totp]
    pos collector user remove --db URL NAME
    pos collector user list --db URL
    pos collector user reset-totp --db URL NAME

The password is one line on standard input (never the command line: ``ps`` shows that to every
user). Operators always get a TOTP factor: ``add`` and ``reset-totp`` print its ``otpauth://``
URI, a QR code of it and ten one-time recovery codes, once. Exit codes: 0 done, 2 refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(coll: Any) -> None:
    user = coll.add_parser("user", help="console accounts (viewer, operator) and their second factor")
    sub = user.add_subparsers(dest="user_cmd", required=True)
    p = sub.add_parser("add", help="add an account; the password is one line on standard input")
    p.add_argument("name", metavar="NAME", help="the account's sign-in name")
    p.add_argument("--role", required=True, choices=["viewer", "operator"], help="viewer sees, operator acts")
    p.add_argument("--totp", action="store_true", help="enrol a second factor (always for operators)")
    p.set_defaults(handler=run_add)
    p = sub.add_parser("remove", help="remove an account and end its sessions")
    p.add_argument("name", metavar="NAME", help="the account's sign-in name")
    p.set_defaults(handler=run_remove)
    p = sub.add_parser("list", help="the accounts, their roles and whether they have a second factor")
    p.set_defaults(handler=run_list)
    p = sub.add_parser("reset-totp", help="enrol a new second factor; the account's sessions end at once")
    p.add_argument("name", metavar="NAME", help="the account's sign-in name")
    p.set_defaults(handler=run_reset)
    for parser in sub.choices.values():
        parser.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://...")


def _show(name: str, enrolment: Any) -> None:
    import segno

    print(f"second factor for {name}: add this to an authenticator app (TOTP, SHA-1, 6 digits, 30 s)")
    print(enrolment.uri)
    segno.make(enrolment.uri, error="m").terminal(out=sys.stdout, compact=True)
    print("recovery codes (each works once in place of a code; keep them offline):")
    for code in enrolment.recovery_codes:
        print(f"  {code}")


def _run(args: argparse.Namespace, action: Any) -> int:
    from collector import audit
    from collector.console.accounts import AccountError
    from collector.db import Database

    db = Database(args.db)
    try:
        return int(action(db, audit.default_operator()))
    except AccountError as exc:
        print(f"pos collector user {args.user_cmd}: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()


def run_add(args: argparse.Namespace) -> int:
    from collector.console import accounts

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"password for {args.name}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")

    def add(db: Any, who: str) -> int:
        enrolment = accounts.create_user(db, args.name, args.role, password, totp=args.totp, by=who)
        print(f"user {args.name} added ({args.role})")
        if enrolment is not None:
            _show(args.name, enrolment)
        return 0

    return _run(args, add)


def run_remove(args: argparse.Namespace) -> int:
    from collector.console import accounts

    def remove(db: Any, who: str) -> int:
        accounts.remove_user(db, args.name, by=who)
        print(f"user {args.name} removed")
        return 0

    return _run(args, remove)


def run_list(args: argparse.Namespace) -> int:
    from collector.console import accounts

    def show(db: Any, who: str) -> int:
        for a in accounts.list_users(db):
            print(f"{a.name}\t{a.role}\t{'totp' if a.has_totp else 'password only'}")
        return 0

    return _run(args, show)


def run_reset(args: argparse.Namespace) -> int:
    from collector.console import accounts

    def reset(db: Any, who: str) -> int:
        enrolment = accounts.reset_totp(db, args.name, by=who)
        print(f"second factor of {args.name} reset; its sessions ended")
        _show(args.name, enrolment)
        return 0

    return _run(args, reset)

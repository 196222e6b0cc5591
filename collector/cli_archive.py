"""``pos collector archive``: settled months out of the database and back (``collector.archive``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pos.errors import ConfigError


def _whole(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def register(coll: Any) -> None:
    p = coll.add_parser("archive", help="settled months to gzip JSON lines, checked, then dropped")
    p.add_argument("--db", required=True, help="postgresql://... (the partitioned layout)")
    p.add_argument("--before", help="archive every settled month before this one (YYYY-MM)")
    p.add_argument("--out", type=Path, help="the archive to write (gzip JSON lines; must not exist)")
    p.add_argument("--grace-days", type=_whole, default=7, help="days from a month's end to settled (7)")
    p.add_argument("--prune-claims", action="store_true", help="also drop claims of expired certificates")
    p.add_argument("--skew", type=_whole, default=30, help="seconds of clock skew for --prune-claims (30)")
    p.add_argument("--restore", type=Path, help="put this archive's rows back instead")
    p.set_defaults(handler=run_archive)


def run_archive(args: argparse.Namespace) -> int:
    from collector import archive
    from collector.db import Database

    if args.restore is None and (args.before is None or args.out is None):
        raise ConfigError("archive: give --before YYYY-MM and --out FILE, or --restore FILE")
    try:
        db = Database(args.db)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--db: {exc}") from None
    try:
        if args.restore is not None:
            n = archive.restore(db, args.restore)
            print(f"restored {n} rows from {args.restore}", file=sys.stderr)
            return 0
        done = archive.archive(
            db, args.before, args.out, grace_s=args.grace_days * 86400,
            prune_claims_skew=args.skew if args.prune_claims else None,
        )  # fmt: skip
    except archive.ArchiveError as exc:
        print(f"pos collector archive: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    total = sum(s["total"] for s in done.settlement)
    print(
        f"archived {', '.join(done.months)}: {done.rows} rows, {len(done.settlement)} settlement lines"
        f" totalling {total} minor units, to {args.out}; {done.claims_pruned} claims pruned",
        file=sys.stderr,
    )
    return 0

"""``pos collector site add SITE TID...`` (issue 14): put enrolled terminals into a site and
publish the site's signed membership list, which each terminal fetches with its next sync.

    pos collector site add STATION-1 GATE-A GATE-B --db sqlite:///collector.db --scheme DIR

Exit codes: 0 done, 2 usage (unknown terminal, bad site id, no signer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register_collector(coll: Any) -> None:
    """Under ``pos collector``: the ``site`` commands."""
    site = coll.add_parser("site", help="sites: terminals that share spent tokens (docs/site.md)")
    sub = site.add_subparsers(dest="site_cmd", required=True)
    p = sub.add_parser("add", help="assign enrolled terminals to a site and publish its signed list")
    p.add_argument("site", help="site id (1-64 of A-Z a-z 0-9 . _ -)")
    p.add_argument("terminals", nargs="+", metavar="TID", help="enrolled terminal ids to add to the site")
    p.add_argument("--db", required=True, help="the collector's database URL")
    p.add_argument("--scheme", type=Path, required=True, help="scheme dir: its root key signs the list")
    p.set_defaults(handler=run_add)


def run_add(args: argparse.Namespace) -> int:
    from collector import site
    from collector.db import Database
    from collector.lists import ListSigner

    try:
        signer = ListSigner.from_scheme_dir(args.scheme)
    except (OSError, ValueError) as exc:
        print(f"pos collector site add: no list signer in {args.scheme}: {exc}", file=sys.stderr)
        return 2
    db = Database(args.db)
    try:
        seq = site.add(db, signer.sign_list, args.site, list(args.terminals))
    except site.SiteError as exc:
        print(f"pos collector site add: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(f"site {args.site}: list seq {seq} published ({len(args.terminals)} terminal(s) added)")
    return 0

"""``scripts/fleet_sim``: N simulated terminals upload their day to collector nodes, then check.

    scripts/fleet_sim [--terminals N] [--payments P] [--db sqlite|postgres] [--nodes K]
                      [--concurrency C] [--deadline SECONDS] [--double-spends D] [--json]

Exit 0 when every end check passed (``sim.fleet.checks``), 1 when one failed, 2 on bad usage.
With ``--json`` the last stdout line is one JSON object (the figures and the failures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

from sim.fleet.plan import Sizes
from sim.fleet.run import Options, run


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return n


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scripts/fleet_sim", description=__doc__.splitlines()[0])
    ap.add_argument("--terminals", type=_positive, default=10_000, help="simulated terminals (10000)")
    ap.add_argument("--payments", type=_positive, default=100, help="payments per terminal (100)")
    ap.add_argument("--double-spends", type=int, default=10, help="cross-terminal double spends (10)")
    ap.add_argument(
        "--db", choices=["sqlite", "postgres"], default="postgres", help="postgres (default) or sqlite"
    )
    ap.add_argument(
        "--nodes", type=_positive, default=1, help="pos collector serve processes on one database (1)"
    )
    ap.add_argument("--processes", type=_positive, help="serving processes per node (default: one per core)")
    ap.add_argument("--concurrency", type=_positive, default=32, help="requests in flight (32)")
    ap.add_argument("--deadline", type=float, default=900.0, help="seconds for the traffic (900)")
    ap.add_argument("--batch", type=_positive, default=100, help="rows per batch (100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steady-polls", type=int, default=2000, help="304 polls timed for the list cost (2000)")
    ap.add_argument("--cache", type=Path, help="plan cache dir (default: $TMPDIR/owt-fleet-cache)")
    ap.add_argument("--work", type=Path, help="work dir, kept (default: a temp dir, removed)")
    ap.add_argument("--no-pg-fsync", action="store_true", help="PostgreSQL without fsync (tests)")
    ap.add_argument("--json", action="store_true", help="one JSON object as the last stdout line")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.double_spends < 0 or args.steady_polls < 0:
        parser().error("--double-spends and --steady-polls are 0 or more")
    sizes = Sizes(args.terminals, args.payments, args.double_spends, args.batch, args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="owt-fleet-"))
    cache = args.cache or Path(tempfile.gettempdir()) / "owt-fleet-cache"
    opts = Options(
        sizes, db=args.db, nodes=args.nodes, processes=args.processes, concurrency=args.concurrency,
        deadline_s=args.deadline, work=work, cache=cache, steady_polls=args.steady_polls,
        pg_fsync=not args.no_pg_fsync,
    )  # fmt: skip
    try:
        figures = run(opts)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        print(f"fleet_sim: {exc}", file=sys.stderr)
        figures = {"ok": False, "failures": [str(exc)]}
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for k, v in figures.items():
            print(f"{k:28} {v}")
    for fail in figures.get("failures", []):
        print(f"FAIL: {fail}", file=sys.stderr)
    return 0 if figures.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

"""``scripts/bench fleet``: a simulated fleet against the collector (issue 15's targets).

Runs ``sim.fleet`` (the code behind ``scripts/fleet_sim``) on PostgreSQL (fsync on) and then
on SQLite with the same day: the plan is generated once and cached where ``scripts/fleet_sim``
caches it (``generate_s`` is its cost apart from the ingest, 0 when reused). The bare Ed25519
verify floor of the same cores is measured before, between and after (``scripts/bench_sync.py``'s
``bench_floor``; the median). Defaults finish in minutes; ``--terminals 10000`` is the full figure.

Keys: ``terminals``, ``payments``, ``sim_wall_s``, ``ingest_per_s_postgres``,
``ingest_pct_of_floor_postgres``, ``ingest_per_s_sqlite``, ``ingest_pct_of_floor_sqlite``,
``batch_ms_p50``/``batch_ms_p99`` (PostgreSQL), ``list_poll_cpu_pct`` (collector CPU for 10,000
terminals polling the deny list once a minute, % of one core: the CPU seconds of the node's
processes over the steady 304 polls, scaled), ``db_bytes_per_payment_postgres`` (the entries
table with its indexes and TOAST, per stored row), ``deny_list_bytes``, ``deny_delta_bytes_p50``,
``floor_verify_per_s``, ``generate_s``, ``enroll_s``. ``floor_verify_per_s_libsodium`` and
``ingest_pct_of_libsodium_floor_{db}``: the floor of the library ``pos.sigs`` verifies with first
(libsodium, about twice OpenSSL's rate here) and the ingest's share of it. An ingest passes at
>= 60 % of the (pyca/cryptography) floor or >= 8,000 payments/s, the issue's two readings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

import bench_sync as bs  # noqa: E402

from benchlib.common import Report, Row  # noqa: E402
from sim.fleet import run as fleet_run  # noqa: E402
from sim.fleet.plan import Sizes  # noqa: E402
from tests.sync.harness import make_scheme  # noqa: E402

NAME = "fleet"
FLOOR_SHARE = 0.6
INGEST_TARGET_PER_S = 8000  # the alternative: ">= 60 % of the floor (or 8,000 payments/s)"
POLL_CPU_TARGET_PCT = 10.0
BYTES_TARGET = 600
SIM_TARGET_S = 600.0  # 10,000 terminals x 100 payments


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("fleet")
    g.add_argument(
        "--terminals", type=int, default=1000, help="simulated terminals (1000; 10000 for the full figure)"
    )
    g.add_argument("--payments", type=int, default=100, help="payments per terminal (100)")
    g.add_argument("--nodes", type=int, default=1, help="collector nodes on the one database (1)")
    g.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    g.add_argument("--skip-sqlite", action="store_true")


def _sim(args: argparse.Namespace, scratch: Path, db: str) -> dict[str, Any]:
    sizes = Sizes(args.terminals, args.payments, max(1, args.terminals // 1000), 100)
    opts = fleet_run.Options(
        sizes, db=db, nodes=args.nodes, concurrency=args.concurrency, deadline_s=3600, work=scratch / db,
        cache=Path(tempfile.gettempdir()) / "owt-fleet-cache",
        steady_polls=min(5000, max(2000, args.terminals)),
    )  # fmt: skip
    fig = fleet_run.run(opts)
    if not fig["ok"]:
        raise RuntimeError(f"fleet on {db} failed its end checks: {fig['failures']}")
    bs.log(
        f"fleet {db}: {fig['payments']:,} payments at {fig['ingest_per_s']:,}/s, wall {fig['sim_wall_s']} s"
    )
    return fig


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    env = make_scheme(scratch / "floor-scheme")
    floors = [bs.bench_floor(env)["floor_verify_per_s"]]
    pg = _sim(args, scratch, "postgres")
    floors.append(bs.bench_floor(env)["floor_verify_per_s"])
    figures: dict[str, Any] = {
        "terminals": pg["terminals"], "payments": pg["payments"], "sim_wall_s": pg["sim_wall_s"],
        "generate_s": pg["generate_s"], "enroll_s": pg["enroll_s"],
        "ingest_per_s_postgres": pg["ingest_per_s"],
        "batch_ms_p50": pg["batch_ms_p50"], "batch_ms_p99": pg["batch_ms_p99"],
        "list_poll_cpu_pct": pg["list_poll_cpu_pct"], "list_poll_cpu_ms": pg["list_poll_cpu_ms"],
        "db_bytes_per_payment_postgres": pg["db_bytes_per_payment"], "deny_list_bytes": pg["deny_list_bytes"],
        "deny_delta_bytes_p50": pg["deny_delta_bytes_p50"],
    }  # fmt: skip
    for key in ("list_poll_cpu_pct_keepalive", "ingest_cpu_ms_per_payment_collector",
                "ingest_cpu_ms_per_payment_postgres", "wire_bytes_per_payment"):  # fmt: skip
        if key in pg:
            figures[key] = pg[key]
    if not args.skip_sqlite:
        lite = _sim(args, scratch, "sqlite")
        figures["ingest_per_s_sqlite"] = lite["ingest_per_s"]
        figures["db_bytes_per_payment_sqlite"] = lite["db_bytes_per_payment"]
        floors.append(bs.bench_floor(env)["floor_verify_per_s"])
    floor = statistics.median(floors)
    sodium = statistics.median(bs._floor_sodium)
    figures["floor_verify_per_s"] = round(floor)
    figures["floor_verify_per_s_libsodium"] = round(sodium)
    for db in ("postgres", "sqlite"):
        if f"ingest_per_s_{db}" in figures:
            rate = figures[f"ingest_per_s_{db}"]
            figures[f"ingest_pct_of_floor_{db}"] = round(100 * rate / floor, 1)
            figures[f"ingest_pct_of_libsodium_floor_{db}"] = round(100 * rate / sodium, 1)
    return figures


def judge(f: dict[str, Any]) -> dict[str, bool]:
    checks = {
        "list_poll_cpu_pct": f["list_poll_cpu_pct"] <= POLL_CPU_TARGET_PCT,
        "db_bytes_per_payment_postgres": f["db_bytes_per_payment_postgres"] <= BYTES_TARGET,
    }
    for db in ("postgres", "sqlite"):
        if f"ingest_per_s_{db}" in f:
            share_ok = f[f"ingest_pct_of_floor_{db}"] >= 100 * FLOOR_SHARE
            checks[f"ingest_per_s_{db}"] = share_ok or f[f"ingest_per_s_{db}"] >= INGEST_TARGET_PER_S
    if f["terminals"] >= 10_000:
        checks["sim_wall_s"] = f["sim_wall_s"] <= SIM_TARGET_S
    return checks


def run(args: argparse.Namespace, scratch: Path) -> Report:
    report = Report(f"fleet: {args.terminals:,} simulated terminals x {args.payments} payments")
    f = measure(args, scratch)
    checks = judge(f)
    floor = f["floor_verify_per_s"]
    report.add(Row("floor: bare Ed25519 verifies, all cores", "/s", floor, None, note="pyca/cryptography"))
    report.add(Row("floor: the same with libsodium", "/s", f["floor_verify_per_s_libsodium"], None))
    report.add(Row("plan: tokens and batches generated", "s", f["generate_s"], None, note="0 when reused"))
    for db in ("postgres", "sqlite"):
        if f"ingest_per_s_{db}" in f:
            report.add(
                Row(f"fleet ingest, {db}", "/s", f[f"ingest_per_s_{db}"], None, ">= 60 % of floor or 8,000",
                    checks[f"ingest_per_s_{db}"], f"{f[f'ingest_pct_of_floor_{db}']} % of the floor,"
                    f" {f[f'ingest_pct_of_libsodium_floor_{db}']} % of libsodium's")
            )  # fmt: skip
    report.add(Row("batch answered, postgres", "ms", f["batch_ms_p50"], f["batch_ms_p99"]))
    report.add(
        Row("simulation wall time, postgres", "s", f["sim_wall_s"], None,
            "<= 600 s at 10,000 x 100", checks.get("sim_wall_s"), f"enrolment {f['enroll_s']} s")
    )  # fmt: skip
    report.add(
        Row("deny polls: 10,000 terminals / min", "% core", f["list_poll_cpu_pct"], None, "<= 10 %",
            checks["list_poll_cpu_pct"], f"{f['list_poll_cpu_ms']} ms CPU per 304 poll")
    )  # fmt: skip
    report.add(
        Row("stored bytes per payment, postgres", "B", f["db_bytes_per_payment_postgres"], None, "<= 600",
            checks["db_bytes_per_payment_postgres"], "entries with indexes and TOAST")
    )  # fmt: skip
    report.add(
        Row(
            "deny list / delta",
            "B",
            f["deny_list_bytes"],
            None,
            note=f"delta p50 {f['deny_delta_bytes_p50']} B",
        )
    )
    report.figures.update({k: float(v) for k, v in f.items() if isinstance(v, int | float)})
    report.verdicts.update({k: "PASS" if ok else "FAIL" for k, ok in checks.items()})
    return report

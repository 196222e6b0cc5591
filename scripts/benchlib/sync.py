"""``scripts/bench sync``: store-and-forward against issue 5's targets.

The measurements are ``scripts/bench_sync.py`` (runnable alone): a 100,000-row drain by
``pos sync`` into a collector on SQLite, collector ingest with re-verification from several
concurrent terminals on SQLite and PostgreSQL (median of rounds), and the bare Ed25519 verify
floor of the same cores in the same run. Ingest passes at >= 8,000 payments/s or >= 60 % of
that floor; the drain at <= 30 s with flat memory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bench_sync as bs

from benchlib.common import Report, Row

NAME = "sync"
add_arguments = bs.add_arguments


def _ingest_rows(report: Report, f: dict[str, float], checks: dict[str, bool], db: str) -> None:
    key = f"collector_ingest_per_s_{db}"
    if key not in f:
        return
    floor = f["floor_verify_per_s"]
    target = f">= {bs.INGEST_TARGET_PER_S:,} or >= {bs.INGEST_FLOOR_SHARE:.0%} of floor"
    report.add(
        Row(f"collector ingest, {db}", "/s", f[key], None, target, checks[key],
            f"median of rounds ({f[f'{key}_min']:,.0f}..{f[f'{key}_max']:,.0f}); "
            f"{f[f'collector_ingest_pct_of_floor_{db}']:.1f} % of the floor {floor:,.0f}/s{_cpu_note(f, db)}")
    )  # fmt: skip
    report.add(
        Row(f"ingest batch of {bs.BATCH} answered, {db}", "ms", f[f"collector_ingest_batch_ms_p50_{db}"],
            f[f"collector_ingest_batch_ms_p99_{db}"])
    )  # fmt: skip


def _cpu_note(f: dict[str, float], db: str) -> str:
    cpu = f.get(f"collector_ingest_cpu_us_per_payment_{db}")
    if not cpu or f"ingest_pct_of_floor_cpu_{db}" not in f:
        return ""
    pct = f[f"ingest_pct_of_floor_cpu_{db}"]
    return (f"; CPU {cpu:.0f} us per payment (collector and database processes) against"
            f" {f['floor_cpu_us_per_verify']:.0f} us per bare verify: {pct:.1f} %")


def run(args: argparse.Namespace, scratch: Path) -> Report:
    report = Report("sync: drain, collector ingest, verify floor")
    figures = bs.measure(args, scratch)
    checks = bs.judge(figures)
    report.add(
        Row("floor: bare Ed25519 verifies, all cores", "/s", figures["floor_verify_per_s"], None,
            note=f"median of {args.rounds * (1 if args.skip_postgres else 2) + 1} runs "
            f"({figures['floor_verify_per_s_min']:,.0f}..{figures['floor_verify_per_s_max']:,.0f}); "
            f"one core {figures['floor_verify_per_s_one_core']:,.0f}/s")
    )  # fmt: skip
    for db in ("sqlite", "postgres"):
        _ingest_rows(report, figures, checks, db)
    if "db_bytes_per_payment_postgres" in figures:
        report.add(
            Row("stored payment on PostgreSQL (tables, indexes, claims)", "bytes",
                figures["db_bytes_per_payment_postgres"], None,
                note=f"over {figures['db_rows_postgres']:,.0f} rows; collector.partitions.storage_stats")
        )  # fmt: skip
    if "drain_100k_s" in figures:
        rows = figures["drain_rows"]
        report.add(
            Row(f"drain {rows:,} rows (pos sync -> collector, SQLite)", "s", figures["drain_100k_s"], None,
                f"<= {bs.DRAIN_TARGET_S * rows / 100_000:g} s", checks["drain_100k_s"],
                f"{rows / figures['drain_100k_s']:,.0f} rows/s; journal filled in {figures['fill_s']} s")
        )  # fmt: skip
        report.add(
            Row("drain peak RSS", "MB", figures["drain_peak_rss_mb"], None,
                f"flat: <= {bs.FLAT_RSS:g} x RSS at 1 s", checks["drain_peak_rss_mb"],
                f"{figures['drain_rss_first_s_mb']} MB after 1 s, +{figures['drain_rss_growth_pct']} %")
        )  # fmt: skip
    report.figures.update({k: float(v) for k, v in figures.items()})
    report.verdicts.update({k: "PASS" if ok else "FAIL" for k, ok in checks.items()})
    return report

"""What every benchmark suite shares: the machine note, percentiles, targets and the table.

Percentiles are nearest-rank (the smallest sample with at least q of all samples at or below
it), so a p99 over 10,000 samples is the 9,900th smallest: a real observed latency, never an
interpolation between two.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in (0, 100]."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Stats:
    """Summary of samples in one unit (the samples are converted once, from nanoseconds)."""

    n: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        return cls(
            n=len(samples),
            p50=statistics.median(samples),
            p99=percentile(samples, 99),
            max=max(samples),
            mean=statistics.fmean(samples),
        )

    @classmethod
    def of_ns(cls, samples_ns: Sequence[int], unit_ns: float) -> Stats:
        return cls.of([s / unit_ns for s in samples_ns])


US = 1_000.0
MS = 1_000_000.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _filesystem_of(path: Path) -> str:
    """Device and type of the mount holding ``path``: a tmpfs would make fsync free."""
    best, fs = "", "unknown"
    try:
        target = str(Path(path).resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, typ = line.split()[:3]
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, fs = mnt, f"{typ} on {dev} ({mnt})"
    except OSError:
        pass
    return fs


def machine_info(bench_dir: Path) -> dict[str, Any]:
    import cryptography

    load1, load5, _ = os.getloadavg()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kernel": platform.release(),
        "sqlite": sqlite3.sqlite_version,
        "cryptography": cryptography.__version__,
        "filesystem": _filesystem_of(bench_dir),
        "loadavg_1m_5m": [round(load1, 2), round(load5, 2)],
        "pressure_some_avg60": _pressure(),
    }


def _pressure() -> dict[str, float]:
    """Linux PSI: the share of the last minute some task waited for CPU or I/O (shared machines)."""
    out = {}
    for what in ("cpu", "io"):
        try:
            line = Path(f"/proc/pressure/{what}").read_text().splitlines()[0]
            out[what] = float(line.split()[2].split("=")[1])
        except (OSError, IndexError, ValueError):
            pass
    return out


@dataclass
class Row:
    """One figure of the table: p50 and p99 in ``unit``, and the target verdict if it has one."""

    name: str
    unit: str
    p50: float | None
    p99: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)  # the JSON keys
    notes: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # figure key -> PASS/FAIL, JSON "targets"

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def check(
        self,
        name: str,
        unit: str,
        value: float,
        limit: float,
        target: str,
        *,
        at_least: bool = False,
        **kw: Any,
    ) -> bool:
        """A row judged against a target: ``value <= limit``, or ``>=`` with ``at_least``."""
        ok = value >= limit if at_least else value <= limit
        self.add(Row(name, unit, kw.pop("p50", value), kw.pop("p99", None), target, ok, kw.pop("note", "")))
        return ok

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.ok is False]


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def print_table(report: Report, machine: dict[str, Any]) -> None:
    print(f"\n== {report.title} ==")
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, cryptography {machine['cryptography']}, {machine['date']}"
    )
    print(
        f"bench dir: {machine['filesystem']}; load average {machine['loadavg_1m_5m']}, "
        f"pressure (% of last 60 s waiting) {machine['pressure_some_avg60']}"
    )
    header = ("figure", "unit", "p50", "p99", "target", "result")
    table = [header] + [
        (
            r.name,
            r.unit,
            _fmt(r.p50),
            _fmt(r.p99),
            r.target,
            "" if r.ok is None else ("PASS" if r.ok else "FAIL"),
        )
        for r in report.rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        cells = [
            c.ljust(w) if j in (0, 1, 4) else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in report.rows:
        if r.note:
            print(f"  * {r.name}: {r.note}")
    for note in report.notes:
        print(f"  - {note}")
    failed = report.failed
    verdict = "all targets PASS" if not failed else "FAIL: " + ", ".join(r.name for r in failed)
    print(f"{report.title}: {verdict}")

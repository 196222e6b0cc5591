#!/usr/bin/env python3
"""Sync benchmarks: draining a terminal, collector ingest, and the signature-verify floor.

    scripts/bench sync [--json] [--drain N] [--ingest N] [--terminals K] [--rounds R]
                       [--skip-drain] [--skip-postgres] [--skip-sqlite] [--processes P]

(``.venv/bin/python scripts/bench_sync.py`` with the same options runs it alone.)

Figures (the JSON keys):

* ``drain_100k_s``: N pending payments (default 100,000) in a real journal, uploaded by
  ``pos sync`` (a process) to a ``pos collector serve`` process on SQLite, wall time from spawn
  to exit (CLI start-up included). ``drain_peak_rss_mb`` is that process's peak RSS, sampled
  from /proc with ``drain_rss_first_s_mb`` (after its first second) beside it: flat memory
  means the two are close. The journal is filled through ``Terminal.accept_text`` with
  pre-made tokens; ``fill_s`` says what that took (fill only: ``synchronous=NORMAL`` on the
  filling connection, the accept path's fsync is benchmarked elsewhere).
* ``collector_ingest_per_s_sqlite`` / ``_postgres``: K terminals (threads) posting pre-signed
  batches of 500 concurrently to a collector process, every token re-verified; payments stored
  per second of wall time, the median of R rounds (fresh terminals and tokens each round, one
  collector, so its tables grow as a fleet's do). ``..._batch_ms_p50/p99``: the answer time of
  one batch over all rounds. PostgreSQL runs with fsync on.
* ``floor_verify_per_s``: bare Ed25519 verifications of the same tokens' signatures on as many
  threads as there are cores, measured before each ingest round and after them; the median.
  pyca/cryptography releases the GIL while it verifies, so this is what the cores can do.
  ``floor_verify_per_s_libsodium``: the same with libsodium (PyNaCl's ``crypto_sign_open``),
  which ``pos.sigs`` asks first: about twice OpenSSL's rate on this machine, so the collector's
  share of *that* floor (``ingest_pct_of_libsodium_floor_{db}``) is the stricter ratio.
* ``collector_ingest_cpu_us_per_payment_{db}``: CPU time the collector's processes and (on
  PostgreSQL) the database server's used per payment stored (``/proc``, live and reaped
  children), ``..._db_cpu_us_...`` the server's part; ``floor_cpu_us_per_verify`` the CPU of one
  bare verify; ``ingest_pct_of_floor_cpu_{db}`` their ratio. Other load on a shared machine
  moves wall-clock rates (and the floor measured beside them) a lot, CPU per payment little;
  the bench's own HTTP client is in neither.
* ``db_bytes_per_payment_postgres``: ``collector.partitions.storage_stats`` after the rounds.
* Issue 15's names for the same figures: ``ingest_per_s_{db}``, ``ingest_pct_of_floor_{db}``,
  ``batch_ms_p99`` (PostgreSQL's, else SQLite's).

Targets (issue 5): drain <= 30 s for 100,000 rows with flat memory (peak RSS within 25 % of
the RSS after the first second); ingest >= 8,000/s or >= 60 % of the floor of the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nacl.bindings import crypto_sign_open

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import httpx  # noqa: E402
from benchlib.common import percentile  # noqa: E402

from pos import chain  # noqa: E402
from pos.decision import PaymentRequest, Policy  # noqa: E402
from pos.identity import Identity  # noqa: E402
from pos.presentation import encode_text  # noqa: E402
from pos.sync.enroll import enroll  # noqa: E402
from pos.tokens import parse_token  # noqa: E402
from pos.wire import protocol as p  # noqa: E402
from tests.sync.harness import ENV, OPERATOR_TOKEN, POS_BIN, CollectorProc, make_scheme, new_terminal  # noqa: E402
from tests.sync.pg import PgCluster, unavailable_reason  # noqa: E402

BATCH = 500
PER_WALLET = 100  # at most 500 minor units each: 50,000, the wallets' offline limit
DRAIN_TARGET_S = 30.0  # for 100,000 rows
FLAT_RSS = 1.25  # peak RSS at most this times the RSS after the drain's first second
INGEST_TARGET_PER_S = 8000
INGEST_FLOOR_SHARE = 0.6


def log(msg: str, end: str = "\n") -> None:
    print(msg, file=sys.stderr, flush=True, end=end)


def make_tokens(env: Any, n: int, now: int, seed: int = 1) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    out: list[tuple[bytes, int]] = []
    wallets = [env.wallet() for _ in range(-(-n // PER_WALLET))]
    for w in wallets:
        for _ in range(PER_WALLET):
            if len(out) == n:
                break
            amount = rng.randint(1, 500)
            out.append((w.token(max_amount=amount, now=now), amount))
    rng.shuffle(out)
    return out


# -- drain ------------------------------------------------------------------------------------
def bench_drain(env: Any, work: Path, n: int) -> dict[str, float]:
    collector = CollectorProc(
        env, f"sqlite:///{work / 'drain-collector.db'}", work / "drain-collector"
    ).start()
    try:
        now = env.now
        t0 = time.perf_counter()
        tokens = make_tokens(env, n, now, seed=2)
        tokens_s = time.perf_counter() - t0
        term = new_terminal(
            env, work / "drain-terminal", collector.url, "T-DRAIN",
            policy=Policy(offline_count_max=2 * n, offline_total_max=10**12),
        )  # fmt: skip
        term.terminal.journal.db.execute("PRAGMA synchronous=NORMAL")  # fill only
        t0 = time.perf_counter()
        for i, (raw, amount) in enumerate(tokens):
            d = term.terminal.accept_text(
                encode_text(raw), PaymentRequest(amount=amount, currency="EUR", now=now, terminal_id=term.tid)
            )
            if not d.approved:
                raise RuntimeError(f"fill: payment {i} declined {d.reason}")
        fill_s = time.perf_counter() - t0
        term.close()
        log(f"drain: {n} tokens made in {tokens_s:.1f} s, accepted into the journal in {fill_s:.1f} s")
        argv = [str(POS_BIN), "sync", "--data-dir", str(term.data_dir), "--batch-size", "1000", "--no-lists",
                "--no-progress", "--timeout", "120"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples: list[tuple[float, float]] = []
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        samples.append((time.perf_counter() - t0, int(line.split()[1]) / 1024))
            except OSError:
                pass
            time.sleep(0.05)
        drain_s = time.perf_counter() - t0
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode != 0:
            raise RuntimeError(f"pos sync exited {proc.returncode}: {err}")
        db = sqlite3.connect(term.data_dir / "journal.db")
        (pending,) = db.execute("SELECT count(*) FROM payments WHERE state = 0").fetchone()
        db.close()
        if pending:
            raise RuntimeError(f"{pending} rows still pending after the drain")
        first = [rss for t, rss in samples if t >= 1.0][:1] or [samples[0][1] if samples else 0.0]
        peak = max((rss for _t, rss in samples), default=0.0)
        log(f"drain: {n} rows in {drain_s:.1f} s ({n / drain_s:,.0f}/s),", end="")
        log(f" RSS after 1 s {first[0]:.0f} MB, peak {peak:.0f} MB")
        return {
            "drain_100k_s": round(drain_s, 2),
            "drain_rows": n,
            "drain_peak_rss_mb": round(peak, 1),
            "drain_rss_first_s_mb": round(first[0], 1),
            "fill_s": round(fill_s, 1),
            "fill_tokens_s": round(tokens_s, 1),
        }
    finally:
        collector.stop()


# -- CPU accounting ---------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds of the process and of its children it reaped)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / _TICK


def tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds used so far by these processes and all their descendants (live or reaped):
    the collector's serving processes, PostgreSQL's postmaster and its backends."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _cpu) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


# -- ingest -----------------------------------------------------------------------------------
class SynthTerminal:
    """A terminal identity and a hash chain of real payments, built without a journal."""

    def __init__(self, path: Path, tid: str, tokens: list[tuple[bytes, int]], now: int) -> None:
        self.tid = tid
        self.dir = path
        self.identity = Identity(path)
        self.rows: list[p.BatchRow] = []
        prev = chain.GENESIS
        for seq, (raw, amount) in enumerate(tokens, 1):
            tok = parse_token(raw)
            digest = hashlib.sha256(raw).digest()
            row = chain.Row(
                seq, now, "payment", tok.cert.wallet_id, tok.counter, amount, "EUR", "qr", tid, digest, prev
            )
            h = row.hash()
            wid = tok.cert.wallet_id
            self.rows.append(
                p.BatchRow(seq, now, "payment", wid, tok.counter, amount, "EUR", "qr", tid, digest, raw, h)
            )
            prev = h

    def bodies(self, now: int) -> list[bytes]:
        out = []
        for i in range(0, len(self.rows), BATCH):
            part = self.rows[i : i + BATCH]
            prev = self.rows[i - 1].hash if i else chain.GENESIS
            payload = p.encode_payload(p.Batch(self.tid, p.new_nonce(), now, prev, part, []))
            out.append(p.encode_envelope(self.tid, payload, self.identity.sign(p.batch_message(payload))))
        return out


def _terminals(
    env: Any, work: Path, tokens: list[tuple[bytes, int]], k: int, tag: str
) -> list[SynthTerminal]:
    per = -(-len(tokens) // k)
    out = []
    for i in range(k):
        d = work / f"synth-{tag}-{i}"
        d.mkdir(parents=True, exist_ok=True)
        out.append(SynthTerminal(d, f"T-{tag}-{i}", tokens[i * per : (i + 1) * per], env.now))
    return out


def bench_ingest(
    env: Any,
    work: Path,
    db_url: str,
    n: int,
    k: int,
    label: str,
    extra: list[str] | None = None,
    rounds: int = 1,
    floors: list[float] | None = None,
    server_pids: list[int] | None = None,
) -> dict[str, float]:
    """``rounds`` rounds of K terminals posting ``n`` payments in all; the floor before each.

    Beside the wall-clock rate, the CPU the collector's processes and the database server
    (``server_pids``) used per payment: a figure other load on the machine does not move."""
    now = env.now
    collector = CollectorProc(env, db_url, work / f"ingest-{label}", extra=extra).start()
    assert collector.proc is not None
    roots = [collector.proc.pid, *(server_pids or [])]
    cpu_us: list[float] = []
    db_cpu_us: list[float] = []
    rates: list[float] = []
    batch_ms: list[float] = []
    seed = 3 if label == "sqlite" else 4

    def post_all(batches: list[bytes], times: list[float] | None) -> int:
        done = 0
        with httpx.Client(base_url=collector.url, trust_env=False, timeout=120) as c:
            for body in batches:
                t0 = time.perf_counter()
                r = c.post("/v1/batches", content=body, headers={"Content-Type": p.CONTENT_TYPE})
                r.raise_for_status()
                if times is not None:
                    times.append(1000 * (time.perf_counter() - t0))
                done += sum(1 for x in r.json()["results"] if x[1] == p.STORED and x[2] == "accepted")
        return done

    try:
        # One untimed terminal and batch first: connections, caches.
        warm = _terminals(env, work, make_tokens(env, 200, now, seed=seed * 100), 1, f"{label}-warm")[0]
        enroll(warm.dir, collector.url, OPERATOR_TOKEN, warm.tid)
        post_all(warm.bodies(now), None)
        for rnd in range(rounds):
            tokens = make_tokens(env, n, now, seed=seed * 100 + rnd + 1)
            terms = _terminals(env, work, tokens, k, f"{label}-{rnd}")
            for t in terms:
                enroll(t.dir, collector.url, OPERATOR_TOKEN, t.tid)
            bodies = [t.bodies(now) for t in terms]
            if floors is not None:
                floors.append(bench_floor(env)["floor_verify_per_s"])
            times: list[list[float]] = [[] for _ in terms]
            cpu0, db0 = tree_cpu_s(roots), tree_cpu_s(server_pids or [])
            t0 = time.perf_counter()
            with ThreadPoolExecutor(k) as pool:
                stored = sum(pool.map(post_all, bodies, times))
            elapsed = time.perf_counter() - t0
            cpu_us.append(1e6 * (tree_cpu_s(roots) - cpu0) / n)
            db_cpu_us.append(1e6 * (tree_cpu_s(server_pids or []) - db0) / n)
            if stored != n:
                raise RuntimeError(f"{label}: {stored} of {n} payments accepted")
            rates.append(n / elapsed)
            batch_ms += [x for part in times for x in part]
            log(f"ingest {label} round {rnd + 1}: {n} payments from {k} terminals in {elapsed:.2f} s"
                f" = {rates[-1]:,.0f}/s, {cpu_us[-1]:.0f} us CPU each (server side)")  # fmt: skip
        return {
            f"collector_ingest_per_s_{label}": round(statistics.median(rates)),
            f"collector_ingest_per_s_{label}_min": round(min(rates)),
            f"collector_ingest_per_s_{label}_max": round(max(rates)),
            f"collector_ingest_batch_ms_p50_{label}": round(statistics.median(batch_ms), 1),
            f"collector_ingest_batch_ms_p99_{label}": round(percentile(batch_ms, 99), 1),
            f"collector_ingest_cpu_us_per_payment_{label}": round(statistics.median(cpu_us), 1),
            **({f"collector_ingest_db_cpu_us_per_payment_{label}": round(statistics.median(db_cpu_us), 1)}
               if server_pids else {}),
        }  # fmt: skip
    finally:
        collector.stop()


# -- floor ------------------------------------------------------------------------------------
_floor_jobs: dict[int, list[Any]] = {}
_floor_cpu_us: list[float] = []  # CPU per bare verify, every floor run
_floor_sodium: list[float] = []  # libsodium's rate, every floor run


def bench_floor(env: Any, n: int = 30_000) -> dict[str, float]:
    """Bare wallet-signature verifies of real tokens on every core (the jobs made once a run)."""
    jobs = _floor_jobs.get(id(env))
    if jobs is None:
        jobs = []
        for raw, _ in make_tokens(env, n, env.now, seed=5):
            tok = parse_token(raw)
            jobs.append((tok.cert.wallet_key, tok.envelope.signature, tok.envelope.to_be_signed()))
        _floor_jobs[id(env)] = jobs
    threads = os.cpu_count() or 1

    def run(part: list[Any]) -> None:
        for key, sig, msg in part:
            key.verify(sig, msg)

    def run_sodium(part: list[Any]) -> None:
        for key, sig, msg in part:
            crypto_sign_open(sig + msg, key.public_bytes_raw())

    rate, cpu_us = _on_threads(run, jobs, threads)
    _floor_cpu_us.append(cpu_us)
    sodium, _ = _on_threads(run_sodium, jobs, threads)
    _floor_sodium.append(sodium)
    t0 = time.perf_counter()
    run(jobs[:5000])
    single = 5000 / (time.perf_counter() - t0)
    log(f"floor: {rate:,.0f} Ed25519 verifies/s on {threads} threads ({single:,.0f}/s on one);"
        f" libsodium {sodium:,.0f}/s")  # fmt: skip
    return {"floor_verify_per_s": round(rate), "floor_verify_per_s_one_core": round(single),
            "floor_cpu_us_per_verify": round(cpu_us, 1),
            "floor_verify_per_s_libsodium": round(sodium)}  # fmt: skip


def _on_threads(run: Any, jobs: list[Any], threads: int) -> tuple[float, float]:
    """``run`` over the jobs split among threads: verifies per second, CPU us per verify."""
    chunks = [jobs[i::threads] for i in range(threads)]
    t0, c0 = time.perf_counter(), time.process_time()
    ts = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return len(jobs) / (time.perf_counter() - t0), 1e6 * (time.process_time() - c0) / len(jobs)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("sync")
    g.add_argument("--drain", type=int, default=100_000, help="pending payments drained (100000)")
    g.add_argument("--ingest", type=int, default=40_000, help="payments per ingest round (40000)")
    g.add_argument("--rounds", type=int, default=3, help="ingest rounds per database (3)")
    g.add_argument("--terminals", type=int, default=4, help="concurrent terminals posting (4)")
    g.add_argument("--skip-drain", action="store_true")
    g.add_argument("--skip-postgres", action="store_true")
    g.add_argument("--skip-sqlite", action="store_true", help="ingest on PostgreSQL only")
    g.add_argument("--processes", type=int, help="the collector's --processes (default: one per core)")


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every figure of the suite (the JSON keys), with the ratios to the floor and the targets."""
    figures: dict[str, Any] = {}
    cluster: PgCluster | None = None
    extra = ["--processes", str(args.processes)] if args.processes is not None else None
    floors: list[float] = []
    try:
        env = make_scheme(work / "scheme")
        one_core = bench_floor(env)["floor_verify_per_s_one_core"]
        if not args.skip_sqlite:
            figures.update(
                bench_ingest(env, work, f"sqlite:///{work / 'ingest.db'}", args.ingest, args.terminals,
                             "sqlite", extra, args.rounds, floors)
            )  # fmt: skip
        if not args.skip_postgres:
            reason = unavailable_reason()
            if reason is None:
                cluster = PgCluster(fsync=True).start()
                url = cluster.new_database("bench")
                assert cluster.proc is not None
                figures.update(
                    bench_ingest(env, work, url, args.ingest, args.terminals, "postgres", extra, args.rounds,
                                 floors, [cluster.proc.pid])
                )  # fmt: skip
                figures.update(_storage(url))
            else:
                log(f"postgres skipped: {reason}")
        floors.append(bench_floor(env)["floor_verify_per_s"])
        figures["floor_verify_per_s"] = round(statistics.median(floors))
        figures["floor_verify_per_s_min"] = round(min(floors))
        figures["floor_verify_per_s_max"] = round(max(floors))
        figures["floor_verify_per_s_one_core"] = one_core
        figures["floor_cpu_us_per_verify"] = round(statistics.median(_floor_cpu_us), 1)
        figures["floor_verify_per_s_libsodium"] = round(statistics.median(_floor_sodium))
        if not args.skip_drain:
            figures.update(bench_drain(env, work, args.drain))
    finally:
        if cluster is not None:
            cluster.stop()
    return figures


def _storage(url: str) -> dict[str, float]:
    """Bytes per stored payment on PostgreSQL (tables and indexes, claims included)."""
    from collector.db import Database
    from collector.partitions import storage_stats

    db = Database(url)
    try:
        st = storage_stats(db)
    finally:
        db.close()
    log(f"postgres: {st['rows']:,} rows, {st['bytes_per_payment']:.0f} bytes per stored payment")
    return {"db_bytes_per_payment_postgres": st["bytes_per_payment"], "db_rows_postgres": st["rows"]}


def judge(figures: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets; adds the ratios (ingest share of the floor, drain RSS growth)."""
    floor = figures["floor_verify_per_s"]
    checks = {}
    for db in ("sqlite", "postgres"):
        key = f"collector_ingest_per_s_{db}"
        if key in figures:
            v = figures[key]
            figures[f"collector_ingest_pct_of_floor_{db}"] = round(100 * v / floor, 1)
            figures[f"ingest_per_s_{db}"] = v  # the names issue 15's fleet bench reports
            figures[f"ingest_pct_of_floor_{db}"] = figures[f"collector_ingest_pct_of_floor_{db}"]
            if figures.get("floor_verify_per_s_libsodium"):
                sodium = figures["floor_verify_per_s_libsodium"]
                figures[f"ingest_pct_of_libsodium_floor_{db}"] = round(100 * v / sodium, 1)
            cpu = figures.get(f"collector_ingest_cpu_us_per_payment_{db}")
            if cpu and figures.get("floor_cpu_us_per_verify"):
                # The same ratio from CPU time: bare verify CPU over ingest CPU per payment.
                share = figures["floor_cpu_us_per_verify"] / cpu
                figures[f"ingest_pct_of_floor_cpu_{db}"] = round(100 * share, 1)
            checks[key] = v >= INGEST_TARGET_PER_S or v >= INGEST_FLOOR_SHARE * floor
    for db in ("postgres", "sqlite"):
        if f"collector_ingest_batch_ms_p99_{db}" in figures:
            figures["batch_ms_p99"] = figures[f"collector_ingest_batch_ms_p99_{db}"]
            break
    if "drain_100k_s" in figures:
        scale = 100_000 / figures["drain_rows"]
        figures["drain_rss_growth_pct"] = round(
            100 * (figures["drain_peak_rss_mb"] / figures["drain_rss_first_s_mb"] - 1), 1
        )
        checks["drain_100k_s"] = figures["drain_100k_s"] * scale <= DRAIN_TARGET_S
        checks["drain_peak_rss_mb"] = (
            figures["drain_peak_rss_mb"] <= FLAT_RSS * figures["drain_rss_first_s_mb"]
        )
    return checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="one JSON object as the last stdout line")
    ap.add_argument("--dir", type=Path, help="work dir (default: a temp dir, removed afterwards)")
    add_arguments(ap)
    args = ap.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-sync-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = {"cores": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), **measure(args, work)}
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    checks = judge(figures)
    figures["targets"] = {k: "PASS" if ok else "FAIL" for k, ok in checks.items()}
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:40} {v}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

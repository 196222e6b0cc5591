"""``scripts/bench console``: the operator console's pages against issue 13's targets.

A collector database is filled in bulk with SQL (``tests.console.fill``: 10,000 terminals and
1,000,000 payments by default, never through HTTP), then the real ``pos collector serve``
answers a signed-in viewer over loopback:

* ``fleet_page_ms``: ``GET /console/`` (the fleet's first page: 100 terminals by id, with the
  fleet-wide status counts), the time to the full HTML at the client; ``fleet_page_2000_ms``:
  2,000 terminals sorted by last upload (``?sort=upload&desc=1&limit=2000``).
* ``payments_search_ms``: ``GET /console/payments`` by a wallet id, and a time-range page and
  the page after it (keyset cursor).
* ``live_update_ms``: a real terminal uploads one payment (``pos.sync``); from the start of
  its upload (so the upload itself is counted too: an upper bound of "accepted -> event") to
  the fleet event naming it arriving on a connected event stream (``/console/live/fleet``).

On SQLite and PostgreSQL (a throw-away cluster). Targets: 300 ms, 100 ms, 2 s (p99).
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchlib.common import Report, Row, Stats
from collector.console.accounts import create_user
from collector.db import Database
from pos.sync.service import sync_once
from tests.console.fill import fill_payments, fill_terminals, wallet_of
from tests.sync.harness import FAST, CollectorProc, make_scheme, new_terminal
from tests.sync.pg import PgCluster, unavailable_reason

NAME = "console"
TARGETS = {"fleet_page_ms_p99": 300.0, "payments_search_ms_p99": 100.0, "live_update_ms_p99": 2000.0}
_NEXT = re.compile(r'<a href="([^"]*)" id="next-page">')


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("console")
    g.add_argument("--terminals", type=int, default=10_000, help="terminals in the fleet (10000)")
    g.add_argument("--payments", type=int, default=1_000_000, help="payments stored (1000000)")
    g.add_argument("--samples", type=int, default=50, help="requests per figure (50)")
    g.add_argument("--skip-postgres", action="store_true")


def log(msg: str) -> None:
    print(f"bench console: {msg}", flush=True, file=__import__("sys").stderr)


def _timed(client: httpx.Client, url: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = client.get(url)
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return ms, r.text


def _signed_in(base: str, db_url: str) -> httpx.Client:
    db = Database(db_url, pool_size=1)
    try:
        create_user(db, "bench", "viewer", "bench password", totp=False)
    finally:
        db.close()
    client = httpx.Client(base_url=base, timeout=30, trust_env=False)
    r = client.post("/console/login", data={"username": "bench", "password": "bench password"})
    if r.status_code not in (200, 303) or not client.cookies:
        raise RuntimeError(f"bench login failed: {r.status_code}")
    return client


def _pages(client: httpx.Client, args: argparse.Namespace, now: int, rnd: random.Random) -> dict[str, Stats]:
    for _ in range(5):  # warm: the first requests load templates and fill the caches
        _timed(client, "/console/")
        _timed(client, f"/console/payments?wallet={wallet_of(rnd.randrange(100)).hex()}")
    fleet = [_timed(client, "/console/")[0] for _ in range(args.samples)]
    fleet_big = [
        _timed(client, "/console/?sort=upload&desc=1&limit=2000")[0] for _ in range(args.samples // 5 or 1)
    ]
    search: list[float] = []
    wallets = max(1, args.payments // 20)
    for _ in range(args.samples):
        search.append(
            _timed(client, f"/console/payments?wallet={wallet_of(rnd.randrange(wallets)).hex()}")[0]
        )
        start = now - rnd.randrange(25 * 86400)
        ms, text = _timed(client, f"/console/payments?from={start}&to={start + 3600}")
        search.append(ms)
        nxt = _NEXT.search(text)
        if nxt:
            search.append(_timed(client, "/console/payments" + html.unescape(nxt.group(1)))[0])
    return {"fleet": Stats.of(fleet), "fleet_2000": Stats.of(fleet_big), "search": Stats.of(search)}


def _live(client: httpx.Client, coll: CollectorProc, env: Any, work: Path, samples: int) -> Stats:
    arrivals: dict[str, list[float]] = {}  # every event naming a terminal (its enrollment too)
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/console/live/fleet", timeout=None) as r:
            event = ""
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    ready.set()
                elif line.startswith("data:") and event == "fleet":
                    for tid in json.loads(line[5:]).get("tids", []):
                        arrivals.setdefault(tid, []).append(time.perf_counter())
                if stop.is_set():
                    return

    threading.Thread(target=listen, daemon=True).start()
    ready.wait(10)
    delays: list[float] = []
    for i in range(samples):
        t = new_terminal(env, work / f"live-{i}", coll.url, f"LIVE-{i:03d}")
        t.pay(env.wallet(), 100 + i)
        time.sleep(random.random() * 0.5)  # not in step with the watcher's poll
        done = time.perf_counter()  # the upload starts: an upper bound of "accepted -> event"
        sync_once(t.data_dir, FAST, lists=False)
        deadline = done + 5

        while _first_after(arrivals, t.tid, done) is None and time.perf_counter() < deadline:
            time.sleep(0.005)
        delays.append(((_first_after(arrivals, t.tid, done) or deadline) - done) * 1000)
        t.close()
    stop.set()
    return Stats.of(delays)


def _first_after(arrivals: dict[str, list[float]], tid: str, t: float) -> float | None:
    return next((a for a in list(arrivals.get(tid, [])) if a > t), None)


def bench_db(kind: str, url: str, args: argparse.Namespace, work: Path) -> dict[str, Stats]:
    now = int(time.time())
    db = Database(url, pool_size=2)
    t0 = time.monotonic()
    fill_terminals(db, args.terminals, now)
    fill_payments(db, args.payments, args.terminals, max(1, args.payments // 20), now)
    db.close()
    took = time.monotonic() - t0
    log(f"{kind}: {args.terminals} terminals, {args.payments} payments filled in {took:.0f} s")
    env = make_scheme(work / f"scheme-{kind}")
    coll = CollectorProc(env, url, work / f"collector-{kind}").start(timeout=120)
    try:
        client = _signed_in(coll.url, url)
        out = _pages(client, args, now, random.Random(7))
        out["live"] = _live(client, coll, env, work / f"terms-{kind}", max(10, args.samples // 2))
        client.close()
    finally:
        coll.stop()
    return out


def run(args: argparse.Namespace, scratch: Path) -> Report:
    report = Report(f"console: {args.terminals:,} terminals, {args.payments:,} payments")
    cluster: PgCluster | None = None
    try:
        results = {"sqlite": bench_db("sqlite", f"sqlite:///{scratch / 'console.db'}", args, scratch)}
        reason = "skipped" if args.skip_postgres else unavailable_reason()
        if reason is None:
            cluster = PgCluster().start()
            results["postgres"] = bench_db("postgres", cluster.new_database("console"), args, scratch)
        else:
            report.notes.append(f"postgres: {reason}")
    finally:
        if cluster is not None:
            cluster.stop()
    names = {"fleet": "fleet_page_ms", "fleet_2000": "fleet_page_2000_ms", "search": "payments_search_ms",
             "live": "live_update_ms"}  # fmt: skip
    for db, figs in results.items():
        for key, st in figs.items():
            base = names[key]
            report.figures[f"{base}_p50_{db}"] = st.p50
            report.figures[f"{base}_p99_{db}"] = st.p99
            target = TARGETS.get(f"{base}_p99")
            if target is None:
                report.add(Row(f"{base} {db}", "ms", st.p50, st.p99, note=f"n={st.n}"))
                continue
            ok = report.check(f"{base} {db}", "ms", st.p99, target, f"p99 <= {target:.0f}", p50=st.p50,
                              p99=st.p99, note=f"n={st.n}")  # fmt: skip
            report.verdicts[f"{base}_p99_{db}"] = "PASS" if ok else "FAIL"
    return report

"""One fleet run: plan the day, start the database and the nodes, enroll, upload, poll, check.

Phases are timed apart (``generate_s`` may be 0 when the plan came from the cache):
enrollment, the upload of every batch (``ingest_per_s`` is payments stored per second of that
phase's wall time), the list polls (a delta or full list, then a 304), and a steady phase of
304 polls whose collector CPU time, scaled to 10,000 terminals polling once a minute, is
``list_poll_cpu_pct`` (% of one core).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.db import Database
from pos import sigs
from pos.trust import parse_deny_list
from sim.fleet import traffic
from sim.fleet.checks import Expected, end_checks
from sim.fleet.nodes import Node, start_nodes, tree_cpu_s
from sim.fleet.plan import Plan, Sizes
from sim.pg import PgCluster, unavailable_reason

FLEET_POLLERS = 10_000
STEADY_TERMINALS = 400  # polled WARM_ROUNDS times first, then the timed polls cycle over them
WARM_ROUNDS = 4
POLL_EVERY_S = 60.0


@dataclass
class Options:
    sizes: Sizes
    db: str = "sqlite"
    nodes: int = 1
    processes: int | None = None
    concurrency: int = 32
    deadline_s: float = 600.0
    work: Path = Path()
    cache: Path = Path()
    steady_polls: int = 2000
    pg_fsync: bool = True
    operator_token: str = "fleet-sim-operator-token"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def run(opts: Options) -> dict[str, Any]:
    plan = Plan(opts.cache, opts.sizes).prepare(log=log)
    log(f"plan: {'reused' if plan.reused else f'generated in {plan.generate_s:.1f} s'} ({plan.dir})")
    cluster: PgCluster | None = None
    nodes: list[Node] = []
    try:
        if opts.db == "postgres":
            reason = unavailable_reason()
            if reason is not None:
                raise RuntimeError(f"PostgreSQL: {reason}")
            cluster = PgCluster(fsync=opts.pg_fsync).start()
            url = cluster.new_database("fleet")
        else:
            opts.work.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{opts.work / 'collector.db'}"
        nodes = start_nodes(opts.nodes, url, plan.scheme_dir, [plan.trust_list, plan.deny_list],
                            opts.work / "nodes", opts.operator_token, opts.processes)  # fmt: skip
        pg_pid = cluster.proc.pid if cluster is not None and cluster.proc is not None else None
        figures = _traffic(opts, plan, nodes, url, pg_pid)
        figures["generate_s"] = round(plan.generate_s, 2)
        figures["plan_reused"] = plan.reused
        return figures
    finally:
        for node in nodes:
            node.stop()
        if cluster is not None:
            cluster.stop()


def _traffic(opts: Options, plan: Plan, nodes: list[Node], url: str, pg_pid: int | None) -> dict[str, Any]:
    tally = traffic.Tally()
    clients = traffic.Clients([n.url for n in nodes], opts.concurrency)
    t_start = time.monotonic()
    deadline = t_start + opts.deadline_s
    expected = Expected()
    index = {}

    def days() -> Any:
        for chunk in plan.load():
            yield from chunk.terminals

    try:
        n = 0
        for chunk in plan.load():
            for day in chunk.terminals:
                index[day.tid] = n
                n += 1
            expected.double_spends.update(chunk.double_spends)
        t0 = time.monotonic()

        def enroll(d: Any) -> None:
            traffic.enroll(clients.for_terminal(index[d.tid]), d, opts.operator_token, tally)

        traffic.run_pool(days(), enroll, opts.concurrency, deadline)
        enroll_s = time.monotonic() - t0
        log(f"enrolled {n} terminals in {enroll_s:.1f} s")

        def upload(d: Any) -> None:
            traffic.upload(clients.for_terminal(index[d.tid]), d, tally)
            with tally.lock:
                expected.add(d)

        cost = _measured(lambda: traffic.run_pool(days(), upload, opts.concurrency, deadline), nodes, pg_pid)
        upload_s = cost.pop("wall_s")
        cost = {k: round(1000 * v / expected.rows, 3) for k, v in cost.items()}
        cost["wire_bytes_per_payment"] = round(expected.body_bytes / expected.rows)
        cost["batches"] = tally.http["batch 200"]
        log(f"uploaded {expected.rows} rows in {upload_s:.1f} s ({expected.rows / upload_s:,.0f}/s)")
        root = sigs.load_pem_public_key((plan.scheme_dir / "root.pem").read_bytes())
        holder = traffic.ListHolder(root, parse_deny_list(plan.deny_list.read_bytes(), root))
        held: dict[str, int] = {}
        t0 = time.monotonic()

        def poll(d: Any) -> None:
            lst = traffic.poll(clients.for_terminal(index[d.tid]), d, holder, tally)
            with tally.lock:
                held[d.tid] = lst.seq

        traffic.run_pool(days(), poll, opts.concurrency, deadline)
        poll_s = time.monotonic() - t0
        steady = _steady_polls(opts, plan, nodes, clients, held, deadline)
        sim_wall_s = time.monotonic() - t_start
    finally:
        clients.close()
    db = Database(url, pool_size=1)
    try:
        fails = end_checks(db, expected)
        fails += _answer_checks(tally, expected, held, db)
        sizes = _storage(db, expected.rows)
    finally:
        db.close()
    fig: dict[str, Any] = {
        "terminals": len(expected.heads), "payments": expected.rows - len(expected.double_spends),
        "double_spends": len(expected.double_spends), "db": opts.db, "nodes": opts.nodes,
        "concurrency": opts.concurrency, "sim_wall_s": round(sim_wall_s, 2), "enroll_s": round(enroll_s, 2),
        "upload_s": round(upload_s, 2), "ingest_per_s": round(expected.rows / upload_s),
        "batch_ms_p50": round(_percentile(tally.batch_ms, 50), 1),
        "batch_ms_p99": round(_percentile(tally.batch_ms, 99), 1), "poll_s": round(poll_s, 2),
        "polls": dict(tally.polls), "deny_delta_bytes_p50": round(statistics.median(tally.delta_bytes))
        if tally.delta_bytes else None, **steady, **sizes, **cost, "failures": fails,
        "ok": not fails,
    }  # fmt: skip
    return fig


def _measured(phase: Any, nodes: list[Node], pg_pid: int | None) -> dict[str, float]:
    """Wall time of ``phase()`` and the CPU seconds the nodes and PostgreSQL spent in it."""
    t0, cpu0 = time.monotonic(), sum(n.cpu_s() for n in nodes)
    pg0 = tree_cpu_s(pg_pid) if pg_pid is not None else 0.0
    own0 = time.process_time()
    phase()
    out = {
        "wall_s": time.monotonic() - t0,
        "ingest_cpu_ms_per_payment_collector": sum(n.cpu_s() for n in nodes) - cpu0,
        "ingest_cpu_ms_per_payment_client": time.process_time() - own0,  # the simulated terminals
    }
    if pg_pid is not None:
        out["ingest_cpu_ms_per_payment_postgres"] = tree_cpu_s(pg_pid) - pg0
    return out


def _steady_polls(
    opts: Options,
    plan: Plan,
    nodes: list[Node],
    clients: traffic.Clients,
    held: dict[str, int],
    deadline: float,
) -> dict[str, Any]:
    """``steady_polls`` signed 304 polls; the nodes' CPU seconds for them, scaled to a fleet.

    In a fleet every terminal polls every minute, so each serving process has long recorded
    that the terminal holds the newest list (``collector.list_cache``): the polls are timed
    over a set of terminals that each polled a few times already, as in that steady state.
    """
    want = min(opts.steady_polls, STEADY_TERMINALS)
    chosen: list[Any] = []
    for chunk in plan.load():
        chosen += chunk.terminals[: max(0, want - len(chosen))]
        if len(chosen) >= want:
            break
    if not chosen:
        return {}
    warm = [d for _ in range(WARM_ROUNDS) for d in chosen]
    cycle = [chosen[i % len(chosen)] for i in range(opts.steady_polls)]
    statuses: list[int] = []
    order = {d.tid: i for i, d in enumerate(chosen)}

    def timed(through: traffic.Clients, jobs: list[Any]) -> tuple[float, float]:
        def one(d: Any) -> None:
            statuses.append(traffic.poll_unchanged(through.for_terminal(order[d.tid]), d, held[d.tid]))

        cpu0, t0 = sum(n.cpu_s() for n in nodes), time.monotonic()
        traffic.run_pool(jobs, one, opts.concurrency, deadline)
        return (sum(n.cpu_s() for n in nodes) - cpu0) / len(jobs), time.monotonic() - t0

    timed(clients, warm)
    statuses.clear()
    per_poll, wall = timed(clients, cycle)
    # behind a proxy that keeps connections to the nodes open (TLS and connections at the proxy)
    kept = traffic.Clients([n.url for n in nodes], opts.concurrency, keepalive=True)
    try:
        per_poll_kept, _ = timed(kept, cycle)
    finally:
        kept.close()
    return {
        "steady_polls": len(cycle),
        "steady_poll_304_share": round(statuses.count(304) / len(statuses), 4),
        "list_poll_cpu_ms": round(1000 * per_poll, 3),
        "list_poll_cpu_pct": round(100 * per_poll * FLEET_POLLERS / POLL_EVERY_S, 2),
        "list_poll_cpu_ms_keepalive": round(1000 * per_poll_kept, 3),
        "list_poll_cpu_pct_keepalive": round(100 * per_poll_kept * FLEET_POLLERS / POLL_EVERY_S, 2),
        "steady_polls_per_s": round(len(cycle) / wall),
    }


def _answer_checks(tally: traffic.Tally, expected: Expected, held: dict[str, int], db: Database) -> list[str]:
    fails = []
    answered = sum(tally.answers.values())
    good = tally.answers.get("stored:accepted", 0) + tally.answers.get("stored:double_spend", 0)
    if answered != expected.rows or good != answered:
        other = {
            k: v for k, v in tally.answers.items() if k not in ("stored:accepted", "stored:double_spend")
        }
        fails.append(f"{answered} rows answered of {expected.rows}; not stored: {other}")
    with db.read() as tx:
        (latest,) = tx.one("SELECT max(seq) FROM lists WHERE typ = 2")
    behind = [t for t in expected.heads if held.get(t) != latest]
    if behind:
        fails.append(f"{len(behind)} terminals do not hold the newest deny list (seq {latest})")
    if tally.errors:
        fails.append(f"errors: {tally.errors[:3]}")
    return fails


def _storage(db: Database, rows: int) -> dict[str, Any]:
    with db.read() as tx:
        (deny_raw,) = tx.one("SELECT raw FROM lists WHERE typ = 2 ORDER BY seq DESC LIMIT 1")
        out: dict[str, Any] = {"deny_list_bytes": len(bytes(deny_raw))}
        if tx.pg:
            # every partition's table, indexes and TOAST (a plain table has no tree: its own size)
            (entries,) = tx.one(
                "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('entries')"
                " WHERE isleaf), pg_total_relation_size('entries'))"
            )
            (whole,) = tx.one("SELECT pg_database_size(current_database())")
            out["db_bytes_per_payment"] = round(int(entries) / max(1, rows))
            out["db_total_bytes"] = int(whole)
        else:
            size = os.path.getsize(db._target)
            out["db_bytes_per_payment"] = round(size / max(1, rows))
            out["db_total_bytes"] = size
    return out

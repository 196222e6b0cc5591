"""Two collector nodes on one PostgreSQL database (issue 11, "Several collector nodes").

Two ``pos collector serve`` processes on different ports share one real PostgreSQL database.
Terminals alternate between them, each through its own fault-injecting proxy; the two halves of
each double spend race to the two nodes at the same instant. Every payment is stored once, each
double spend is one event, each wallet is denied once, and both nodes serve the same lists.
What makes this hold is in the database, not in a process: the terminal's row lock, the
per-wallet advisory locks, the partial unique index over accepted payments, the unique event
dedupe key and the advisory lock around deny list publication (collector/db.py, lists.py).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos.sync.service import sync_once
from pos.wire import protocol as p
from sim.netproxy import DEFAULT_WEIGHTS, FaultProxy
from tests.sync.harness import (
    FAST,
    CollectorProc,
    SchemeEnv,
    Term,
    View,
    make_scheme,
    new_terminal,
    pending_in,
    seeded_backoff,
)
from tests.sync.pg import PgCluster

SETTINGS = FAST.with_overrides(timeout_s=1.0, connect_timeout_s=0.5)
FAULTS = {**DEFAULT_WEIGHTS, "stall": 1}
RACES = 6


@pytest.fixture
def nodes(
    pg_cluster: PgCluster, tmp_path: Path
) -> Iterator[tuple[SchemeEnv, list[CollectorProc], list[FaultProxy]]]:
    env = make_scheme(tmp_path / "scheme")
    url = pg_cluster.new_database("nodes")
    procs = [CollectorProc(env, url, tmp_path / f"node-{i}") for i in range(2)]
    starts = [threading.Thread(target=c.start) for c in procs]  # both create the schema at once
    for th in starts:
        th.start()
    for th in starts:
        th.join(60)
    assert all(c.proc is not None and c.proc.poll() is None for c in procs)
    proxies = [FaultProxy(c.port, seed=i, stall_s=0.3, weights=FAULTS).start() for i, c in enumerate(procs)]
    try:
        yield env, procs, proxies
    finally:
        for x in proxies:
            x.stop()
        for c in procs:
            c.stop()


def _drain(t: Term, proxy: FaultProxy, seed: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for _ in range(30):
        report = sync_once(
            t.data_dir, SETTINGS, collector=proxy.url, lists=False, backoff=seeded_backoff(seed)
        )
        if pending_in(t.data_dir) == 0:  # a connection of this thread: uploads race on threads
            break
    return report


def test_two_nodes_on_one_database_store_once_detect_once_deny_once(
    nodes: tuple[SchemeEnv, list[CollectorProc], list[FaultProxy]], tmp_path: Path
):
    env, procs, proxies = nodes
    # Enrolled at node 0; node 1 knows them through the shared database.
    terms = [new_terminal(env, tmp_path / f"T-{i}", procs[i % 2].url, f"NODE-T-{i}") for i in range(4)]
    rng = random.Random(11)
    cheats = []
    for race in range(RACES):
        a, b = terms[(2 * race) % 4], terms[(2 * race + 1) % 4]
        for t in terms:  # honest traffic, alternating nodes
            assert t.pay(env.wallet(), rng.randint(1, 500)).approved
            _drain(t, proxies[(race + terms.index(t)) % 2], rng.randrange(1 << 30))
        cheat = env.wallet()
        raw = cheat.token(max_amount=300, now=env.now)
        assert a.pay(cheat, 300, raw=raw).approved and b.pay(cheat, 300, raw=raw).approved
        cheats.append(cheat)
        go = threading.Barrier(2)
        reports: list[dict[str, Any]] = [{}, {}]

        def upload(i: int, t: Term, seed: int) -> None:
            go.wait()
            reports[i] = _drain(t, proxies[i], seed)

        threads = [threading.Thread(target=upload, args=(i, t, race * 2 + i)) for i, t in enumerate((a, b))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert a.pending() == 0 and b.pending() == 0, reports
    view = View(procs[0].db_url)
    try:
        for t in terms:  # every row once; each approved payment held once (accepted or the evidence)
            rows = view.entries(t.tid)
            assert [r[1] for r in rows] == list(range(1, len(rows) + 1))
            assert sorted((r[2], r[3]) for r in rows) == sorted((d.wallet_id, d.counter) for d in t.accepted)
            assert {r[5] for r in rows} <= {"accepted", "double_spend"} and t.pending() == 0
        pairs = view.accepted_pairs()
        assert len(pairs) == len(set(pairs))
        for cheat in cheats:
            held = [e for e in view.entries() if e[2] == cheat.wallet_id]
            assert sorted(e[5] for e in held) == ["accepted", "double_spend"], held
            events = [e for e in view.events("double_spend") if bytes(e[2]) == cheat.wallet_id]
            assert len(events) == 1
        with view.db.read() as tx:
            denied = tx.all("SELECT wallet_id FROM denied WHERE reason = 'double_spend'")
        assert sorted(bytes(w) for (w,) in denied) == sorted(c.wallet_id for c in cheats)
    finally:
        view.close()
    # Both nodes serve one and the same signed deny list (and trust list).
    for path in ("/v1/lists/deny", "/v1/lists/trust"):
        answers = [httpx.get(c.url + path, headers={"Accept": p.COSE_TYPE}, trust_env=False) for c in procs]
        assert [r.status_code for r in answers] == [200, 200]
        assert answers[0].content == answers[1].content
        assert answers[0].headers["etag"] == answers[1].headers["etag"]

"""End to end: a terminal offline for a day takes 10,000 payments; the network comes back through
a flaky link; one wallet paid with the same token at two terminals.

Afterwards the collector holds the 10,000 payments exactly once, every row is acknowledged at
the terminal (exposure back to zero), the double spend is flagged with both payments as
evidence, the next deny list names the wallet, and a terminal that refreshes declines it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import httpx

from pos import reasons
from pos.decision import PaymentRequest, Policy
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sync.service import sync_once
from sim.netproxy import FaultProxy
from tests.sync.harness import (
    DAY,
    FAST,
    OPERATOR,
    CollectorProc,
    SchemeEnv,
    View,
    assert_exactly_once,
    new_terminal,
    seeded_backoff,
)

N = 10_000
PER_WALLET = 25  # at most 1,000 each: 25,000 per wallet, inside the 50,000 offline limit
WEIGHTS = {
    "pass": 70,
    "delay": 5,
    "drop_req": 5,
    "drop_resp": 6,
    "duplicate": 5,
    "reset": 4,
    "truncate": 4,
    "stall": 1,
}


def test_offline_for_a_day_then_a_flaky_link(env: SchemeEnv, collector: CollectorProc, tmp_path: Path):
    started = time.monotonic()
    rng = random.Random(2024)
    big = Policy(offline_count_max=2 * N, offline_total_max=10**12)
    a = new_terminal(env, tmp_path / "a", collector.url, "T-OFFLINE-DAY", policy=big)
    b = new_terminal(env, tmp_path / "b", collector.url, "T-OTHER", policy=big)
    # The accept path's fsync per payment is measured elsewhere; here it would only cost time.
    a.terminal.journal.db.execute("PRAGMA synchronous=NORMAL")

    # A day of payments, oldest first: tokens made at the payment's time.
    day_start = env.now - DAY
    times = sorted(rng.randint(day_start, env.now - 120) for _ in range(N))
    wallets = [env.wallet() for _ in range(N // PER_WALLET)]
    cheat = wallets[7]
    plan = []
    for i, t in enumerate(times):
        w = (
            wallets[rng.randrange(len(wallets))]
            if i >= len(wallets) * PER_WALLET
            else wallets[i % len(wallets)]
        )
        plan.append((w, rng.randint(1, 1000), t))
    made = time.monotonic()
    tokens = [(w.token(max_amount=amount, now=t), amount, t) for w, amount, t in plan]
    made = time.monotonic() - made
    shared = None
    accept = time.monotonic()
    for raw, amount, t in tokens:
        d = a.pay(cheat, amount, now=t, raw=raw)
        assert d.approved, d
        if shared is None and d.wallet_id == cheat.wallet_id:
            shared = (raw, amount, t)
    accept = time.monotonic() - accept
    assert len(a.accepted) == N and shared is not None
    # The same token, presented again to another offline terminal that cannot know.
    raw, amount, t = shared
    assert b.pay(cheat, amount, now=t, raw=raw).approved
    for w in wallets[:5]:
        assert b.pay(w, 50, now=env.now - 60).approved

    # The network returns, through a flaky link.
    proxy = FaultProxy(collector.port, seed=99, weights=WEIGHTS, stall_s=1.5).start()
    settings = FAST.with_overrides(batch_size=500, timeout_s=10, max_attempts=100)
    upload = time.monotonic()
    try:
        for _ in range(20):
            rep = sync_once(a.data_dir, settings, collector=proxy.url, backoff=seeded_backoff(1, settings))
            assert rep["upload"]["chain_error"] is None, rep
            if a.pending() == 0:
                break
        upload = time.monotonic() - upload
        for _ in range(20):
            rep_b = sync_once(b.data_dir, settings, collector=proxy.url, backoff=seeded_backoff(2, settings))
            if b.pending() == 0 and not rep_b["lists"]["errors"]:
                break
    finally:
        proxy.stop()

    view = View(collector.db_url)
    try:
        assert_exactly_once(view, a)
        assert a.terminal.journal.summary()["pending_total"] == 0
        b_rows = view.entries(b.tid)
        assert [r[5] for r in b_rows].count("double_spend") == 1 and b.pending() == 0
        events = [e for e in view.events("double_spend") if bytes(e[2]) == cheat.wallet_id]
        assert len(events) == 1
        evidence = json.loads(events[0][4])["evidence"]
        assert {e["terminal_id"] for e in evidence} == {a.tid, b.tid}
        assert view.denied() == {cheat.wallet_id}
        assert len(view.events("offline_limit_exceeded")) == 0  # honest wallets stayed within limits
    finally:
        view.close()
    metrics = httpx.get(collector.url + "/metrics", headers=OPERATOR, trust_env=False).text
    assert f"owt_collector_payments_ingested_total {N + 5}" in metrics
    assert "owt_collector_double_spends_total 1" in metrics

    # B refreshed its lists in its last pass: the wallet is declined there now.
    b.terminal.keys = KeyStore.pinned(b.data_dir)
    assert b.terminal.keys.load().deny.contains(cheat.wallet_id)
    fresh = cheat.token(max_amount=10, now=env.now)
    d = b.terminal.accept_text(
        encode_text(fresh), PaymentRequest(amount=10, currency="EUR", now=env.now, terminal_id=b.tid)
    )
    assert d.reason == reasons.WALLET_DENIED
    elapsed = time.monotonic() - started
    print(f"\n10k offline day: tokens {made:.1f} s, accept {accept:.1f} s, upload {upload:.1f} s,", end="")
    print(f" total {elapsed:.1f} s")
    assert elapsed < 90

"""kill -9 at random (seeded) instants: the terminal during ``pos sync``, the collector during
ingest, and uploads racing new sales on the same terminal. Nothing lost, nothing doubled."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from pathlib import Path

from pos.decision import Policy
from pos.journal import Journal
from pos.journal_check import verify_journal
from pos.sync.service import SyncService, sync_once
from pos.sync.settings import SyncSettings
from sim.netproxy import FaultProxy
from tests.sync.harness import (
    ENV,
    FAST,
    POS_BIN,
    CollectorProc,
    SchemeEnv,
    View,
    assert_exactly_once,
    new_terminal,
    pending_in,
)

BIG = Policy(offline_count_max=100_000, offline_total_max=10**12)


def test_kill_terminal_during_sync(env: SchemeEnv, sqlite_collector: CollectorProc, tmp_path: Path) -> None:
    collector = sqlite_collector
    rng = random.Random(7)
    t = new_terminal(env, tmp_path / "t", collector.url, "T-KILLED", policy=BIG)
    wallets = [env.wallet() for _ in range(10)]
    for i in range(200):
        assert t.pay(wallets[i % 10], rng.randint(1, 300)).approved
    interrupted = 0
    for _ in range(4):
        before = t.pending()
        if before == 0:
            break
        proc = subprocess.Popen(
            [str(POS_BIN), "sync", "--data-dir", str(t.data_dir), "--batch-size", "2", "--no-lists",
             "--no-progress", "--timeout", "5"],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # A random instant once uploading is under way (the CLI takes a while to start).
        deadline = time.monotonic() + 30
        while t.pending() == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        proc.kill()  # SIGKILL
        proc.wait(10)
        after = t.pending()
        interrupted += 0 < after < before
        # Whatever instant it died at, the journal is whole and nothing is half-acknowledged.
        assert verify_journal(Journal(t.data_dir)) == 200
    assert interrupted >= 1, "no kill landed mid-sync; the instants need retuning"
    report = sync_once(t.data_dir, FAST.with_overrides(batch_size=50), lists=False)
    assert report["upload"]["ok"]
    view = View(collector.db_url)
    try:
        assert_exactly_once(view, t)
    finally:
        view.close()
    t.close()


def test_kill_collector_during_ingest(env: SchemeEnv, collector: CollectorProc, tmp_path: Path) -> None:
    rng = random.Random(11)
    t = new_terminal(env, tmp_path / "t", collector.url, "T-SURVIVOR", policy=BIG)
    wallets = [env.wallet() for _ in range(10)]
    for i in range(400):
        assert t.pay(wallets[i % 10], rng.randint(1, 100)).approved
    settings = SyncSettings(
        batch_size=4,
        connect_timeout_s=0.5,
        timeout_s=2,
        retry_base_s=0.02,
        retry_cap_s=0.25,
        max_attempts=400,
    )
    done = threading.Event()
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            deadline = time.monotonic() + 90
            while pending_in(t.data_dir) and time.monotonic() < deadline:
                sync_once(t.data_dir, settings, lists=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    uploader = threading.Thread(target=upload)
    uploader.start()
    kills = 0
    for _ in range(3):
        # A random instant while batches are being ingested (after some progress since the
        # last restart), so the kill lands mid-ingest rather than between runs.
        before = pending_in(t.data_dir)
        deadline = time.monotonic() + 30
        while pending_in(t.data_dir) == before and not done.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        if done.is_set():
            break
        collector.kill()
        kills += 1
        time.sleep(rng.uniform(0.0, 0.2))
        collector.start()
    uploader.join(120)
    assert not errors, errors
    assert kills >= 2
    view = View(collector.db_url)
    try:
        assert_exactly_once(view, t)
    finally:
        view.close()
    t.close()


def test_uploads_race_new_sales(env: SchemeEnv, collector: CollectorProc, tmp_path: Path) -> None:
    """Sales go on while batches are in flight (held up to a second in a slow link)."""
    t = new_terminal(env, tmp_path / "t", collector.url, "T-BUSY", policy=BIG)
    proxy = FaultProxy(collector.port, seed=3, weights={"pass": 1, "delay": 3}, max_delay_s=0.5).start()
    settings = SyncSettings(batch_size=7, interval_s=0.05, timeout_s=5, retry_base_s=0.01, retry_cap_s=0.1)
    service = SyncService(t.data_dir, settings, collector=proxy.url)
    wallets = [env.wallet() for _ in range(20)]
    latencies: list[float] = []
    service.start()
    try:
        for i in range(150):
            start = time.perf_counter()
            assert t.pay(wallets[i % 20], 10 + i).approved
            latencies.append(time.perf_counter() - start)
            time.sleep(0.004)
        deadline = time.monotonic() + 60
        while t.pending() and time.monotonic() < deadline:
            service.wake()
            time.sleep(0.05)
    finally:
        service.stop()
        proxy.stop()
    assert service.passes >= 1 and proxy.applied["delay"] >= 5  # batches were held in flight
    # No lock is held across the network: a sale never waits for a batch in flight (up to 0.5 s).
    assert max(latencies) < 0.4, f"slowest sale took {max(latencies):.3f} s"
    view = View(collector.db_url)
    try:
        assert_exactly_once(view, t)
        assert len(view.entries(t.tid)) == 150
    finally:
        view.close()
    t.close()

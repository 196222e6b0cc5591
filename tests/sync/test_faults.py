"""A flaky link: >= 200 seeded runs through a fault-injecting proxy, on SQLite and PostgreSQL.

Each run is tiny (a fresh terminal, a few payments, batches of two, short timeouts) and draws
its faults from its seed: dropped requests, dropped answers, duplicated requests, resets and
truncations mid-answer, delays and stalls. Afterwards the collector holds every approved
payment exactly once and the terminal shows every row acknowledged. A failing seed replays
exactly: ``pytest tests/sync/test_faults.py -k 'seed-123'``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from pos.sync.service import sync_once
from sim.netproxy import DEFAULT_WEIGHTS, FAULTS, FaultProxy
from tests.sync.conftest import db_url_for
from tests.sync.harness import (
    FAST,
    CollectorProc,
    SchemeEnv,
    Term,
    View,
    assert_exactly_once,
    make_scheme,
    new_terminal,
    seeded_backoff,
)

SQLITE_SEEDS = range(0, 150)
PG_SEEDS = range(1000, 1060)
SETTINGS = FAST.with_overrides(timeout_s=0.3, connect_timeout_s=0.3)
MAX_PASSES = 25
SEEDS_PER_TERMINAL = 8


@pytest.fixture(scope="module")
def fenv(tmp_path_factory: pytest.TempPathFactory) -> SchemeEnv:
    return make_scheme(tmp_path_factory.mktemp("scheme"))


def _setup(kind: str, request: pytest.FixtureRequest, fenv: SchemeEnv, tmp: Path) -> Iterator[tuple]:
    proc = CollectorProc(fenv, db_url_for(kind, request, tmp), tmp).start()
    proxy = FaultProxy(proc.port, stall_s=0.5, weights={**DEFAULT_WEIGHTS, "stall": 3}).start()
    view = View(proc.db_url)
    try:
        yield proc, proxy, view
    finally:
        view.close()
        proxy.stop()
        proc.stop()


@pytest.fixture(scope="module")
def sqlite_link(request: pytest.FixtureRequest, fenv: SchemeEnv, tmp_path_factory: pytest.TempPathFactory):
    yield from _setup("sqlite", request, fenv, tmp_path_factory.mktemp("faults-sqlite"))


@pytest.fixture(scope="module")
def pg_link(request: pytest.FixtureRequest, fenv: SchemeEnv, tmp_path_factory: pytest.TempPathFactory):
    yield from _setup("postgres", request, fenv, tmp_path_factory.mktemp("faults-pg"))


_terminals: dict[str, Term] = {}


@pytest.fixture(scope="module", autouse=True)
def _close_terminals() -> Iterator[None]:
    yield
    for t in _terminals.values():
        t.close()
    _terminals.clear()


def terminal_for(seed: int, proc: CollectorProc, fenv: SchemeEnv, tmp_path: Path) -> Term:
    """A fresh terminal every ``SEEDS_PER_TERMINAL`` seeds (making one costs ~15 fsyncs)."""
    tid = f"T-seeds-{seed // SEEDS_PER_TERMINAL}-{proc.db_url.split(':', 1)[0]}"  # issue 11 id rule
    if tid not in _terminals:
        # Enrolled directly, not through the link.
        _terminals[tid] = new_terminal(fenv, tmp_path / tid, proc.url, tid)
    return _terminals[tid]


def one_run(seed: int, link: tuple, fenv: SchemeEnv, tmp_path: Path) -> None:
    proc, proxy, view = link
    rng = random.Random(seed)
    proxy.reseed(seed)
    t = terminal_for(seed, proc, fenv, tmp_path)
    w = fenv.wallet()
    for _ in range(rng.randint(1, 4)):
        assert t.pay(w, rng.randint(1, 500)).approved
    for _ in range(MAX_PASSES):
        report = sync_once(
            t.data_dir, SETTINGS, collector=proxy.url, lists=rng.random() < 0.3,
            backoff=seeded_backoff(seed, SETTINGS),
        )  # fmt: skip
        if t.pending() == 0:
            break
        assert report["upload"]["chain_error"] is None, report
    assert_exactly_once(view, t)


@pytest.mark.parametrize("seed", SQLITE_SEEDS, ids=lambda s: f"seed-{s}")
def test_flaky_link_sqlite(seed: int, sqlite_link: tuple, fenv: SchemeEnv) -> None:
    one_run(seed, sqlite_link, fenv, fenv.dir / "terminals")


@pytest.mark.parametrize("seed", PG_SEEDS, ids=lambda s: f"seed-{s}")
def test_flaky_link_postgres(seed: int, pg_link: tuple, fenv: SchemeEnv) -> None:
    one_run(seed, pg_link, fenv, fenv.dir / "terminals")


def test_every_fault_was_exercised(sqlite_link: tuple) -> None:
    """Runs after the seeded runs in this module: each kind of fault happened at least once."""
    _proc, proxy, _view = sqlite_link
    missing = [f for f in FAULTS if proxy.applied[f] == 0]
    assert not missing, f"never injected: {missing}; applied {dict(proxy.applied)}"

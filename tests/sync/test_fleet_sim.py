"""``scripts/fleet_sim`` at a small size: its end checks pass on both databases, and fail when
the collector lost or doubled a payment (so they cannot pass vacuously)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from collector.db import Database
from sim.fleet.checks import Expected, end_checks
from sim.fleet.plan import Plan, Sizes
from tests.sync.conftest import DB_KINDS
from tests.sync.pg import unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
SIZES = ["--terminals", "20", "--payments", "5", "--double-spends", "3", "--batch", "3"]


def fleet_sim(tmp_path: Path, db: str) -> dict:
    argv = [
        str(ROOT / "scripts" / "fleet_sim"), *SIZES, "--db", db, "--steady-polls", "20", "--json",
        "--no-pg-fsync", "--work", str(tmp_path / "work"), "--cache", str(tmp_path / "cache"),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == (0 if figures["ok"] else 1), done.stderr[-2000:]
    return figures


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One run on SQLite, its work dir kept: the checks are then tried on a damaged copy."""
    path = tmp_path_factory.mktemp("fleet")
    return path, fleet_sim(path, "sqlite")


@pytest.mark.parametrize("db", DB_KINDS)
def test_fleet_sim_passes_its_end_checks(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if db == "postgres" and unavailable_reason() is not None:
        pytest.skip(str(unavailable_reason()))
    figures = fleet_sim(tmp_path, db) if db == "postgres" else request.getfixturevalue("sqlite_run")[1]
    assert figures["ok"], figures["failures"]
    assert (figures["terminals"], figures["payments"], figures["double_spends"]) == (20, 100, 3)
    assert figures["polls"]["304"] == 20  # every terminal's second poll: nothing changed


def test_end_checks_fail_when_a_payment_is_dropped_or_doubled(sqlite_run: tuple[Path, dict]) -> None:
    tmp_path, figures = sqlite_run
    assert figures["ok"]
    plan = Plan(tmp_path / "cache", Sizes(20, 5, 3, 3))
    expected = Expected()
    for chunk in plan.load():
        for day in chunk.terminals:
            expected.add(day)
        expected.double_spends.update(chunk.double_spends)
    db = Database(f"sqlite:///{tmp_path / 'work' / 'collector.db'}")
    try:
        assert end_checks(db, expected) == []
        with db.write() as tx:
            tx.execute("DROP INDEX entries_once")  # a collector that would take a payment twice
            tx.execute(
                "INSERT INTO entries SELECT terminal_id, seq + 1000, time, kind, wallet_id, counter, amount,"
                " currency, mode, row_terminal_id, token_digest, token, hash, status, reason, offline_limit,"
                " ingested_at, reversed_seq FROM entries WHERE terminal_id = 'FLEET-000003' AND seq = 1"
            )
        doubled = end_checks(db, expected)
        assert any("accepted" in f for f in doubled) and any("seqs 1..n" in f for f in doubled), doubled
        with db.write() as tx:
            tx.execute("DELETE FROM entries WHERE seq > 1000")
            tx.execute("DELETE FROM entries WHERE terminal_id = 'FLEET-000005' AND seq = 2")
        dropped = end_checks(db, expected)
        assert any("seqs 1..n" in f for f in dropped), dropped
        assert any(w in f for f in dropped for w in ("accepted", "double spends")), dropped
    finally:
        db.close()

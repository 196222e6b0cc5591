"""PostgreSQL storage: monthly partitions, the archive round trip and its refusals, claims.

The collector runs in-process on a real PostgreSQL cluster with its clock set months back, so
the payments land in past months' partitions; tokens, batches and signatures are real.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from collector import archive, partitions
from collector.db import Database, ckey
from collector.lists import Lists, ListSigner
from collector.service import Collector, Settings
from pos import chain
from pos.identity import Identity
from pos.tokens import parse_token
from pos.wire import protocol as p
from tests.sync.harness import ENV, POS_BIN, SchemeEnv, make_scheme
from tests.sync.pg import PgCluster

TOKEN = "storage-operator"


def _months_back(now: int, k: int) -> tuple[int, int]:
    ym = partitions.month_of(now)
    for _ in range(k):
        ym = (ym[0] - 1, 12) if ym[1] == 1 else (ym[0], ym[1] - 1)
    return ym


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)


class Term:
    """A terminal identity and its chain, posting real signed batches to an in-process collector."""

    def __init__(self, coll: Collector, path: Path, tid: str, now: int) -> None:
        self.coll, self.tid, self.prev, self.seq = coll, tid, chain.GENESIS, 0
        path.mkdir(parents=True, exist_ok=True)
        self.identity = Identity(path)
        key = self.identity.public_raw
        sig = self.identity.sign(p.enroll_message(tid, key, now))
        body = json.dumps({"tid": tid, "key": key.hex(), "time": now, "sig": sig.hex()}).encode()
        assert coll.enroll(f"Bearer {TOKEN}", body)[0] == 201

    def pay(self, tokens: list[tuple[bytes, int]], now: int) -> list[Any]:
        prev0 = self.prev
        return self.send(self.rows(tokens, now), prev0, now)

    def rows(self, tokens: list[tuple[bytes, int]], now: int) -> list[p.BatchRow]:
        """The next rows of this terminal's chain for (token, amount) pairs, not yet sent."""
        rows = []
        for raw, amount in tokens:
            self.seq += 1
            tok = parse_token(raw)
            wid, digest = tok.cert.wallet_id, hashlib.sha256(raw).digest()
            base = (self.seq, now, "payment", wid, tok.counter, amount, "EUR", "qr", self.tid, digest)
            h = chain.Row(*base, self.prev).hash()
            rows.append(p.BatchRow(*base, raw, h))
            self.prev = h
        return rows

    def send(self, rows: list[p.BatchRow], prev: bytes, now: int) -> list[Any]:
        """``rows`` (continuing ``prev``) in one signed batch with a fresh nonce; the answers."""
        payload = p.encode_payload(p.Batch(self.tid, p.new_nonce(), now, prev, rows, []))
        body = p.encode_envelope(self.tid, payload, self.identity.sign(p.batch_message(payload)))
        return list(self.coll.ingest(body)["results"])


def _collector(env: SchemeEnv, url: str, clock: Clock) -> Collector:
    db = Database(url)
    lists = Lists(db, env.root, ListSigner.from_scheme_dir(env.scheme.dir))
    for path in (env.trust_list, env.deny_list):
        lists.import_list(path.read_bytes())
    return Collector(db, lists, Settings(operator_token=TOKEN), clock=clock)


@pytest.fixture
def two_months(pg_cluster: PgCluster, tmp_path: Path) -> Any:
    """Payments stored on the last evening of a month three months back and the next morning."""
    import time

    month = _months_back(int(time.time()), 3)
    boundary = partitions.month_start(*partitions.next_month(*month))
    env = make_scheme(tmp_path, now=boundary - 7200)
    clock = Clock(boundary - 7200)
    coll = _collector(env, pg_cluster.new_database(), clock)
    wallets = [env.wallet() for _ in range(6)]
    a, b = Term(coll, tmp_path / "a", "T-A", clock.t), Term(coll, tmp_path / "b", "T-B", clock.t)
    spent = wallets[0].token(max_amount=70, now=clock.t)
    first = [(w.token(max_amount=10 * i + 5, now=clock.t), 10 * i + 5) for i, w in enumerate(wallets)]
    a.pay([*first, (spent, 70)], clock.t)
    second = b.pay([*((w.token(max_amount=3, now=clock.t), 3) for w in wallets[:3]), (spent, 70)], clock.t)
    assert [r[2] for r in second] == ["accepted"] * 3 + ["double_spend"]
    clock.t = boundary + 3600
    a.pay([(w.token(max_amount=7, now=clock.t), 7) for w in wallets[3:]], clock.t)
    try:
        yield coll, month, env, spent, tmp_path
    finally:
        coll.close()


def _settlement(db: Database, ym: tuple[int, int]) -> list[dict[str, Any]]:
    with db.read() as tx:
        return archive._settle(tx, [partitions.partition_name(*ym)])


def test_new_postgres_database_is_partitioned_by_month_with_months_made_ahead(pg_cluster: PgCluster) -> None:
    db = Database(pg_cluster.new_database())
    try:
        import time

        now = int(time.time())
        assert db.layout == "partitioned"
        with db.read() as tx:
            months = partitions.existing_months(tx)
        ym = partitions.month_of(now)
        nxt = partitions.next_month(*ym)
        assert months[:3] == [ym, nxt, partitions.next_month(*nxt)]
        later = now + 400 * 86400  # a collector running on into a month not made yet makes it
        db.ensure_partitions(later)
        with db.read() as tx:
            assert partitions.month_of(later) in partitions.existing_months(tx)
    finally:
        db.close()


def test_archive_round_trip_drops_the_month_and_restores_it_to_the_same_sums(two_months: Any) -> None:
    coll, month, _env, spent, tmp = two_months
    db = coll.db
    before_archive = _settlement(db, month)
    assert sum(s["count"] for s in before_archive) == 10  # 7 from T-A, 3 from T-B (and a double spend)
    out = tmp / "archive.jsonl.gz"
    label = f"{month[0]:04d}-{month[1]:02d}"
    nxt = partitions.next_month(*month)
    done = archive.archive(db, f"{nxt[0]:04d}-{nxt[1]:02d}", out)
    assert done.months == [label] and done.rows == 11 and done.settlement == before_archive
    with db.read() as tx:
        assert month not in partitions.existing_months(tx)
        assert tx.one("SELECT count(*) FROM entries")[0] == 3  # the next month's rows stay
    with gzip.open(out, "rt") as fh:
        header = json.loads(fh.readline())
        assert header["settlement"] == before_archive and len(fh.readlines()) == 11
    # The claim outlives the archived month: the same token from another terminal is a double spend.
    c = Term(coll, tmp / "c", "T-C", int(coll.clock()))
    assert c.pay([(spent, 70)], parse_token(spent).iat)[0][2] == "double_spend"
    assert archive.restore(db, out) == 11
    assert _settlement(db, month) == before_archive


def test_archive_refuses_a_month_not_yet_settled_and_drops_nothing(two_months: Any) -> None:
    coll, month, _env, _spent, tmp = two_months
    out = tmp / "a.gz"
    nxt = partitions.next_month(*month)
    with pytest.raises(archive.ArchiveError, match="not settled"):
        archive.archive(coll.db, "2999-01", out)
    # Within the grace period: the month ended less than grace_s ago.
    with pytest.raises(archive.ArchiveError, match="not settled"):
        archive.archive(coll.db, f"{nxt[0]:04d}-{nxt[1]:02d}", out, grace_s=200 * 86400)
    with pytest.raises(archive.ArchiveError, match="YYYY-MM"):
        archive.archive(coll.db, "2026-13", out)
    with pytest.raises(archive.ArchiveError, match="cannot write"):
        archive.archive(coll.db, f"{nxt[0]:04d}-{nxt[1]:02d}", tmp / "no-such-dir" / "a.gz")
    assert not out.exists() and not (tmp / "a.gz.partial").exists()
    with coll.db.read() as tx:
        assert month in partitions.existing_months(tx)


def test_archive_refuses_when_the_month_changes_under_it_and_drops_nothing(
    two_months: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row of the month changed between the file and the drop (a late reversal, an operator):
    the re-imported archive no longer sums to the month, so nothing is dropped."""
    coll, month, _env, _spent, tmp = two_months
    real_write = archive._write

    def write_then_change(db: Database, tables: list[str], path: Path, header: dict[str, Any]) -> int:
        n = real_write(db, tables, path, header)
        with db.write() as tx:
            tx.execute(f"UPDATE {tables[0]} SET reversed_seq = 99 WHERE status = 'accepted' AND seq = 1")
        return n

    monkeypatch.setattr(archive, "_write", write_then_change)
    nxt = partitions.next_month(*month)
    out = tmp / "a.gz"
    with pytest.raises(archive.ArchiveError, match="does not sum"):
        archive.archive(coll.db, f"{nxt[0]:04d}-{nxt[1]:02d}", out)
    assert not out.exists() and not (tmp / "a.gz.partial").exists()
    with coll.db.read() as tx:
        assert month in partitions.existing_months(tx)
        assert tx.one(f"SELECT count(*) FROM {partitions.partition_name(*month)}")[0] == 11


def test_archive_on_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(POS_BIN), "collector", "archive", "--db", f"sqlite:///{tmp_path / 'c.db'}",
         "--before", "2020-01", "--out", str(tmp_path / "a.gz")],
        env=ENV, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "archive needs PostgreSQL" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "a.gz").exists()


def test_an_unpartitioned_postgres_database_keeps_working_with_its_claims_backfilled(
    pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path
) -> None:
    """A database made by an older collector: entries unpartitioned, no claims table."""
    import psycopg

    from collector.schema import ENTRIES_SQLITE
    from collector.schema import TYPES as _TYPES

    url = pg_cluster.new_database()
    w = env.wallet()
    old, tok = w.token(max_amount=5, now=env.now), env.wallet().token(max_amount=5, now=env.now)
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in ENTRIES_SQLITE.format(**_TYPES["postgres"]).split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(
            "INSERT INTO entries (terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode,"
            " row_terminal_id, token_digest, token, hash, status, offline_limit, ingested_at) VALUES"
            " ('T-OLD', 1, %s, 'payment', %s, %s, 5, 'EUR', 'qr', 'T-OLD', %s, %s, %s, 'accepted',"
            " 50000, %s)",
            (env.now, w.wallet_id, ckey(1), hashlib.sha256(old).digest(), old, bytes(32), env.now),
        )
    coll = _collector(env, url, Clock(env.now))
    try:
        assert coll.db.layout == "unpartitioned"
        a, b = Term(coll, tmp_path / "a", "T-A", env.now), Term(coll, tmp_path / "b", "T-B", env.now)
        assert a.pay([(old, 5)], env.now)[0][2] == "double_spend"  # against the backfilled claim
        assert a.pay([(tok, 5)], env.now)[0][2] == "accepted"
        assert b.pay([(tok, 5)], env.now)[0][2] == "double_spend"
        with pytest.raises(archive.ArchiveError, match="unpartitioned"):
            archive.archive(coll.db, "2020-01", tmp_path / "a.gz")
    finally:
        coll.close()


def test_pruned_claims_reject_a_later_payment_under_the_expired_certificate(
    pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path
) -> None:
    """Claims of certificates expired past the skew are pruned; the horizon stays, so the same
    token again cannot pass for new (its single use can no longer be checked): claim_pruned."""
    coll = _collector(env, pg_cluster.new_database(), Clock(env.now))
    try:
        short = env.wallet(valid_s=4 * 86400)  # issued 3 days back: expires in a day
        exp = parse_token(tok := short.token(max_amount=5, now=env.now)).cert.exp
        a, b = Term(coll, tmp_path / "a", "T-A", env.now), Term(coll, tmp_path / "b", "T-B", env.now)
        assert a.pay([(tok, 5)], env.now)[0][2] == "accepted"
        with coll.db.write() as tx:
            assert partitions.prune_claims(tx, exp + 100, 30) == 1
        other = env.wallet().token(max_amount=5, now=env.now)
        assert [r[2] for r in b.pay([(tok, 5), (other, 5)], env.now)] == ["claim_pruned", "accepted"]
    finally:
        coll.close()


def test_archive_and_restore_from_the_command_line(two_months: Any) -> None:
    coll, month, _env, _spent, tmp = two_months
    nxt = partitions.next_month(*month)
    out = tmp / "cli.jsonl.gz"
    argv = [str(POS_BIN), "collector", "archive", "--db", coll.db.url]
    r = subprocess.run([*argv, "--before", f"{nxt[0]:04d}-{nxt[1]:02d}", "--out", str(out)],
                       env=ENV, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0 and f"archived {month[0]:04d}-{month[1]:02d}: 11 rows" in r.stderr, r.stderr
    with coll.db.read() as tx:
        assert month not in partitions.existing_months(tx)
    r = subprocess.run([*argv, "--restore", str(out)], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "restored 11 rows" in r.stderr, r.stderr
    r = subprocess.run([*argv, "--restore", str(out)], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "still holds rows" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.fixture
def spent_once(pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path) -> Any:
    """A token accepted at T-A under a certificate that expires in a day, its expiry, T-B to use
    it again, and a connection of its own for the pruning."""
    coll = _collector(env, pg_cluster.new_database(), Clock(env.now))
    pruner = Database(coll.db.url, pool_size=1)
    try:
        short = env.wallet(valid_s=4 * 86400)
        exp = parse_token(tok := short.token(max_amount=5, now=env.now)).cert.exp
        a, b = Term(coll, tmp_path / "a", "T-A", env.now), Term(coll, tmp_path / "b", "T-B", env.now)
        assert a.pay([(tok, 5)], env.now)[0][2] == "accepted"
        yield pruner, tok, exp, b
    finally:
        pruner.close()
        coll.close()


def _paid_again_during(pruner: Database, step: Any, b: Term, tok: bytes, now: int) -> list[Any]:
    """B's answers to the token again, sent while ``step(tx)`` of the pruning is open, then
    committed (B's ingest may wait on the pruning's locks meanwhile)."""
    answers: list[Any] = []
    with pruner.write() as tx:
        step(tx)
        racer = threading.Thread(target=lambda: answers.append(b.pay([(tok, 5)], now)))
        racer.start()
        racer.join(timeout=1.0)
    racer.join(timeout=30)
    assert not racer.is_alive()
    return list(answers[0])


def test_a_payment_racing_the_claims_pruning_cannot_take_the_pruned_claim(
    spent_once: Any, env: SchemeEnv
) -> None:
    """An ingest that read the old horizon while ``prune_claims`` ran in another transaction
    (an operator's ``archive --prune-claims`` beside live collectors): its claim waits for the
    pruning's DELETE, which then frees the pair, so the second use of a token went through as a
    new payment. Ingest and pruning now exclude each other (advisory lock): claim_pruned."""
    pruner, tok, exp, b = spent_once

    def prune(tx: Any) -> None:
        assert partitions.prune_claims(tx, exp + 100, 30) == 1

    assert [r[2] for r in _paid_again_during(pruner, prune, b, tok, env.now)] == ["claim_pruned"]


def test_a_payment_between_the_archives_horizon_and_its_delete_is_rejected(
    spent_once: Any, env: SchemeEnv
) -> None:
    """``archive --prune-claims`` commits the horizon first, then deletes the claims beside the
    ingest: a batch arriving while the DELETE is open reads the new horizon (claim_pruned)."""
    pruner, tok, exp, b = spent_once
    with pruner.write() as tx:
        horizon = partitions.raise_claims_horizon(tx, exp + 100, 30)

    def delete(tx: Any) -> None:
        assert partitions.delete_claims_before(tx, horizon) == 1

    assert [r[2] for r in _paid_again_during(pruner, delete, b, tok, env.now)] == ["claim_pruned"]

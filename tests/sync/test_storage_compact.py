"""PostgreSQL stores a payment's row terminal id and token digest only where they say more than
the row (collector.partitions): every reader still sees them, and a database made by the
previous schema (NOT NULL columns, the wider indexes) upgrades in place and keeps working.

Real PostgreSQL, real signed batches through an in-process collector (tests.sync.test_storage).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import psycopg

from collector import archive, export, partitions
from collector.console.queries import payments as console_payments
from collector.db import ckey
from pos import chain
from pos.tokens import parse_token
from pos.wire import protocol as p
from tests.sync.harness import SchemeEnv
from tests.sync.pg import PgCluster
from tests.sync.test_storage import Clock, Term, _collector

# main's entries table before the compact layout (the upgrade path's starting point).
PREVIOUS_ENTRIES_PG = """
CREATE TABLE entries (
    terminal_id TEXT NOT NULL, seq BIGINT NOT NULL, time BIGINT NOT NULL, kind TEXT NOT NULL,
    wallet_id BYTEA NOT NULL, counter BYTEA NOT NULL, amount BIGINT NOT NULL, currency TEXT NOT NULL,
    mode TEXT NOT NULL, row_terminal_id TEXT NOT NULL, token_digest BYTEA NOT NULL, token BYTEA,
    hash BYTEA NOT NULL, status TEXT NOT NULL, reason TEXT, offline_limit BIGINT,
    ingested_at BIGINT NOT NULL, reversed_seq BIGINT, PRIMARY KEY (terminal_id, seq, ingested_at)
) PARTITION BY RANGE (ingested_at);
CREATE INDEX entries_wallet ON entries (wallet_id, ingested_at) INCLUDE (amount, offline_limit, status);
CREATE INDEX entries_time ON entries (time, terminal_id, seq)
"""


def _reverse(term: Term, token: bytes, amount: int, now: int) -> list[object]:
    """A reversal row (no token) naming the terminal's payment of ``token``."""
    tok = parse_token(token)
    term.seq += 1
    base = (term.seq, now, "reversal", tok.cert.wallet_id, tok.counter, amount, "EUR", "qr", term.tid,
            hashlib.sha256(token).digest())  # fmt: skip
    h = chain.Row(*base, term.prev).hash()
    payload = p.encode_payload(
        p.Batch(term.tid, p.new_nonce(), now, term.prev, [p.BatchRow(*base, None, h)], [])
    )
    term.prev = h
    body = p.encode_envelope(term.tid, payload, term.identity.sign(p.batch_message(payload)))
    return list(term.coll.ingest(body)["results"])


def test_postgres_stores_the_digest_and_row_terminal_once_and_every_reader_sees_them(
    pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path
) -> None:
    coll = _collector(env, pg_cluster.new_database(), Clock(env.now))
    try:
        a, b = Term(coll, tmp_path / "a", "T-A", env.now), Term(coll, tmp_path / "b", "T-B", env.now)
        toks = [env.wallet().token(max_amount=5, now=env.now) for _ in range(3)]
        assert [r[2] for r in a.pay([(t, 5) for t in toks], env.now)] == ["accepted"] * 3
        assert b.pay([(toks[0], 5)], env.now)[0][2] == "double_spend"
        assert _reverse(a, toks[1], 5, env.now)[0][2] == "reversal"
        with coll.db.read() as tx:
            stored = tx.all(
                "SELECT kind, row_terminal_id, token_digest, reversed_seq FROM entries ORDER BY seq"
            )
            (detail,) = tx.one("SELECT detail FROM events WHERE kind = 'double_spend'")
        payment_rows = [r for r in stored if r[0] == "payment"]
        assert len(payment_rows) == 4 and all(r[1] is None and r[2] is None for r in payment_rows)
        (reversal,) = [r for r in stored if r[0] == "reversal"]
        assert reversal[1] is None and bytes(reversal[2]) == hashlib.sha256(toks[1]).digest()
        digests = {hashlib.sha256(t).hexdigest() for t in toks}
        exported = [d for d in export.payments(coll.db) if d["terminal_id"] == "T-A"]
        assert {d["token_digest"] for d in exported} == digests
        assert {d["row_terminal_id"] for d in exported} == {"T-A"}
        assert [
            d["reversed_by_seq"] for d in exported if d["token_digest"] == hashlib.sha256(toks[1]).hexdigest()
        ]
        page, _ = console_payments.search(coll.db, console_payments.PaymentFilter(terminal_id="T-A"))
        assert {r.token_digest for r in page} == digests
        first = json.loads(detail)["evidence"][0]
        assert first["terminal_id"] == "T-A" and first["token_digest"] == hashlib.sha256(toks[0]).hexdigest()
    finally:
        coll.close()


def test_a_database_made_by_the_previous_schema_upgrades_in_place_and_keeps_its_rows(
    pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path
) -> None:
    url = pg_cluster.new_database()
    old = env.wallet().token(max_amount=5, now=env.now)
    ym = partitions.month_of(env.now)
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in PREVIOUS_ENTRIES_PG.split(";"):
            conn.execute(stmt)
        partitions_sql = "CREATE TABLE {} PARTITION OF entries FOR VALUES FROM ({}) TO ({})"
        lo, hi = partitions.month_start(*ym), partitions.month_start(*partitions.next_month(*ym))
        conn.execute(partitions_sql.format(partitions.partition_name(*ym), lo, hi))
        conn.execute(
            "INSERT INTO entries (terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode,"
            " row_terminal_id, token_digest, token, hash, status, offline_limit, ingested_at) VALUES"
            " ('T-OLD', 1, %s, 'payment', %s, %s, 5, 'EUR', 'qr', 'T-OLD', %s, %s, %s, 'accepted',"
            " 50000, %s)",
            (env.now, parse_token(old).cert.wallet_id, ckey(parse_token(old).counter),
             hashlib.sha256(old).digest(), old, bytes(32), env.now),
        )  # fmt: skip
    coll = _collector(env, url, Clock(env.now))
    try:
        assert coll.db.layout == "partitioned"
        with coll.db.read() as tx:
            strict = tx.all(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'entries'::regclass AND attnotnull"
                " AND attname IN ('row_terminal_id', 'token_digest')"
            )
        assert strict == []
        a = Term(coll, tmp_path / "a", "T-A", env.now)
        new = env.wallet().token(max_amount=5, now=env.now)
        assert [r[2] for r in a.pay([(new, 5)], env.now)] == ["accepted"]
        exported = {d["terminal_id"]: d for d in export.payments(coll.db)}
        assert exported["T-OLD"]["token_digest"] == hashlib.sha256(old).hexdigest()
        assert exported["T-A"]["token_digest"] == hashlib.sha256(new).hexdigest()
        assert exported["T-A"]["row_terminal_id"] == "T-A" and exported["T-OLD"]["row_terminal_id"] == "T-OLD"
    finally:
        coll.close()


def test_an_archive_holds_every_column_in_full(pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path) -> None:
    """The archive file is read without the database: the compact columns are written filled in."""
    coll = _collector(env, pg_cluster.new_database(), Clock(env.now))
    try:
        a = Term(coll, tmp_path / "a", "T-A", env.now)
        tok = env.wallet().token(max_amount=5, now=env.now)
        assert a.pay([(tok, 5)], env.now)[0][2] == "accepted"
        out = tmp_path / "a.jsonl.gz"
        month = partitions.partition_name(*partitions.month_of(env.now))
        assert archive._write(coll.db, [month], out, {"type": "archive", "version": 1}) == 1
        with gzip.open(out, "rt") as fh:
            fh.readline()
            doc = json.loads(fh.readline())
        assert doc["token_digest"] == hashlib.sha256(tok).hexdigest() and doc["row_terminal_id"] == "T-A"
    finally:
        coll.close()

"""PostgreSQL: (wallet id, counter) once across the fleet, and the batch's rows in one COPY.

``claim`` inserts the batch's candidate pairs into ``claims`` in one statement (arrays
unnested, ``ON CONFLICT DO NOTHING RETURNING``): the pairs it returns are this batch's; the
others were claimed before, and only for those (a double spend or a replay, rare) a second
statement reads the entry holding the claim, for the evidence. Each pair is claimed by its
first row in the batch, which is the one ``collector.payments`` accepts. A claim rolls back
with the batch; a pair another open batch claimed waits for that batch's commit (the unique
index), and the pairs are claimed in sorted order so two batches never wait on each other.

``copy_entries`` writes the rows with ``COPY``: one exchange with the server for the whole
batch, routed to the month's partition by PostgreSQL itself.
"""

from __future__ import annotations

from typing import Any

from collector.db import Tx, ckey, cvalue
from collector.pg_arrays import Byteas, Int8s
from collector.reverify import Verdict
from collector.schema import token_digest_sql
from pos.wire import protocol as p

ENTRY_COLUMNS = (
    "terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode, row_terminal_id,"
    " token_digest, token, hash, status, reason, offline_limit, ingested_at"
)


HORIZON = "SELECT until FROM claims_horizon WHERE one = 1"


def claim(
    tx: Tx,
    tid: str,
    rows: list[p.BatchRow],
    verdicts: dict[int, Verdict],
    now: int,
    horizon: int | None = None,
) -> tuple[dict[tuple[bytes, int], dict[str, Any]], set[int]]:
    """Claim the (wallet id, counter) of these rows; the evidence of those claimed before, and
    the seqs of rows whose certificate expired before the claims ``horizon`` (``claim_pruned``:
    the claims of such certificates may be gone, ``collector.partitions.prune_claims``)."""
    late: set[int] = set()
    if horizon is not None:
        late = {r.seq for r in rows if (verdicts[r.seq].until or horizon) < horizon}
    first: dict[tuple[bytes, int], p.BatchRow] = {}
    for r in rows:
        if r.seq not in late:
            first.setdefault((r.wallet_id, r.counter), r)
    if not first:
        return {}, late
    pairs = sorted(first)
    wids = [w for w, _ in pairs]
    cks = [ckey(c) for _, c in pairs]
    untils = Int8s(verdicts[first[k].seq].until for k in pairs)
    got = tx.all(
        "INSERT INTO claims (wallet_id, counter, terminal_id, seq, ingested_at, until)"
        " SELECT w, c, ?::text, s, ?::bigint, u FROM unnest(?::bytea[], ?::bytea[], ?::bigint[], ?::bigint[])"
        " AS v (w, c, s, u) ON CONFLICT (wallet_id, counter) DO NOTHING RETURNING wallet_id, counter",
        [tid, now, Byteas(wids), Byteas(cks), Int8s(first[k].seq for k in pairs), untils],
    )
    if len(got) == len(pairs):
        return {}, late  # every pair is this batch's (the pairs are distinct)
    mine = {(bytes(w), cvalue(c)) for w, c in got}
    taken = [k for k in pairs if k not in mine]
    found = tx.all(
        "SELECT c.terminal_id, c.seq, e.time, e.amount, e.currency, e.mode, c.wallet_id, c.counter,"
        f" {token_digest_sql(True, 'e')}, e.token FROM claims c"
        " LEFT JOIN entries e ON e.terminal_id = c.terminal_id"
        " AND e.seq = c.seq AND e.ingested_at = c.ingested_at"
        " WHERE (c.wallet_id, c.counter) IN (SELECT * FROM unnest(?::bytea[], ?::bytea[]))",
        [Byteas([w for w, _ in taken]), Byteas([ckey(c) for _, c in taken])],
    )
    return {(bytes(r[6]), cvalue(r[7])): evidence(r) for r in found}, late


def evidence(r: Any) -> dict[str, Any]:
    """A stored payment as double-spend evidence, from (terminal_id, seq, time, amount,
    currency, mode, wallet_id, counter, token_digest, token); an archived entry's claim has
    only its terminal and seq."""
    tid, seq, t, amount, currency, mode, _wid, _counter, digest, token = r
    return {
        "terminal_id": tid, "seq": seq, "time": t, "amount": amount, "currency": currency,
        "mode": mode, "token_digest": bytes(digest).hex() if digest is not None else None,
        "token": bytes(token).hex() if token else None,
    }  # fmt: skip


ENTRY_TYPES = [
    "text", "int8", "int8", "text", "bytea", "bytea", "int8", "text", "text", "text", "bytea", "bytea",
    "bytea", "text", "text", "int8", "int8",
]  # fmt: skip


def copy_entries(tx: Tx, rows: list[tuple[Any, ...]]) -> None:
    """The batch's rows in one binary COPY (columns in ``ENTRY_COLUMNS`` order): no text
    escaping of the tokens and hashes on either side."""
    if not rows:
        return
    sql = f"COPY entries ({ENTRY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    tx.begin()
    with tx.conn.cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(ENTRY_TYPES)
        for row in rows:
            copy.write_row(row)

"""The new rows of a batch become entries: each (wallet id, counter) once across the fleet.

Runs inside the ingest transaction, after the chain checks and ``collector.judge``. A payment
whose token verified is refused ``denied_list_held`` (and the terminal flagged) when the wallet
is on a deny list the terminal already held (``collector.marks``), whatever time the row claims;
else ``wallet_denied`` when the deny list held the wallet at the payment's time.

Evidence against a wallet needs two terminals. A (wallet id, counter) already accepted from
**another** terminal is a double spend: stored with that status, and an event with both
payments as evidence that puts the wallet onto the next deny list. The same (wallet id,
counter) again from the **same** terminal (a replay it should have declined, SPEC 3.3, or a
high-s twin: another digest, the same signed payment) is that terminal's fault:
``self_duplicate``, credited once, the terminal flagged, the wallet never denied for it.

Which (wallet id, counter) pairs are held already: on SQLite the partial unique index over
accepted entries; on PostgreSQL the ``claims`` table, claimed for the whole batch in one
statement (``collector.claims``, where a certificate expired before the pruned claims' horizon
is rejected ``claim_pruned``), the rows then written with one ``COPY``.

A reversal row marks the terminal's payment it names. Then the wallets' cumulative offline
exposure is checked (``collector.exposure``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import cbor2

from collector import claims
from collector.db import Tx, ckey, cvalue
from collector.exposure import check_exposure
from collector.judge import DENIED_LIST_HELD, SELF_DUPLICATE, flag
from collector.marks import Marks
from collector.reverify import ACCEPTED, REFUSED, REJECTED, REVERSAL, Verdict
from collector.schema import token_digest_sql
from pos.tokens import TYP_DENY_LIST
from pos.wire import protocol as p

DOUBLE_SPEND = "double_spend"
CLAIM_PRUNED = "claim_pruned"  # PostgreSQL: its certificate expired before the claims were pruned
DeniedSince = dict[bytes, tuple[int, int | None]]  # wallet id -> (deny list iat, its seq)

_INSERT = (
    "INSERT INTO entries (terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode,"
    " row_terminal_id, token_digest, token, hash, status, reason, offline_limit, ingested_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def store_payments(
    tx: Tx,
    tid: str,
    new: list[p.BatchRow],
    verdicts: dict[int, Verdict],
    now: int,
    margin: int,
    events: list[dict[str, Any]],
    counters: Counter[tuple[str, str]],
    marks: Marks | None = None,
    pruned_before: int | None = None,
    *,
    denied_since: DeniedSince,
) -> list[tuple[str, str | None]]:
    """Decide and insert the new rows; return (status, verdict) per row.

    ``pruned_before``: PostgreSQL's claims horizon, read in this transaction under the lock
    that keeps ``collector.partitions.prune_claims`` out until the commit. ``denied_since``:
    ``denied_since_of``'s answer for (at least) the wallets of the accepted rows, read in this
    transaction."""
    if not new:
        return []
    marks = marks or Marks()
    accepted = [r for r in new if verdicts[r.seq].status == ACCEPTED]
    refused: dict[int, tuple[str, str | None]] = {}
    for row in accepted:
        fate = _denial(tid, row, denied_since, marks, events)
        if fate is not None:
            refused[row.seq] = fate
    candidates = [r for r in accepted if r.seq not in refused]
    if tx.pg:
        existing, late = claims.claim(tx, tid, candidates, verdicts, now, pruned_before)
        refused.update((seq, (REJECTED, CLAIM_PRUNED)) for seq in late)
    else:
        existing = _existing(tx, [(r.wallet_id, r.counter) for r in candidates])
    out: list[tuple[str, str | None]] = []
    rows: list[tuple[Any, ...]] = []
    pg = tx.pg
    seen: dict[tuple[bytes, int], Any] = {}
    for row in new:
        v = verdicts[row.seq]
        status, reason, limit = v.status, v.reason, v.offline_limit
        if status == ACCEPTED:
            status, reason = refused.get(row.seq) or _decide(tid, row, existing, seen, events)
        _count(counters, status, reason)
        out.append((status, _answer(status, reason)))
        # PostgreSQL stores the row's terminal id and token digest only where they say more
        # than the row (``collector.partitions``); the digest was checked against the token.
        row_tid = None if pg and row.terminal_id == tid else row.terminal_id
        digest = None if pg and row.token is not None else row.token_digest
        rows.append(
            (
                tid, row.seq, row.time, row.kind, row.wallet_id, ckey(row.counter), row.amount,
                row.currency, row.mode, row_tid, digest, row.token, row.hash, status, reason, limit, now,
            )
        )  # fmt: skip
    if tx.pg:
        claims.copy_entries(tx, rows)
    else:
        tx.executemany(_INSERT, rows)
    for i, (row, (status, _v)) in enumerate(zip(new, out, strict=True)):
        if status == REVERSAL and not _reverse(tx, tid, row):
            out[i] = (REVERSAL, "reversal_unmatched")
    fresh = [r for r, (s, _v) in zip(new, out, strict=True) if s == ACCEPTED]
    # The wallets' rows of ``wallet_days`` are locked last, held from the exposure check to the
    # commit: whichever of two batches of a wallet takes them second sees the other's rows.
    # Claims need no lock (their unique index makes a second claim wait for the first's commit),
    # so the COPY and the claims of batches sharing wallets run side by side.
    check_exposure(tx, fresh, _limits(fresh, verdicts), now, margin, events)
    return out


def _limits(rows: list[p.BatchRow], verdicts: dict[int, Verdict]) -> dict[int, int | None]:
    return {r.seq: verdicts[r.seq].offline_limit for r in rows}


def _denial(
    tid: str,
    row: p.BatchRow,
    denied_since: DeniedSince,
    marks: Marks,
    events: list[dict[str, Any]],
) -> tuple[str, str | None] | None:
    """A verified payment refused or rejected by the deny list, or None."""
    iat, added_seq = denied_since.get(row.wallet_id, (None, None))
    if iat is not None and marks.holds_list(row.seq, added_seq):
        detail = {"deny_list_seq": marks.deny_seq, "held_after_seq": marks.deny_from_seq, "list_iat": iat}
        events.append(flag(DENIED_LIST_HELD, tid, row, detail))
        return REFUSED, DENIED_LIST_HELD
    if iat is not None and iat <= row.time:
        return REJECTED, "wallet_denied"
    return None


def _decide(
    tid: str,
    row: p.BatchRow,
    existing: dict[tuple[bytes, int], Any],
    seen: dict[tuple[bytes, int], Any],
    events: list[dict[str, Any]],
) -> tuple[str, str | None]:
    """A verified payment's fate against the fleet's payments (the deny list passed it)."""
    pair = (row.wallet_id, row.counter)
    first = existing.get(pair)
    if first is None and pair in seen:
        first = _evidence_of(tid, seen[pair])
    if first is None:
        seen[pair] = row  # evidence is built only for the rare second one
        return ACCEPTED, None
    if first["terminal_id"] == tid:
        same = _signed_part(row.token) == _signed_part(_unhex(first["token"]))
        detail = {"first_seq": first["seq"], "same_signed_payload": same}
        events.append(flag(SELF_DUPLICATE, tid, row, detail))
        return REFUSED, SELF_DUPLICATE
    events.append(_double_spend(tid, row, first))
    return DOUBLE_SPEND, DOUBLE_SPEND


def _answer(status: str, reason: str | None) -> str | None:
    """The verdict the terminal reads: a refusal says so and why."""
    if status in (ACCEPTED, REVERSAL):
        return status
    return f"{REFUSED}:{reason}" if status == REFUSED else reason


def _signed_part(raw: bytes | None) -> tuple[bytes, bytes] | None:
    """What the wallet signed (protected header and payload): a high-s twin has the same."""
    if raw is None:
        return None
    try:
        obj = cbor2.loads(raw)
        sign1 = obj.value if isinstance(obj, cbor2.CBORTag) else obj
        return bytes(sign1[0]), bytes(sign1[2])
    except Exception:  # noqa: BLE001 - a stored token that does not parse is simply not the same
        return None


def _unhex(h: str | None) -> bytes | None:
    return bytes.fromhex(h) if h is not None else None


def _count(counters: Counter[tuple[str, str]], status: str, reason: str | None) -> None:
    if status == ACCEPTED:
        counters["ingested", ""] += 1
    elif status == REVERSAL:
        counters["reversals", ""] += 1
    elif status == DOUBLE_SPEND:
        counters["double_spend", ""] += 1
    elif status == REJECTED:
        counters["rejected", reason or "unknown"] += 1
    elif status == REFUSED:
        counters["refused", reason or "unknown"] += 1
    else:
        counters["ignored", reason or ""] += 1


def _double_spend(tid: str, row: p.BatchRow, first: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": DOUBLE_SPEND,
        "dedupe": f"{DOUBLE_SPEND}:{row.wallet_id.hex()}:{row.counter}:{tid}:{row.seq}",
        "terminal_id": tid,
        "wallet_id": row.wallet_id,
        "counter": ckey(row.counter),
        "deny": True,
        "detail": {
            "wallet_id": row.wallet_id.hex(),
            "counter": row.counter,
            "evidence": [first, _evidence_of(tid, row)],
        },
    }


def denied_since_of(tx: Tx, rows: list[p.BatchRow]) -> Callable[[], DeniedSince]:
    """When each wallet of these rows went onto a published deny list (its list's iat and seq):
    the statement is sent now (queued, in a pipeline), the function reads its answer."""
    wallets = sorted({r.wallet_id for r in rows})
    if not wallets:
        return dict
    where, params = tx.in_clause("d.wallet_id", wallets)
    cur = tx.execute(
        "SELECT d.wallet_id, l.iat, d.added_seq FROM denied d"
        " JOIN lists l ON l.typ = ? AND l.seq = d.added_seq"
        f" WHERE {where}",
        [TYP_DENY_LIST, *params],
    )
    return lambda: {bytes(w): (iat, seq) for w, iat, seq in cur.fetchall()}


def _reverse(tx: Tx, tid: str, row: p.BatchRow) -> bool:
    """Mark this terminal's accepted payment that a reversal row names; False if none."""
    cur = tx.execute(
        "UPDATE entries SET reversed_seq = ? WHERE terminal_id = ? AND kind = 'payment'"
        f" AND status = 'accepted' AND wallet_id = ? AND counter = ? AND {token_digest_sql(tx.pg)} = ?"
        " AND amount = ? AND reversed_seq IS NULL AND seq < ?",
        (row.seq, tid, row.wallet_id, ckey(row.counter), row.token_digest, row.amount, row.seq),
    )
    if cur.rowcount == 1:
        return True
    tx.execute(
        "UPDATE entries SET reason = 'reversal_unmatched' WHERE terminal_id = ? AND seq = ?",
        (tid, row.seq),
    )
    return False


_PAIR_COLS = "terminal_id, seq, time, amount, currency, mode, wallet_id, counter, token_digest, token"


def sqlite_pairs_query(n: int) -> str:
    """Accepted entries holding any of ``n`` (wallet id, counter) pairs, on SQLite.

    CROSS JOIN keeps the pairs as the outer loop, so each is one search of the partial unique
    index; SQLite plans ``(wallet_id, counter) IN (VALUES ...)`` as a scan of every accepted
    entry, a cost that grew with the collector's history on every batch.
    """
    cols = ", ".join(f"e.{c}" for c in _PAIR_COLS.split(", "))
    values = ",".join("(?, ?)" for _ in range(n))
    return (
        f"WITH v (w, c) AS (VALUES {values}) SELECT {cols} FROM v CROSS JOIN entries e"
        " ON e.wallet_id = v.w AND e.counter = v.c WHERE e.status = 'accepted'"
    )


def _existing(tx: Tx, pairs: list[tuple[bytes, int]]) -> dict[tuple[bytes, int], Any]:
    """SQLite: accepted entries already holding any of these (wallet id, counter) pairs.

    (PostgreSQL claims the pairs in the ``claims`` table instead: ``collector.claims``.)
    """
    found: list[Any] = []
    for i in range(0, len(pairs), 4000):
        part = pairs[i : i + 4000]
        flat = [x for w, c in part for x in (w, ckey(c))]
        found += tx.all(sqlite_pairs_query(len(part)), flat)
    return {(bytes(r[6]), cvalue(r[7])): claims.evidence(r) for r in found}


def _evidence_of(tid: str, row: p.BatchRow) -> dict[str, Any]:
    return {
        "terminal_id": tid, "seq": row.seq, "time": row.time, "amount": row.amount,
        "currency": row.currency, "mode": row.mode, "token_digest": row.token_digest.hex(),
        "token": _hex(row.token),
    }  # fmt: skip


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None

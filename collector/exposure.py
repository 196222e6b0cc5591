"""SPEC 3.3's cumulative offline limit, checked across the fleet at ingest.

A payment is un-acknowledged from its time until the collector stored it (less a margin for
clock skew). Where a wallet's un-acknowledged total at some instant passes its certificate's
offline limit with payments from two or more terminals, the wallet double-spent its offline
allowance: an event with the payments as evidence, and the deny list. Over the limit at one
terminal alone, the terminal broke SPEC 3.3: an event against the terminal, the wallet is not
denied for it.

The exact totals are read from ``entries`` only for the wallets that may have passed their limit
by the per-day sums of ``collector.wallet_days``, which are always added to first.
"""

from __future__ import annotations

from typing import Any

from collector import wallet_days
from collector.db import Tx, cvalue
from collector.schema import token_digest_sql
from pos.wire import protocol as p


def check_exposure(
    tx: Tx,
    fresh: list[p.BatchRow],
    limits: dict[int, int | None],
    now: int,
    margin: int,
    events: list[dict[str, Any]],
) -> None:
    """Append an event for each wallet of ``fresh`` whose un-acknowledged total passed its limit.

    ``limits``: the offline limit of each fresh row's certificate, by seq."""
    if not fresh:
        return
    first_time: dict[bytes, int] = {}
    for r in fresh:
        first_time[r.wallet_id] = min(first_time.get(r.wallet_id, r.time), r.time)
    cutoff = min(first_time.values()) + margin
    first = cutoff // wallet_days.DAY
    kept = now > cutoff and first >= now // wallet_days.DAY - wallet_days.KEEP_DAYS
    # on PostgreSQL the upsert itself answers which wallets its sums put over their limit
    added = wallet_days.add(tx, fresh, limits, now, first if kept else None)
    if now <= cutoff:
        return
    wallets = wallet_days.over_limit(tx, added.today, cutoff, now, added)
    if not wallets:
        return
    fresh_keys = {(r.wallet_id, r.counter) for r in fresh}
    for wid, (total, limit) in _bounds(tx, wallets, cutoff).items():
        if limit is None or total <= limit:
            continue
        entries = tx.all(
            "SELECT terminal_id, seq, time, amount, offline_limit, ingested_at, counter,"
            f" {token_digest_sql(tx.pg)}"
            " FROM entries WHERE status = 'accepted' AND wallet_id = ? AND ingested_at > ?",
            (wid, first_time[wid] + margin),
        )
        violation = _sweep(entries, margin)
        if violation is None:
            continue
        at, active = violation
        if not any((wid, cvalue(e[6])) in fresh_keys for e in active):
            continue
        events.append(_event(wid, at, active))


def _bounds(tx: Tx, wallets: list[bytes], cutoff: int) -> dict[bytes, tuple[int, int | None]]:
    """Each wallet's accepted amounts since ``cutoff`` and their smallest limit, added up here
    (SQLite's ``sum()`` fails past 2**63 - 1, which amounts a certificate allows can reach)."""
    where, params = tx.in_clause("wallet_id", wallets)
    out: dict[bytes, tuple[int, int | None]] = {}
    for wid, amount, limit in tx.all(
        "SELECT wallet_id, amount, offline_limit FROM entries"
        f" WHERE status = 'accepted' AND ingested_at > ? AND {where}",
        [cutoff, *params],
    ):
        total, least = out.get(bytes(wid), (0, None))
        out[bytes(wid)] = (total + amount, wallet_days.smaller_limit(least, limit))
    return out


def _event(wid: bytes, at: int, active: list[Any]) -> dict[str, Any]:
    terminals = sorted({e[0] for e in active})
    evidence = [
        {"terminal_id": e[0], "seq": e[1], "time": e[2], "amount": e[3], "counter": cvalue(e[6]),
         "token_digest": bytes(e[7]).hex()}
        for e in active
    ]  # fmt: skip
    cross = len(terminals) > 1
    kind = "offline_limit_exceeded" if cross else "terminal_offline_limit_breach"
    return {
        "kind": kind,
        "dedupe": f"{kind}:{wid.hex()}:" + ",".join(terminals),
        "terminal_id": terminals[0] if not cross else None,
        "wallet_id": wid,
        "deny": cross,
        "detail": {
            "wallet_id": wid.hex(),
            "at": at,
            "unacknowledged": sum(e[3] for e in active),
            "offline_limit": min(e[4] for e in active),
            "terminals": terminals,
            "evidence": evidence,
        },
    }


def _sweep(entries: list[Any], margin: int) -> tuple[int, list[Any]] | None:
    """The first instant a wallet's un-acknowledged total passes the limit, and who made it up."""
    points = []
    for e in entries:
        start, end = e[2], e[5] - margin
        if end > start:
            points.append((start, 1, e))
            points.append((end, 0, e))
    points.sort(key=lambda x: (x[0], x[1]))
    active: dict[tuple[str, int], Any] = {}
    for t, kind, e in points:
        if kind == 0:
            active.pop((e[0], e[1]), None)
            continue
        active[(e[0], e[1])] = e
        total = sum(a[3] for a in active.values())
        if total > min(a[4] for a in active.values() if a[4] is not None):
            return t, list(active.values())
    return None

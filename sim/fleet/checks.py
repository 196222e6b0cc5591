"""The end checks of a fleet run, read from the collector's database itself.

* every payment stored once: each terminal's entries are seqs 1..n with n its chain's length,
  the accepted payments are exactly the planned ones by count and by amount, and each planned
  double spend's second presentation is stored as ``double_spend``;
* every double spend flagged once: one ``double_spend`` event per planned (wallet id, counter),
  no other, and each of those wallets denied;
* every terminal's chain ok: the collector's head for it is the last row's seq and hash;
* every terminal answered with every row stored, and polled its way to the newest deny list.

Each failure is a sentence; no failures means the run passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.db import Database, cvalue
from sim.fleet.plan import TerminalDay


@dataclass
class Expected:
    heads: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    payments: int = 0
    amount: int = 0
    double_spends: set[tuple[bytes, int]] = field(default_factory=set)

    body_bytes: int = 0

    def add(self, day: TerminalDay) -> None:
        self.heads[day.tid] = (day.rows, day.head)
        self.amount += day.amount
        self.body_bytes += sum(len(b) for b in day.bodies)

    @property
    def rows(self) -> int:
        return sum(n for n, _h in self.heads.values())


def end_checks(db: Database, expected: Expected, prefix: str = "FLEET-") -> list[str]:
    fails: list[str] = []
    like = prefix + "%"
    with db.read() as tx:
        spans = {
            t: (n, lo, hi)
            for t, n, lo, hi in tx.all(
                "SELECT terminal_id, count(*), min(seq), max(seq) FROM entries WHERE terminal_id LIKE ?"
                " GROUP BY terminal_id",
                (like,),
            )
        }
        heads = {
            t: (s, bytes(h))
            for t, s, h in tx.all(
                "SELECT terminal_id, last_seq, last_hash FROM terminals WHERE terminal_id LIKE ?", (like,)
            )
        }
        by_status = dict(
            tx.all("SELECT status, count(*) FROM entries WHERE terminal_id LIKE ? GROUP BY status", (like,))
        )
        (accepted_amount,) = tx.one(
            "SELECT coalesce(sum(amount), 0) FROM entries WHERE status = 'accepted' AND terminal_id LIKE ?",
            (like,),
        )
        events = tx.all("SELECT wallet_id, counter FROM events WHERE kind = 'double_spend'")
        denied = {bytes(w) for (w,) in tx.all("SELECT wallet_id FROM denied")}
    _stored_once(fails, expected, spans, by_status, int(accepted_amount))
    flagged = [(bytes(w), cvalue(c)) for w, c in events]
    if len(flagged) != len(set(flagged)):
        fails.append(f"a double spend was flagged more than once ({len(flagged)} events)")
    missed, unplanned = expected.double_spends - set(flagged), set(flagged) - expected.double_spends
    if missed or unplanned:
        fails.append(
            f"{len(expected.double_spends)} double spends planned: {len(missed)} not flagged,"
            f" {len(unplanned)} flagged that were not planned"
        )
    missing = {w for w, _c in expected.double_spends} - denied
    if missing:
        fails.append(f"{len(missing)} double-spent wallets are not denied")
    bad = [t for t, head in expected.heads.items() if heads.get(t) != head]
    if bad:
        fails.append(
            f"{len(bad)} terminals' chains do not end where the collector's head does (first {bad[0]})"
        )
    return fails


def _stored_once(
    fails: list[str],
    expected: Expected,
    spans: dict[str, tuple[int, int, int]],
    by_status: dict[str, int],
    accepted_amount: int,
) -> None:
    wrong = [t for t, (n, _h) in expected.heads.items() if spans.get(t) != (n, 1, n)]
    if wrong:
        fails.append(f"{len(wrong)} terminals' rows are not stored once each as seqs 1..n (first {wrong[0]})")
    planned = expected.rows - len(expected.double_spends)
    if by_status.get("accepted", 0) != planned:
        fails.append(f"{by_status.get('accepted', 0)} payments accepted, {planned} made")
    if accepted_amount != expected.amount:
        fails.append(f"accepted payments sum to {accepted_amount}, the terminals took {expected.amount}")
    spent = by_status.get("double_spend", 0)
    if spent != len(expected.double_spends):
        fails.append(f"{spent} rows stored as double spends, {len(expected.double_spends)} planned")
    other = {s: n for s, n in by_status.items() if s not in ("accepted", "double_spend")}
    if other:
        fails.append(f"rows stored with other statuses: {other}")

"""The events page's read: double spends with both halves of their evidence, and terminal flags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from collector.db import Database, cvalue
from collector.judge import TERMINAL_FLAGS
from collector.payments import DOUBLE_SPEND

PAGE = 100


@dataclass
class Event:
    id: int
    kind: str
    terminal_id: str | None
    wallet_id: str | None
    counter: int | None
    detail: dict[str, Any]
    created_at: int
    denied: bool = False

    @property
    def evidence(self) -> list[dict[str, Any]]:
        ev = self.detail.get("evidence")
        return [e for e in ev if isinstance(e, dict)] if isinstance(ev, list) else []

    @property
    def is_flag(self) -> bool:
        return self.kind in TERMINAL_FLAGS


def events(
    db: Database, *, kind: str = "", before: int | None = None, limit: int = PAGE,
    terminal_id: str | None = None,
) -> tuple[list[Event], int | None]:  # fmt: skip
    """Newest first: double spends (``kind="double_spend"``), flags (``"flag"``) or both."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    with db.read() as tx:
        if kind == DOUBLE_SPEND:
            where.append("kind = ?")
            params.append(DOUBLE_SPEND)
        elif kind == "flag":
            clause, more = tx.in_clause("kind", sorted(TERMINAL_FLAGS))
            where.append(clause)
            params += more
        if terminal_id is not None:
            where.append("terminal_id = ?")
            params.append(terminal_id)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        raw = tx.all(
            "SELECT id, kind, terminal_id, wallet_id, counter, detail, created_at FROM events"
            f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            [*params, limit + 1],
        )
        wallets = list({bytes(r[3]) for r in raw if r[3] is not None})
        denied: set[bytes] = set()
        if wallets:
            clause, more = tx.in_clause("wallet_id", wallets)
            denied = {bytes(w) for (w,) in tx.all(f"SELECT wallet_id FROM denied WHERE {clause}", more)}
    out = []
    for eid, k, tid, wid, counter, detail, created in raw[:limit]:
        w = bytes(wid) if wid is not None else None
        out.append(
            Event(
                eid,
                k,
                tid,
                w.hex() if w is not None else None,
                cvalue(counter) if counter is not None else None,
                json.loads(detail),
                created,
                w in denied,
            )
        )
    return out, (out[-1].id if len(raw) > limit else None)

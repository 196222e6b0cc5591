"""The deny list page's read: the current seq, the entries with reason and source, the history."""

from __future__ import annotations

from dataclasses import dataclass

from collector.console.queries.fleet import current_deny_seq
from collector.db import Database
from pos.tokens import TYP_DENY_LIST

HISTORY = 50


@dataclass
class DenyEntry:
    wallet_id: str
    source: str  # "operator", or the event kind that put it there (e.g. "double_spend")
    reason: str  # the operator's reason, or the event's kind
    event_id: int | None
    created_at: int
    added_seq: int | None


@dataclass
class Published:
    seq: int
    iat: int
    published_at: int
    actions: list[tuple[str, str, str]]  # (action, wallet id, who)


@dataclass
class DenyPage:
    seq: int
    entries: list[DenyEntry]
    history: list[Published]


def deny_page(db: Database) -> DenyPage:
    with db.read() as tx:
        seq = current_deny_seq(tx)
        rows = tx.all(
            "SELECT wallet_id, reason, event_id, created_at, added_seq FROM denied"
            " ORDER BY created_at DESC, wallet_id"
        )
        said = {
            bytes(w): r
            for w, r in tx.all("SELECT wallet_id, reason FROM audit WHERE action = 'deny' ORDER BY id")
        }
        lists = tx.all(
            "SELECT seq, iat, published_at FROM lists WHERE typ = ? ORDER BY seq DESC LIMIT ?",
            (TYP_DENY_LIST, HISTORY),
        )
        low = lists[-1][0] if lists else 0
        acts = tx.all(
            "SELECT deny_list_seq, action, wallet_id, who FROM audit WHERE deny_list_seq >= ? ORDER BY id",
            (low,),
        )
    by_seq: dict[int, list[tuple[str, str, str]]] = {}
    for s, action, wid, who in acts:
        by_seq.setdefault(s, []).append((action, bytes(wid).hex() if wid is not None else "", who))
    entries = [
        DenyEntry(
            bytes(w).hex(),
            "operator" if why == "operator" else why,
            said.get(bytes(w), "") if why == "operator" else why,
            eid,
            created,
            added,
        )
        for w, why, eid, created, added in rows
    ]
    history = [Published(s, iat, pub, by_seq.get(s, [])) for s, iat, pub in lists]
    return DenyPage(seq, entries, history)

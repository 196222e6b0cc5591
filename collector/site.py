"""Sites at the collector (issue 14): which enrolled terminals form a site, and the signed
membership list each of them fetches with its other lists (``GET /v1/lists/site/{terminal id}``).

``pos collector site add SITE TID...`` assigns enrolled terminals (one site per terminal; adding
one to another site moves it) and publishes the site's list again with the next seq, signed by
the list signer (the scheme root, ``collector.lists.ListSigner``): the keys are the ones the
terminals enrolled with, the collector's own record, never a terminal's word.
"""

from __future__ import annotations

import time
from typing import Any

from collector.db import Database, Tx
from pos.site import valid_name
from pos.site_list import payload

SCHEMA = """
CREATE TABLE IF NOT EXISTS site_members (
    terminal_id TEXT PRIMARY KEY,
    site TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS site_lists (
    site TEXT PRIMARY KEY,
    seq {INT} NOT NULL,
    raw {BLOB} NOT NULL
)
"""
_TYPES = {"sqlite": {"INT": "INTEGER", "BLOB": "BLOB"}, "postgres": {"INT": "BIGINT", "BLOB": "BYTEA"}}


class SiteError(Exception):
    """An operator's request that cannot be done (an unknown terminal, a bad site id)."""


def ensure_schema(tx: Tx) -> None:
    for stmt in SCHEMA.format(**_TYPES[tx.dialect]).split(";"):
        if stmt.strip():
            tx.execute(stmt)


def add(db: Database, sign: Any, site: str, terminal_ids: list[str], now: int | None = None) -> int:
    """Put enrolled terminals into ``site``; republish every site that changed. Returns the seq."""
    if not valid_name(site):
        raise SiteError(f"site id {site!r}: 1-64 of A-Z a-z 0-9 . _ -")
    now = int(time.time()) if now is None else now
    with db.write() as tx:
        ensure_schema(tx)
        touched = {site}
        for tid in terminal_ids:
            if tx.one("SELECT 1 FROM terminals WHERE terminal_id = ?", (tid,)) is None:
                raise SiteError(f"terminal {tid!r} is not enrolled")
            old = tx.one("SELECT site FROM site_members WHERE terminal_id = ?", (tid,))
            if old is not None:
                touched.add(old[0])
                tx.execute("UPDATE site_members SET site = ? WHERE terminal_id = ?", (site, tid))
            else:
                tx.execute("INSERT INTO site_members (terminal_id, site) VALUES (?, ?)", (tid, site))
        seqs = {s: _publish(tx, sign, s, now) for s in sorted(touched)}
    return seqs[site]


def _publish(tx: Tx, sign: Any, site: str, now: int) -> int:
    rows = tx.all(
        "SELECT m.terminal_id, t.public_key FROM site_members m JOIN terminals t"
        " ON t.terminal_id = m.terminal_id WHERE m.site = ?",
        (site,),
    )
    prev = tx.one("SELECT seq FROM site_lists WHERE site = ?", (site,))
    seq = (int(prev[0]) if prev else 0) + 1
    raw = sign(payload(site, seq, now, {tid: bytes(key) for tid, key in rows}))
    if prev is None:
        tx.execute("INSERT INTO site_lists (site, seq, raw) VALUES (?, ?, ?)", (site, seq, raw))
    else:
        tx.execute("UPDATE site_lists SET seq = ?, raw = ? WHERE site = ?", (seq, raw, site))
    return seq


def list_for(db: Database, terminal_id: str) -> tuple[int, bytes] | None:
    """(seq, signed list) of the site ``terminal_id`` belongs to, or None."""
    with db.write() as tx:  # the tables may not exist yet on a collector that never had a site
        ensure_schema(tx)
        row = tx.one(
            "SELECT l.seq, l.raw FROM site_members m JOIN site_lists l ON l.site = m.site"
            " WHERE m.terminal_id = ?",
            (terminal_id,),
        )
    return (int(row[0]), bytes(row[1])) if row else None

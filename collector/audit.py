"""The operator's audit trail: who denied or reinstated which wallet, when and why.

Append-only by construction: this module only inserts and reads (table ``audit``). Each record
is written in the same transaction as the action and the deny list it published, so there is
no action without its record and no record of an action that did not happen.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterator
from typing import IO, Any

from collector.db import Database, Tx

DENY, REINSTATE = "deny", "reinstate"


def record(
    tx: Tx,
    *,
    at: int,
    who: str,
    action: str,
    wallet_id: bytes | None,
    reason: str,
    seq: int | None,
    address: str | None = None,
) -> None:
    """``address``: the client address of a console action (None for the command line)."""
    tx.execute(
        "INSERT INTO audit (at, who, action, wallet_id, reason, deny_list_seq, address)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, who, action, wallet_id, reason, seq, address),
    )


def default_operator() -> str:
    """``user@host`` of the shell running the command: who, when nobody says otherwise."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def entries(db: Database) -> Iterator[dict[str, Any]]:
    with db.read() as tx:
        rows = tx.all(
            "SELECT id, at, who, action, wallet_id, reason, deny_list_seq, address FROM audit ORDER BY id"
        )
    for i, at, who, action, wid, reason, seq, address in rows:
        yield {
            "id": i, "at": at, "who": who, "action": action, "reason": reason, "deny_list_seq": seq,
            "wallet_id": bytes(wid).hex() if wid is not None else None, "address": address,
        }  # fmt: skip


def write(db: Database, out: IO[str], *, as_json: bool) -> int:
    n = 0
    for doc in entries(db):
        n += 1
        if as_json:
            out.write(json.dumps(doc, sort_keys=True) + "\n")
        else:
            out.write(
                f"{doc['id']:>5}  {doc['at']}  {doc['who']}  {doc['action']:<9}  {doc['wallet_id']}"
                f"  list seq {doc['deny_list_seq']}  {doc['reason']}"
                + (f"  from {doc['address']}" if doc["address"] else "")
                + "\n"
            )
    return n

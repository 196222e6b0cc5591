"""Revoked terminals: an operator takes a terminal's key out of service (the console's revoke).

A revoked terminal's batches are refused (403 ``terminal_revoked``) and it cannot enroll again
under its id; what it uploaded before stays as evidence. The revocation and its audit record
(``collector.audit``) are one transaction. Every ingest reads the table (one primary-key
lookup), so a revocation made on one serving process or node holds on all of them at once.
"""

from __future__ import annotations

import time

from collector import audit
from collector.db import Database, Tx
from collector.operator_actions import MAX_REASON, OperatorError

REVOKE_TERMINAL = "revoke_terminal"  # its action in the audit trail


def is_revoked(tx: Tx, tid: str) -> bool:
    return tx.one("SELECT 1 FROM revoked_terminals WHERE terminal_id = ?", (tid,)) is not None


def revoke(
    db: Database, tid: str, reason: str, who: str, now: int | None = None, address: str | None = None
) -> None:
    """Revoke terminal ``tid``; refuse an unknown or already revoked one, or no reason."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise OperatorError(f"a reason is required (1-{MAX_REASON} characters): the audit trail says why")
    now = int(time.time()) if now is None else now
    with db.write() as tx:
        if tx.one("SELECT 1 FROM terminals WHERE terminal_id = ?", (tid,)) is None:
            raise OperatorError(f"terminal {tid!r} is not enrolled")
        if is_revoked(tx, tid):
            raise OperatorError(f"terminal {tid!r} is already revoked")
        tx.execute(
            "INSERT INTO revoked_terminals (terminal_id, at, who, reason) VALUES (?, ?, ?, ?)",
            (tid, now, who, reason),
        )
        audit.record(
            tx, at=now, who=who, action=REVOKE_TERMINAL, wallet_id=None,
            reason=f"terminal {tid}: {reason}", seq=None, address=address,
        )  # fmt: skip

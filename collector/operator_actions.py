"""Operator actions on the deny list: deny a wallet, or undo a false positive.

Each action, the signed deny list it publishes and its audit record (``collector.audit``) are
one transaction. Denying needs the list signer (the scheme root, ``--scheme``): an action that
cannot be published is refused rather than left waiting, so the operator knows where it stands.
A reinstated wallet leaves the next list; terminals get that list whole (a delta carries only
additions, ``collector.lists.deny_delta``). Evidence (events, entries) is never touched.
"""

from __future__ import annotations

import time

from collector import audit
from collector.lists import Lists
from pos.errors import PosError

WALLET_ID_LEN = 8
MAX_REASON = 500


class OperatorError(PosError):
    """An operator action that cannot be done; the message says why."""


def parse_wallet_id(text: str) -> bytes:
    try:
        wid = bytes.fromhex(text)
    except ValueError:
        wid = b""
    if len(wid) != WALLET_ID_LEN:
        raise OperatorError(f"wallet id {text!r}: give the 8 bytes as 16 hex digits")
    return wid


def _check(lists: Lists, reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise OperatorError(f"--reason is required (1-{MAX_REASON} characters): the audit trail says why")
    if lists.signer is None:
        raise OperatorError("publishing a deny list needs the scheme root key (--scheme DIR)")
    return reason


def deny(lists: Lists, wallet_id: bytes, reason: str, who: str, now: int | None = None) -> int:
    """Put ``wallet_id`` on the deny list and publish it; return the new list's seq."""
    reason = _check(lists, reason)
    now = int(time.time()) if now is None else now
    with lists.db.write() as tx:
        if tx.one("SELECT 1 FROM denied WHERE wallet_id = ?", (wallet_id,)) is not None:
            raise OperatorError(f"wallet {wallet_id.hex()} is already denied")
        tx.execute(
            "INSERT INTO denied (wallet_id, reason, created_at) VALUES (?, ?, ?)",
            (wallet_id, "operator", now),
        )
        seq = lists.publish_deny_in(tx, force=True, now=now)
        audit.record(tx, at=now, who=who, action=audit.DENY, wallet_id=wallet_id, reason=reason, seq=seq)
    return _published(seq)


def reinstate(lists: Lists, wallet_id: bytes, reason: str, who: str, now: int | None = None) -> int:
    """Take ``wallet_id`` off the deny list and publish the list without it; return its seq."""
    reason = _check(lists, reason)
    now = int(time.time()) if now is None else now
    with lists.db.write() as tx:
        cur = tx.execute("DELETE FROM denied WHERE wallet_id = ?", (wallet_id,))
        if cur.rowcount != 1:
            raise OperatorError(f"wallet {wallet_id.hex()} is not on the deny list")
        seq = lists.publish_deny_in(tx, force=True, now=now)
        audit.record(tx, at=now, who=who, action=audit.REINSTATE, wallet_id=wallet_id, reason=reason, seq=seq)
    return _published(seq)


def _published(seq: int | None) -> int:
    if seq is None:  # _check saw a signer, and force always publishes
        raise OperatorError("no deny list was published")
    return seq

"""A bounded deny list: a wallet id leaves it once its certificate has expired plus the skew.

SPEC 1: an issuer certifies a wallet id once, so once its certificate has expired (plus the
clock skew a terminal may lag by) the wallet id can no longer pay anywhere and listing it only
makes every terminal's list longer. The collector applies this when it publishes
(``collector.lists.Lists.publish_deny_in``), judged at the new list's ``iat``, which never goes
back, so a wallet id once dropped stays off every later list.

Where the expiry comes from: the certificate inside a token this collector **verified**, i.e.
an entry stored ``accepted`` (every double-spent wallet has one: the first spend). A terminal's
word is never used: a row whose token does not verify (a forged certificate claiming an early
``exp``) is stored ``rejected`` and never read here, and only an issuer can sign a certificate.
A wallet denied without a verified token of its own (an operator's entry before any of its
payments arrived, a list imported from elsewhere) has no known expiry and **stays listed**: the
safe reading, since dropping an id whose certificate may still be valid would let a denied
wallet pay again, while keeping one costs 9 bytes per list. An operator entry is looked at again
at each publication (its payments may arrive later); an imported one is not (there may be a
million, and the scheme that signed that list keeps it bounded).

Table ``deny_expiry``: ``cert_exp`` (NULL: unknown) and ``dropped_seq``, the first list
published without the id; deny deltas read it to tell terminals what to remove.
"""

from __future__ import annotations

import logging

from collector.db import Tx
from collector.schema import INT64_MAX
from pos.errors import PosError
from pos.tokens import parse_token

log = logging.getLogger("collector.lists")

_TOKENS_PER_WALLET = 4  # one certificate per wallet id; a few rows are plenty


def cert_exp(tx: Tx, wallet_id: bytes) -> int | None:
    """The certificate expiry of ``wallet_id`` from tokens this collector verified, else None;
    at most 2**63 - 1 (the databases' integers), the same "never" as SPEC's 2**64 - 1."""
    rows = tx.all(
        "SELECT token FROM entries WHERE wallet_id = ? AND status = 'accepted' AND token IS NOT NULL LIMIT ?",
        (wallet_id, _TOKENS_PER_WALLET),
    )
    exps = []
    for (raw,) in rows:
        try:
            tok = parse_token(bytes(raw))
        except (PosError, ValueError):  # stored by an older collector that kept anything: not evidence
            continue
        if tok.cert.wallet_id == wallet_id:
            exps.append(min(tok.cert.exp, INT64_MAX))
    return max(exps) if exps else None


def learn(tx: Tx) -> int:
    """Record the expiry of denied wallets not looked at yet (and operator entries still unknown)."""
    todo = tx.all(
        "SELECT d.wallet_id, x.wallet_id FROM denied d LEFT JOIN deny_expiry x ON x.wallet_id = d.wallet_id"
        " WHERE x.wallet_id IS NULL OR (x.cert_exp IS NULL AND d.reason <> 'imported')"
    )
    learnt = 0
    for wid, known in todo:
        wid = bytes(wid)
        exp = cert_exp(tx, wid) if len(wid) == 8 else None
        if known is None:
            tx.execute("INSERT INTO deny_expiry (wallet_id, cert_exp) VALUES (?, ?)", (wid, exp))
        elif exp is not None:
            tx.execute("UPDATE deny_expiry SET cert_exp = ? WHERE wallet_id = ?", (exp, wid))
        learnt += exp is not None
    return learnt


def listed(tx: Tx, at: int, skew: int) -> tuple[list[bytes], list[bytes]]:
    """The denied ids a list issued at ``at`` holds, and those it drops for the first time."""
    keep: list[bytes] = []
    drop: list[bytes] = []
    for wid, exp, dropped in tx.all(
        "SELECT d.wallet_id, x.cert_exp, x.dropped_seq FROM denied d"
        " LEFT JOIN deny_expiry x ON x.wallet_id = d.wallet_id ORDER BY d.wallet_id"
    ):
        wid = bytes(wid)
        if len(wid) != 8:
            continue
        if exp is not None and at > exp + skew:
            if dropped is None:
                drop.append(wid)
        else:
            keep.append(wid)
    return keep, drop


def mark_dropped(tx: Tx, ids: list[bytes], seq: int) -> None:
    tx.executemany("UPDATE deny_expiry SET dropped_seq = ? WHERE wallet_id = ?", [(seq, w) for w in ids])
    if ids:
        log.warning("deny list seq %d drops %d wallet ids whose certificates expired", seq, len(ids))


def removed_since(tx: Tx, base: int, seq: int) -> list[bytes]:
    """Ids on list ``base`` that lists up to ``seq`` dropped (a delta's removals)."""
    return [
        bytes(w)
        for (w,) in tx.all(
            "SELECT x.wallet_id FROM deny_expiry x JOIN denied d ON d.wallet_id = x.wallet_id"
            " WHERE x.dropped_seq > ? AND x.dropped_seq <= ? AND d.added_seq <= ?",
            (base, seq, base),
        )
    ]


def dropped_by(tx: Tx, seq: int, ids: list[bytes]) -> set[bytes]:
    """Those of ``ids`` no list up to ``seq`` holds any more."""
    if not ids:
        return set()
    where, params = tx.in_clause("wallet_id", ids)
    return {
        bytes(w)
        for (w,) in tx.all(
            f"SELECT wallet_id FROM deny_expiry WHERE dropped_seq <= ? AND {where}",
            [seq, *params],
        )
    }

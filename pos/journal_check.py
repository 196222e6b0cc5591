"""``pos journal verify``: prove the journal's chain, heads and head file hold.

Reports the first bad seq: a row whose fields no longer hash to its stored hash (edited), a
missing seq (deleted), a row whose prev_hash is not its predecessor's hash (reordered or
spliced), a stored token that does not decrypt to its digest, a head whose signature or hash
fails, or a tail cut below the head kept outside the database.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from pos import chain, sigs
from pos.errors import JournalIntegrityError
from pos.journal import HEAD_FILE, Journal
from pos.schema import COUNTER_BYTES, STATE_ACKED, counter_value

_ROW_COLUMNS = (
    "seq, time, kind, wallet_id, counter, amount, currency, mode, terminal_id, token_digest,"
    " token_ct, prev_hash, hash, state"
)
# What each column must hold; anything else is tampering (or a journal from before a migration).
_TYPES: tuple[type | tuple[type, ...], ...] = (
    int,
    int,
    str,
    bytes,
    bytes,
    int,
    str,
    str,
    str,
    bytes,
    (bytes, type(None)),
    bytes,
    bytes,
    int,
)
_NAMES = _ROW_COLUMNS.replace(" ", "").split(",")


def verify_journal(journal: Journal) -> int:
    """Return the number of rows checked; raise ``JournalIntegrityError`` at the first bad seq."""
    db = journal.db
    key = journal.identity.public_key
    hashes: dict[int, bytes] = {}
    expected_seq, prev = 1, chain.GENESIS
    heads = {s: (h, sig) for s, h, sig in db.execute("SELECT seq, hash, sig FROM heads")}
    signed_any = bool(heads)
    for rec in db.execute(f"SELECT {_ROW_COLUMNS} FROM payments ORDER BY seq"):
        seq = rec[0]
        if type(seq) is not int or seq != expected_seq:
            raise JournalIntegrityError(expected_seq, "row missing (deleted or reordered)")
        _check_types(seq, rec)
        seq, time, kind, wallet_id, counter, amount, currency, mode, tid, digest = rec[:10]
        token_ct, prev_hash, stored, state = rec[10:]
        row = chain.Row(
            seq, time, kind, wallet_id, counter_value(counter), amount, currency, mode, tid, digest, prev_hash
        )
        if row.hash() != stored:
            raise JournalIntegrityError(seq, "row fields do not match its hash (edited)")
        if prev_hash != prev:
            raise JournalIntegrityError(seq, "prev_hash is not the previous row's hash")
        if token_ct is None:
            # Only prune drops a token, and only once the collector acknowledged the payment.
            if kind == "payment" and state != STATE_ACKED:
                raise JournalIntegrityError(seq, "stored token of a pending payment is missing")
        elif chain.token_digest(journal.sealer.open(seq, token_ct)) != row.token_digest:
            raise JournalIntegrityError(seq, "stored token does not match its digest")
        if seq in heads:
            _check_head(key, seq, stored, *heads.pop(seq))
        hashes[seq] = stored
        prev, expected_seq = stored, seq + 1
    last = expected_seq - 1
    for seq in sorted(heads):
        raise JournalIntegrityError(min(seq, last + 1), f"signed head at seq {seq} has no row (tail cut)")
    _check_head_file(journal.dir / HEAD_FILE, key, hashes, last, signed_any)
    return last


def _check_types(seq: int, rec: tuple[object, ...]) -> None:
    for name, want, value in zip(_NAMES, _TYPES, rec, strict=True):
        if not isinstance(value, want) or isinstance(value, bool):
            raise JournalIntegrityError(seq, f"column {name} holds a {type(value).__name__} (edited)")
    if len(rec[4]) != COUNTER_BYTES:  # type: ignore[arg-type]
        raise JournalIntegrityError(seq, "counter is not stored in its 8-byte form (edited)")


def _check_head(
    key: ed25519.Ed25519PublicKey, seq: int, row_hash: bytes, head_hash: bytes, sig: bytes
) -> None:
    if head_hash != row_hash:
        raise JournalIntegrityError(seq, "row hash differs from its signed head")
    if not sigs.verify(key, sig, chain.head_message(seq, head_hash)):
        raise JournalIntegrityError(seq, "head signature does not verify")


def _check_head_file(
    path: Path, key: ed25519.Ed25519PublicKey, hashes: dict[int, bytes], last: int, signed_any: bool
) -> None:
    try:
        doc = json.loads(path.read_text())
        seq, head_hash, sig = int(doc["seq"]), bytes.fromhex(doc["hash"]), bytes.fromhex(doc["sig"])
    except FileNotFoundError:
        # The journal writes a seq-0 head file when it is created, so it is never legitimately
        # absent once rows exist.
        if last or signed_any:
            raise JournalIntegrityError(1, f"{HEAD_FILE} is missing") from None
        return
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalIntegrityError(last, f"{HEAD_FILE} unreadable: {exc}") from None
    if not sigs.verify(key, sig, chain.head_message(seq, head_hash)):
        raise JournalIntegrityError(seq, f"{HEAD_FILE} signature does not verify")
    if seq > last:
        raise JournalIntegrityError(last + 1, f"tail cut: {HEAD_FILE} was signed at seq {seq}")
    if seq == 0 and head_hash == chain.GENESIS:
        return
    if hashes.get(seq) != head_hash:
        raise JournalIntegrityError(seq, f"row hash differs from {HEAD_FILE}")

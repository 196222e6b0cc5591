"""The journal's hash chain and signed heads: what makes the local queue tamper-evident.

Each row's hash is SHA-256 over a canonical CBOR encoding of its fields and the previous row's
hash; a head is an Ed25519 signature by the terminal identity over (seq, hash). The collector
(sync issue) recomputes the same hashes from uploaded rows, so this encoding is a contract.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cbor2

GENESIS = bytes(32)
ROW_DOMAIN = "OWT1-JOURNAL-ROW-v1"
HEAD_DOMAIN = "OWT1-JOURNAL-HEAD-v1"


@dataclass(frozen=True, slots=True)
class RowFields:
    """The ten fields a journal row and an uploaded batch row share, in chain-hash order."""

    seq: int
    time: int
    kind: str
    wallet_id: bytes
    counter: int
    amount: int
    currency: str
    mode: str
    terminal_id: str
    token_digest: bytes

    def chain_hash(self, prev_hash: bytes) -> bytes:
        """The hash of these fields chained to ``prev_hash`` (``Row(..., prev_hash).hash()``,
        without building the row: the collector checks every uploaded row this way)."""
        body = cbor2.dumps(
            [
                ROW_DOMAIN,
                self.seq,
                self.time,
                self.kind,
                self.wallet_id,
                self.counter,
                self.amount,
                self.currency,
                self.mode,
                self.terminal_id,
                self.token_digest,
                prev_hash,
            ],
            canonical=True,
        )
        return hashlib.sha256(body).digest()


@dataclass(frozen=True, slots=True)
class Row(RowFields):
    prev_hash: bytes

    def hash(self) -> bytes:
        return self.chain_hash(self.prev_hash)


def head_message(seq: int, row_hash: bytes) -> bytes:
    return cbor2.dumps([HEAD_DOMAIN, seq, row_hash], canonical=True)


def token_digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()

"""Encryption of stored tokens: AES-256-GCM, key in its own 0600 file, seq as associated data.

The raw token is evidence for the collector but also a bearer credential until it expires, so it
never sits on disk in clear. Binding the journal seq as associated data stops a ciphertext being
moved to another row unnoticed.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pos.errors import JournalIntegrityError
from pos.fsutil import read_or_create_secret

KEY_FILE = "journal.key"
_NONCE = 12


class Sealer:
    def __init__(self, data_dir: Path) -> None:
        key = read_or_create_secret(Path(data_dir) / KEY_FILE, lambda: AESGCM.generate_key(256))
        if len(key) != 32:
            raise JournalIntegrityError(0, f"{KEY_FILE} does not hold a 256-bit key")
        self._aead = AESGCM(key)

    def seal(self, seq: int, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, seq.to_bytes(8, "big"))

    def open(self, seq: int, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], seq.to_bytes(8, "big"))
        except (InvalidTag, ValueError):
            raise JournalIntegrityError(seq, "stored token does not decrypt") from None

"""The terminal's identity: an Ed25519 key made on first run (0600) and the terminal id.

It signs journal heads now, upload batches and receipts later. The private key never leaves
this module's file and is never logged.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos import sigs
from pos.fsutil import read_or_create_secret

KEY_FILE = "identity.key"


def _new_key_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Identity:
    def __init__(self, data_dir: Path) -> None:
        pem = read_or_create_secret(Path(data_dir) / KEY_FILE, _new_key_pem)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{KEY_FILE} is not an Ed25519 private key")
        self._key = key
        self.public_key = key.public_key()
        self.public_raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.fingerprint = sigs.key_fingerprint(self.public_key)

    def default_terminal_id(self) -> str:
        return "T-" + self.fingerprint[:12].upper()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

"""The terminal's identity: an Ed25519 key made on first run (0600) and the terminal id.

It signs journal heads, upload batches and receipts. The private key never leaves this
module's file and is never logged.

The terminal id has one rule (``valid_terminal_id``), used at enrollment, in the config, in
receipts and at the collector's ingest: 1-64 ASCII letters, digits, ``.``, ``_`` and ``-``,
matched whole. Anything wider lets ``SHOP\u200b-A`` or ``"SHOP-A\n"`` enrol and then pass for
``SHOP-A`` on a screen, a receipt or a settlement line (issue 11).

Enrollment fixes the id (``fix_terminal_id``, a file in the data dir): from then on every row
the journal writes carries it, whatever a config says, so the terminal and the collector never
know one terminal under two names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos import sigs
from pos.errors import ConfigError
from pos.fsutil import atomic_write, read_or_create_secret

KEY_FILE = "identity.key"
TERMINAL_ID_FILE = "terminal_id"
# Data dirs enrolled before the id was fixed here hold it only in the enrollment record.
_LEGACY_ENROLLMENT = Path("sync") / "enrollment.json"
_TERMINAL_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TERMINAL_ID_RULE = "1-64 ASCII letters, digits, '.', '_' or '-'"


def valid_terminal_id(value: object) -> bool:
    """The one terminal id rule: ``fullmatch``, so a trailing newline does not slip through."""
    return type(value) is str and _TERMINAL_ID.fullmatch(value) is not None


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
        self._dir = Path(data_dir)
        self._fixed: str | None = None

    def default_terminal_id(self) -> str:
        """The enrolled id; before enrollment, one made from the key."""
        return self.fixed_terminal_id or "T-" + self.fingerprint[:12].upper()

    @property
    def fixed_terminal_id(self) -> str | None:
        """The id enrollment fixed for this data dir, or None before enrollment."""
        if self._fixed is None:
            self._fixed = self._read_fixed()
        return self._fixed

    def _read_fixed(self) -> str | None:
        try:
            tid: object = (self._dir / TERMINAL_ID_FILE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            try:
                doc = json.loads((self._dir / _LEGACY_ENROLLMENT).read_text())
            except (OSError, ValueError):
                return None
            if not isinstance(doc, dict) or doc.get("key") != self.public_raw.hex():
                return None
            tid = doc.get("terminal_id")
        except (OSError, UnicodeDecodeError):
            return None
        return tid if valid_terminal_id(tid) else None  # type: ignore[return-value]

    def fix_terminal_id(self, terminal_id: str) -> None:
        """Record the enrolled id (durably); another id than the one fixed is refused."""
        if not valid_terminal_id(terminal_id):
            raise ValueError(f"terminal id {terminal_id!r}: {TERMINAL_ID_RULE}")
        current = self.fixed_terminal_id
        if current is not None and current != terminal_id:
            raise ValueError(f"this data dir is enrolled as {current!r}, not {terminal_id!r}")
        atomic_write(self._dir / TERMINAL_ID_FILE, terminal_id.encode() + b"\n", mode=0o644)
        self._fixed = terminal_id

    def resolve_terminal_id(self, configured: str | None) -> str:
        """The id to journal under: the enrolled one, which a config may repeat but not change."""
        fixed = self.fixed_terminal_id
        if fixed is not None and configured is not None and configured != fixed:
            raise ConfigError(f"terminal.id {configured!r} differs from the enrolled id {fixed!r}")
        return fixed or configured or self.default_terminal_id()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

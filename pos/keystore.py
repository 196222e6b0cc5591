"""The cached trust and deny lists in a data dir, and the root key pin (SPEC 3.1).

Installing is an operator action: a list that fails its signature, goes back in seq, or has the
cached seq with other bytes is refused with ``ListError`` and the cached list stays in force.
Files are replaced atomically (write, fsync, rename, fsync the directory) so a crash mid-install
leaves either the old list or the new one, never half of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pos import sigs
from pos.errors import ListError
from pos.fsutil import atomic_write
from pos.trust import DenyList, SignedList, TrustList, parse_deny_list, parse_trust_list

TRUST_FILE = "trust_list.cose"
DENY_FILE = "deny_list.cose"
ROOT_PIN_FILE = "root.pem"


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """What the verifier needs, fixed for one decision."""

    trust: TrustList | None
    deny: DenyList | None


class KeyStore:
    def __init__(self, data_dir: Path, root: sigs.PublicKey) -> None:
        self.dir = Path(data_dir) / "lists"
        self.root = root
        self._trust: TrustList | None = None
        self._deny: DenyList | None = None
        self._loaded = False

    def _pin_root(self) -> None:
        """The first root key a data dir sees is pinned; another one later is an operator error."""
        pin = self.dir / ROOT_PIN_FILE
        pem = sigs.public_pem(self.root)
        if pin.exists():
            pinned = sigs.load_pem_public_key(pin.read_bytes())
            if sigs.key_fingerprint(pinned) != sigs.key_fingerprint(self.root):
                raise ListError(
                    f"root key {sigs.key_fingerprint(self.root)[:16]} differs from the key pinned in "
                    f"{pin} ({sigs.key_fingerprint(pinned)[:16]}); re-provision the terminal to "
                    "change scheme roots"
                )
        else:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(pin, pem, mode=0o644)

    @classmethod
    def pinned(cls, data_dir: Path) -> KeyStore:
        """The key store of a provisioned data dir, using the root key pinned in it."""
        pin = Path(data_dir) / "lists" / ROOT_PIN_FILE
        try:
            pem = pin.read_bytes()
        except FileNotFoundError:
            raise ListError(f"{data_dir} has no pinned root key: install a trust list first") from None
        return cls(data_dir, sigs.load_pem_public_key(pem))

    def load(self) -> KeySnapshot:
        if not self._loaded:
            self._pin_root()
            self._trust = self._read(TRUST_FILE, parse_trust_list)  # type: ignore[assignment]
            self._deny = self._read(DENY_FILE, parse_deny_list)  # type: ignore[assignment]
            self._loaded = True
        return KeySnapshot(self._trust, self._deny)

    def _read(self, name: str, parse: object) -> SignedList | None:
        path = self.dir / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return parse(raw, self.root)  # type: ignore[operator, no-any-return]
        except ListError as exc:
            raise ListError(f"cached {path} no longer verifies: {exc}") from None

    def install_trust_list(self, raw: bytes) -> tuple[TrustList, bool]:
        new = parse_trust_list(raw, self.root)
        return new, self._install(TRUST_FILE, new, raw, self.load().trust)

    def install_deny_list(self, raw: bytes) -> tuple[DenyList, bool]:
        new = parse_deny_list(raw, self.root)
        return new, self._install(DENY_FILE, new, raw, self.load().deny)

    def _install(self, name: str, new: SignedList, raw: bytes, cached: SignedList | None) -> bool:
        """Return True when the list changed; raise ``ListError`` for a refused list."""
        what = "trust list" if name == TRUST_FILE else "deny list"
        if cached is not None:
            if new.seq < cached.seq:
                raise ListError(f"{what} seq {new.seq} is lower than cached seq {cached.seq}")
            if new.seq == cached.seq:
                if new.digest != cached.digest:
                    raise ListError(f"{what} seq {new.seq} equals the cached seq with other bytes")
                return False
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / name, raw)
        if name == TRUST_FILE:
            self._trust = new  # type: ignore[assignment]
        else:
            self._deny = new  # type: ignore[assignment]
        return True

"""The operator: a PIN stored as a scrypt hash, and an audit log of every operator action.

The PIN file (``operator_pin.json`` in the data dir, 0600) holds the scrypt parameters, a random
salt and the derived key, never the PIN. Checking compares in constant time. Five wrong PINs in a
row lock operator actions for five minutes (a PIN has few digits: the lock is what stops guessing).

The audit log (``operator_audit.jsonl``) is append-only JSON lines, one per action, written and
fsynced before the action's result is shown: who cannot be known at a shared till, so each line
says what, when, on which terminal, and whether it worked. PINs and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pos.errors import PosError
from pos.fsutil import atomic_write

PIN_FILE = "operator_pin.json"
AUDIT_FILE = "operator_audit.jsonl"
# scrypt cost: n=2**14, r=8 is 16 MiB and tens of ms here: cheap for one check, slow for guessing
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN = 1 << 14, 8, 1, 32
MIN_PIN, MAX_PIN = 4, 12
MAX_FAILURES = 5
LOCK_S = 300


class PinError(PosError):
    """A PIN that cannot be set (too short, not digits) or no PIN set at all."""


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=KEY_LEN)


def check_pin_format(pin: str) -> str:
    if not (pin.isascii() and pin.isdigit() and MIN_PIN <= len(pin) <= MAX_PIN):
        raise PinError(f"a PIN is {MIN_PIN} to {MAX_PIN} digits")
    return pin


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    locked_for: int = 0  # seconds left in a lock (ok is False)
    failures: int = 0


class OperatorPin:
    def __init__(self, data_dir: Path, clock: Callable[[], int]) -> None:
        self.path = Path(data_dir) / PIN_FILE
        self.clock = clock
        self._failures = 0
        self._locked_until = 0
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self.path.exists()

    def set_pin(self, pin: str) -> None:
        check_pin_format(pin)
        salt = os.urandom(16)
        doc = {
            "alg": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": salt.hex(),
            "key": _derive(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).hex(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(doc).encode(), mode=0o600)

    def check(self, pin: str) -> CheckResult:
        """Blocking (scrypt): call it from a worker thread, never from the UI loop."""
        with self._lock:
            now = self.clock()
            if now < self._locked_until:
                return CheckResult(False, self._locked_until - now, self._failures)
            ok = self._matches(pin)
            if ok:
                self._failures = 0
                return CheckResult(True)
            self._failures += 1
            if self._failures >= MAX_FAILURES:
                self._locked_until = now + LOCK_S
                self._failures = 0
                return CheckResult(False, LOCK_S, MAX_FAILURES)
            return CheckResult(False, 0, self._failures)

    def _matches(self, pin: str) -> bool:
        try:
            doc = json.loads(self.path.read_text())
            if doc.get("alg") != "scrypt":
                raise PinError(f"{self.path}: unknown hash {doc.get('alg')!r}")
            salt, want = bytes.fromhex(doc["salt"]), bytes.fromhex(doc["key"])
            n, r, p = int(doc["n"]), int(doc["r"]), int(doc["p"])
        except FileNotFoundError:
            raise PinError("no operator PIN is set: run `pos run --config FILE --set-pin`") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise PinError(f"{self.path} is unreadable: {exc}") from None
        if not pin.isascii():
            return False
        return hmac.compare_digest(_derive(pin, salt, n, r, p), want)


class OperatorLog:
    """Operator actions as JSON lines; each line is on disk before the action is reported done."""

    def __init__(self, data_dir: Path, terminal_id: str, clock: Callable[[], int]) -> None:
        self.path = Path(data_dir) / AUDIT_FILE
        self.terminal_id = terminal_id
        self.clock = clock
        self._lock = threading.Lock()

    def record(self, action: str, ok: bool = True, **details: Any) -> dict[str, Any]:
        entry = {"time": self.clock(), "terminal_id": self.terminal_id, "action": action, "ok": ok}
        entry.update(details)
        line = (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn last line after a power cut
        except FileNotFoundError:
            return

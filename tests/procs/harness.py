"""Parent-side helpers for the process tests: token files, child processes, journal inspection."""

from __future__ import annotations

import json
import os
import random
import selectors
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pos.journal import DB_FILE, HEAD_FILE, Journal
from pos.journal_check import verify_journal
from pos.presentation import encode_text
from pos.sigs import ALG_EDDSA, ALG_ES256
from tests.conftest import Demo

PROCS = Path(__file__).resolve().parent
CHILD = PROCS / "terminal_child.py"
POS_BIN = Path(sys.executable).with_name("pos")
PYTHON = sys.executable
ENV = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")


@dataclass(frozen=True)
class Tok:
    text: str
    wallet: str  # hex
    counter: int
    amount: int
    raw: bytes


def make_tokens(demo: Demo, n: int, rng: random.Random, *, per_wallet: int = 8) -> list[Tok]:
    """``n`` distinct QR tokens from ``n / per_wallet`` wallets (Ed25519 and ES256), shuffled."""
    toks: list[Tok] = []
    while len(toks) < n:
        es = rng.random() < 0.25
        wallet = demo.wallet("es", ALG_ES256) if es else demo.wallet("ed", ALG_EDDSA)
        for _ in range(min(per_wallet, n - len(toks))):
            amount = rng.randint(1, 500)
            raw = wallet.token(max_amount=amount, now=demo.now)
            toks.append(Tok(encode_text(raw), wallet.wallet_id.hex(), wallet.counter, amount, raw))
    rng.shuffle(toks)
    return toks


def write_tokens(path: Path, toks: list[Tok]) -> Path:
    path.write_text("".join(f"{t.text}\t{t.wallet}\t{t.counter}\t{t.amount}\n" for t in toks))
    return path


def write_config(
    path: Path,
    demo: Demo,
    tokens: Path,
    *,
    data_dir: Path | None = None,
    head_every: int = 16,
    verbose: bool = False,
    velocity_failures: int = 3,
) -> Path:
    cfg = {
        "data_dir": str(data_dir or demo.data_dir),
        "root_key": str(demo.root_key),
        "trust_list": str(demo.trust_list),
        "tokens": str(tokens),
        "now": demo.now,
        "head_every": head_every,
        "count_max": 10**7,
        "total_max": 10**12,
        "verbose": verbose,
        "velocity_failures": velocity_failures,
    }
    path.write_text(json.dumps(cfg))
    return path


def pos_cli(
    *argv: str, preexec_fn: Callable[[], None] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real ``pos`` command as a process."""
    return subprocess.run(
        [str(POS_BIN), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        check=False,
        preexec_fn=preexec_fn,
    )


# -- reading the journal from outside ---------------------------------------------------------


@dataclass(frozen=True)
class Row:
    seq: int
    wallet: str
    counter: int
    amount: int
    state: int
    null_columns: int


def read_rows(data_dir: Path) -> list[Row]:
    """Every payment row, through a fresh SQLite connection of this process."""
    path = Path(data_dir) / DB_FILE
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        cols = "seq, wallet_id, counter, amount, state"
        nulls = " + ".join(
            f"({c} IS NULL)"
            for c in (
                "time", "kind", "wallet_id", "counter", "amount", "currency", "mode", "terminal_id",
                "token_digest", "token_ct", "prev_hash", "hash", "state",
            )
        )  # fmt: skip
        try:
            found = db.execute(f"SELECT {cols}, {nulls} FROM payments ORDER BY seq").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [Row(s, w.hex(), _counter(c), a, st, n) for s, w, c, a, st, n in found]
    finally:
        db.close()


def _counter(stored: int | bytes) -> int:
    """The journal keeps counters as 8-byte big-endian blobs (SPEC counters reach 2**64 - 1)."""
    return int.from_bytes(stored, "big") if isinstance(stored, bytes) else stored


def derived_state(data_dir: Path) -> dict[str, Any]:
    """The tables a payment's transaction updates besides its row, and SQLite's own check."""
    db = sqlite3.connect(Path(data_dir) / DB_FILE)
    try:
        return {
            "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
            "totals": tuple(db.execute("SELECT pending_count, pending_total FROM totals").fetchone()),
            "wallets": {w.hex(): p for w, p in db.execute("SELECT wallet_id, pending FROM wallet_exposure")},
            "heads": {s: h for s, h in db.execute("SELECT seq, hash FROM heads")},
            "hashes": {s: h for s, h in db.execute("SELECT seq, hash FROM payments")},
        }
    finally:
        db.close()


def verify_in_process(data_dir: Path) -> int:
    """``verify_journal`` on a Journal this process opens (and closes without sealing a head)."""
    journal = Journal(Path(data_dir))
    try:
        return verify_journal(journal)
    finally:
        journal.close()


def head_file(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(data_dir) / HEAD_FILE).read_text())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def export_cli(data_dir: Path) -> list[dict[str, Any]]:
    proc = pos_cli("journal", "export", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def verify_cli(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return pos_cli("journal", "verify", "--data-dir", str(data_dir))


# -- secrets that must never reach a log -----------------------------------------------------


def secrets_in(data_dir: Path, toks: list[Tok]) -> dict[str, str]:
    """Strings whose presence in a log would leak a key or a bearer token: name -> needle."""
    from cryptography.hazmat.primitives import serialization

    data_dir = Path(data_dir)
    found: dict[str, str] = {}
    pem = (data_dir / "identity.key").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    raw = key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    body = "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))
    found["identity key PEM body"] = body[:40]
    found["identity key hex"] = raw.hex()
    aes = (data_dir / "journal.key").read_bytes()
    found["journal AES key hex"] = aes.hex()
    import base64

    found["journal AES key b64"] = base64.b64encode(aes).decode()[:40]
    for i, t in enumerate(toks):
        found[f"token {i} text"] = t.text[5:45]  # base45 body
        found[f"token {i} hex"] = t.raw[-64:].hex()  # the wallet's signature
    return found


def assert_no_secrets(text: str, secrets: dict[str, str], where: str) -> None:
    lowered = text.lower()
    for name, needle in secrets.items():
        assert needle.lower() not in lowered, f"{name} appears in {where}:\n{text[:2000]}"


# -- an interactive child (storage tests) -------------------------------------------------------


class Interactive:
    """``terminal_child.py interactive``: one command line in, one answer line out."""

    def __init__(
        self, config: Path, stderr_path: Path, *, preexec_fn: Callable[[], None] | None = None
    ) -> None:
        self.stderr_path = stderr_path
        self._err = stderr_path.open("ab")
        self.proc = subprocess.Popen(
            [PYTHON, str(CHILD), "interactive", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=ENV,
            preexec_fn=preexec_fn,
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        first = self._line(30)
        assert first == "READY", f"child did not start: {first!r}\n{self.stderr()}"

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def _line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sel.select(left):
                raise AssertionError(f"child silent for {timeout} s\n{self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"child exited ({self.proc.wait()})\n{self.stderr()}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, line: str, timeout: float = 30) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self._line(timeout)

    def accept(self, index: int) -> list[str]:
        return self.cmd(f"ACCEPT {index}").split()

    def summary(self) -> dict[str, int]:
        return json.loads(self.cmd("SUMMARY"))  # type: ignore[no-any-return]

    def quit(self) -> None:
        assert self.cmd("QUIT") == "BYE"
        assert self.proc.wait(30) == 0
        self._close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self._close()

    def _close(self) -> None:
        self._sel.close()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        self._err.close()

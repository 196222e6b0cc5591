"""Helpers for the sync tests: a demo scheme, a collector process, terminals, collector views."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from collector.db import Database, cvalue
from pos import sigs
from pos.decision import Decision, PaymentRequest, Policy
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import ALG_EDDSA, ALG_ES256
from pos.sync.enroll import enroll
from pos.sync.settings import SyncSettings
from pos.sync.transport import Backoff
from pos.terminal import Terminal
from sim.fleet.nodes import first_line
from sim.scheme import Scheme
from sim.wallet import Wallet

POS_BIN = Path(sys.executable).with_name("pos")
OPERATOR_TOKEN = "test-operator-token-0123456789"
DAY = 86400
# The operator token reaches the collector through the environment, never its command line.
ENV = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", POS_OPERATOR_TOKEN=OPERATOR_TOKEN)
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

# Short timeouts and a tiny backoff: faults cost milliseconds, not seconds.
FAST = SyncSettings(
    batch_size=2,
    connect_timeout_s=0.5,
    timeout_s=0.6,
    retry_base_s=0.005,
    retry_cap_s=0.05,
    max_attempts=60,
)


@dataclass
class SchemeEnv:
    dir: Path
    scheme: Scheme
    trust_list: Path
    deny_list: Path
    now: int

    @property
    def root_pem(self) -> Path:
        return self.scheme.root_pem_path

    @property
    def root(self) -> sigs.PublicKey:
        return sigs.load_pem_public_key(self.root_pem.read_bytes())

    def wallet(self, alg: int = ALG_EDDSA, **kw: Any) -> Wallet:
        kw.setdefault("iat", self.now - 3 * DAY)
        return Wallet.issue(self.scheme.issuer("es" if alg == ALG_ES256 else "ed"), alg, **kw)


def make_scheme(path: Path, now: int | None = None) -> SchemeEnv:
    now = int(time.time()) if now is None else now
    scheme = Scheme.init(path / "scheme")
    scheme.add_issuer("ed", ALG_EDDSA)
    scheme.add_issuer("es", ALG_ES256)
    tl, dl = path / "tl.cose", path / "dl.cose"
    # Issued two days back so a terminal "offline for a day" has payments inside its validity.
    tl.write_bytes(scheme.trust_list(iat=now - 2 * DAY))
    dl.write_bytes(scheme.deny_list(iat=now - 2 * DAY))
    return SchemeEnv(path, scheme, tl, dl, now)


class CollectorProc:
    """``pos collector serve`` as a real process on 127.0.0.1; kill -9 and restart on one port."""

    def __init__(
        self,
        env: SchemeEnv,
        db_url: str,
        workdir: Path,
        *,
        extra: list[str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.environ = ENV if environ is None else environ
        self.db_url = db_url
        self.workdir = workdir
        self.extra = extra or []
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.scheme_url = "http"
        self.starts = 0

    def argv(self) -> list[str]:
        return [
            str(POS_BIN), "collector", "serve", "--db", self.db_url, "--listen", f"127.0.0.1:{self.port}",
            "--scheme", str(self.env.scheme.dir),
            "--trust-list", str(self.env.trust_list), "--deny-list", str(self.env.deny_list), *self.extra,
        ]  # fmt: skip

    def start(self, timeout: float = 30) -> CollectorProc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / f"collector-{self.starts}.log", "wb") as log:
            self.starts += 1
            self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=log, env=self.environ)
        line = first_line(self.proc, timeout)
        if not line.startswith("collector listening on "):
            self.kill()
            raise RuntimeError(f"collector did not start: {line!r}; see {self.workdir}")
        url = line.split()[3]
        self.scheme_url = url.split(":")[0]
        self.port = int(url.rsplit(":", 1)[1])
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        self.wait_ready(timeout)
        return self

    @staticmethod
    def _drain(proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"{self.url}/healthz", timeout=1, verify=False, trust_env=False).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("collector not ready")

    @property
    def url(self) -> str:
        return f"{self.scheme_url}://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()




@dataclass
class Term:
    """A terminal with its own data dir, lists installed, enrolled with a collector."""

    env: SchemeEnv
    data_dir: Path
    tid: str
    terminal: Terminal
    accepted: list[Decision] = field(default_factory=list)

    def pay(
        self, wallet: Wallet, amount: int, *, now: int | None = None, raw: bytes | None = None
    ) -> Decision:
        now = self.env.now if now is None else now
        raw = raw if raw is not None else wallet.token(max_amount=amount, now=now)
        request = PaymentRequest(amount=amount, currency="EUR", now=now, terminal_id=self.tid)
        decision = self.terminal.accept_text(encode_text(raw), request)
        if decision.approved:
            self.accepted.append(decision)
        return decision

    def pending(self) -> int:
        (n,) = self.terminal.journal.db.execute("SELECT count(*) FROM payments WHERE state = 0").fetchone()
        return int(n)

    def acked(self) -> int:
        (n,) = self.terminal.journal.db.execute("SELECT count(*) FROM payments WHERE state = 1").fetchone()
        return int(n)

    def close(self) -> None:
        self.terminal.close(self.env.now)


def new_terminal(
    env: SchemeEnv,
    data_dir: Path,
    collector_url: str | None,
    tid: str,
    *,
    policy: Policy | None = None,
    settings: SyncSettings | None = None,
) -> Term:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = KeyStore(data_dir, env.root)
    store.install_trust_list(env.trust_list.read_bytes())
    store.install_deny_list(env.deny_list.read_bytes())
    terminal = Terminal(data_dir, store, policy=policy or Policy())
    if collector_url is not None:
        enroll(data_dir, collector_url, OPERATOR_TOKEN, tid, settings or SyncSettings())
    return Term(env, data_dir, tid, terminal)


def pending_in(data_dir: Path) -> int:
    """Rows waiting for upload, read on a connection of the calling thread."""
    db = sqlite3.connect(data_dir / "journal.db")
    try:
        (n,) = db.execute("SELECT count(*) FROM payments WHERE state = 0").fetchone()
    finally:
        db.close()
    return int(n)


def seeded_backoff(seed: int, settings: SyncSettings = FAST) -> Backoff:
    return Backoff(settings.retry_base_s, settings.retry_cap_s, random.Random(seed))


# -- what the collector holds -----------------------------------------------------------------
class View:
    """Reads the collector's database directly (the server keeps running)."""

    def __init__(self, db_url: str) -> None:
        self.db = Database(db_url, pool_size=2)

    def close(self) -> None:
        self.db.close()

    def entries(self, tid: str | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT terminal_id, seq, wallet_id, counter, amount, status, reason FROM entries"
        params: tuple[Any, ...] = ()
        if tid is not None:
            sql += " WHERE terminal_id = ?"
            params = (tid,)
        with self.db.read() as tx:
            return [
                (t, s, bytes(w), cvalue(c), a, st, r)
                for t, s, w, c, a, st, r in tx.all(sql + " ORDER BY seq", params)
            ]

    def accepted_pairs(self) -> list[tuple[bytes, int]]:
        with self.db.read() as tx:
            return [
                (bytes(w), cvalue(c))
                for w, c in tx.all("SELECT wallet_id, counter FROM entries WHERE status = 'accepted'")
            ]

    def events(self, kind: str | None = None) -> list[tuple[Any, ...]]:
        with self.db.read() as tx:
            rows = tx.all("SELECT kind, terminal_id, wallet_id, counter, detail FROM events ORDER BY id")
        return [r for r in rows if kind is None or r[0] == kind]

    def denied(self) -> set[bytes]:
        with self.db.read() as tx:
            return {bytes(w) for (w,) in tx.all("SELECT wallet_id FROM denied")}

    def head(self, tid: str) -> tuple[int, bytes]:
        with self.db.read() as tx:
            seq, h = tx.one("SELECT last_seq, last_hash FROM terminals WHERE terminal_id = ?", (tid,))
        return seq, bytes(h)


def assert_exactly_once(view: View, term: Term) -> None:
    """Every approved payment of ``term`` is at the collector once; the terminal shows all acked."""
    rows = view.entries(term.tid)
    seqs = [r[1] for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), f"collector chain for {term.tid} has gaps: {seqs}"
    mine = {(d.wallet_id, d.counter) for d in term.accepted}
    held = [(r[2], r[3]) for r in rows if r[5] == "accepted"]
    assert len(held) == len(set(held)), "a payment is held twice"
    assert set(held) == mine, f"collector holds {len(set(held))}, terminal approved {len(mine)}"
    assert term.pending() == 0, f"{term.pending()} rows still pending at the terminal"
    pairs = view.accepted_pairs()
    assert len(pairs) == len(set(pairs)), "a (wallet id, counter) is accepted twice across the fleet"

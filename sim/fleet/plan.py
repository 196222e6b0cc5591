"""A fleet's day, made before the run: terminal keys, real wallet tokens, signed batches.

A million real signed tokens cost CPU (an Ed25519 signature and a CBOR encoding each, plus a
certificate per wallet), so the day is generated once, in a process pool, one chunk of
terminals per job, and cached on disk (``Plan.cache_dir``): a second run with the same sizes
and seed reuses it while its batches are young enough for the collector's batch window. The
generation time is measured apart from the ingest.

Within a chunk, wallets pay at the chunk's terminals in turn (each wallet's counters unique, its
offline total under its limit). Every terminal's payments fall on one time grid, so a
**double spend** is a token of terminal A's row k presented again at terminal B (the next
terminal of A's chunk) at the same time, appended to B's chain right after B's row k.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pos import chain
from pos.sigs import ALG_EDDSA
from pos.wire import protocol as p
from sim.scheme import DAY, Scheme
from sim.wallet import Wallet

CHUNK = 100  # terminals per generation job and cache file
PER_WALLET = 50  # payments per wallet: at most 500 minor units each, 25,000 < the 50,000 limit
MAX_AMOUNT = 500
CACHE_FRESH_S = 6 * 3600  # batches older than this are made again (the batch window is a day)
FORMAT = 1


@dataclass(frozen=True)
class Sizes:
    terminals: int
    payments: int
    double_spends: int
    batch: int
    seed: int = 1

    def key(self) -> str:
        doc = json.dumps([FORMAT, self.terminals, self.payments, self.double_spends, self.batch, self.seed])
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


@dataclass
class TerminalDay:
    """One terminal's identity and its day as signed batches, with what the collector must end with."""

    tid: str
    key: bytes  # Ed25519 private key, raw
    bodies: list[bytes]
    rows: int
    head: bytes
    amount: int  # the total of its payments (a replayed token is not its payment)


@dataclass
class Chunk:
    terminals: list[TerminalDay]
    double_spends: list[tuple[bytes, int]] = field(default_factory=list)  # (wallet id, counter)


def tid_of(i: int) -> str:
    return f"FLEET-{i:06d}"


def _rows_of(tid: str, tokens: list[tuple[bytes, int, int, bytes, int]]) -> tuple[list[p.BatchRow], int]:
    """Chained rows for (token, amount, time, wallet id, counter); the total of the payments."""
    rows: list[p.BatchRow] = []
    prev = chain.GENESIS
    for seq, (raw, amount, t, wid, counter) in enumerate(tokens, 1):
        digest = hashlib.sha256(raw).digest()
        h = chain.Row(seq, t, "payment", wid, counter, amount, "EUR", "qr", tid, digest, prev).hash()
        rows.append(p.BatchRow(seq, t, "payment", wid, counter, amount, "EUR", "qr", tid, digest, raw, h))
        prev = h
    return rows, sum(a for _r, a, _t, _w, _c in tokens)


def _bodies(tid: str, key: Ed25519PrivateKey, rows: list[p.BatchRow], batch: int, sent: int) -> list[bytes]:
    out = []
    for i in range(0, len(rows), batch):
        part = rows[i : i + batch]
        prev = rows[i - 1].hash if i else chain.GENESIS
        payload = p.encode_payload(p.Batch(tid, p.new_nonce(), sent, prev, part, []))
        out.append(p.encode_envelope(tid, payload, key.sign(p.batch_message(payload))))
    return out


def make_chunk(scheme_dir: Path, sizes: Sizes, index: int, now: int, ds_terminals: set[int]) -> Chunk:
    """Terminals ``index * CHUNK ..`` with their days; those in ``ds_terminals`` replay a token
    of the previous terminal (a double spend)."""
    rng = random.Random(sizes.seed * 1_000_003 + index)
    issuer = Scheme(scheme_dir).issuer("ed")
    first, last = index * CHUNK, min(sizes.terminals, (index + 1) * CHUNK)
    n_terms = last - first
    wallets = [
        Wallet.issue(issuer, ALG_EDDSA, iat=now - 3 * DAY)
        for _ in range(-(-n_terms * sizes.payments // PER_WALLET))
    ]
    step = max(1, (12 * 3600) // max(1, sizes.payments + 1))
    start = now - 13 * 3600
    grid = [start + k * step for k in range(sizes.payments)]
    plans: list[list[tuple[bytes, int, int, bytes, int]]] = []
    w = 0
    for _ti in range(n_terms):
        mine = []
        for t in grid:
            wallet = wallets[w % len(wallets)]
            w += 1
            amount = rng.randint(1, MAX_AMOUNT)
            raw = wallet.token(max_amount=amount, now=t)
            mine.append((raw, amount, t, wallet.wallet_id, wallet.counter))
        plans.append(mine)
    chunk = Chunk([])
    for ti in range(n_terms):
        mine = plans[ti]
        total = sum(a for _r, a, _t, _w, _c in mine)
        if first + ti in ds_terminals and ti > 0 and mine:
            k = rng.randrange(len(mine))
            replay = plans[ti - 1][k]
            mine = [*mine[: k + 1], replay, *mine[k + 1 :]]
            chunk.double_spends.append((replay[3], replay[4]))
        key = Ed25519PrivateKey.generate()
        tid = tid_of(first + ti)
        rows, _ = _rows_of(tid, mine)
        bodies = _bodies(tid, key, rows, sizes.batch, now)
        chunk.terminals.append(
            TerminalDay(tid, key.private_bytes_raw(), bodies, len(rows), rows[-1].hash, total)
        )
    return chunk


def _ds_terminals(sizes: Sizes) -> set[int]:
    """Which terminals replay a token: spread over the fleet, never a chunk's first."""
    candidates = [i for i in range(sizes.terminals) if i % CHUNK != 0]
    rng = random.Random(sizes.seed)
    return set(rng.sample(candidates, min(sizes.double_spends, len(candidates))))


def _job(args: tuple[Path, Sizes, int, int, set[int], Path]) -> str:
    scheme_dir, sizes, index, now, ds, out = args
    chunk = make_chunk(scheme_dir, sizes, index, now, ds)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(out)
    return out.name


class Plan:
    """The cached day of a fleet: a scheme dir, ``meta.json`` and one pickle per chunk."""

    def __init__(self, cache_dir: Path, sizes: Sizes) -> None:
        self.sizes = sizes
        self.dir = Path(cache_dir) / sizes.key()
        self.scheme_dir = self.dir / "scheme"
        self.meta: dict[str, int] = {}
        self.generate_s = 0.0
        self.reused = False

    @property
    def chunks(self) -> int:
        return -(-self.sizes.terminals // CHUNK)

    def _path(self, i: int) -> Path:
        return self.dir / f"chunk-{i:05d}.pkl"

    def ready(self, now: int) -> bool:
        st = self.dir.stat() if self.dir.is_dir() else None
        if st is None or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return False  # only a cache this user made and nobody else can write is read back
        try:
            self.meta = json.loads((self.dir / "meta.json").read_text())
        except (OSError, ValueError):
            return False
        young = 0 <= now - self.meta.get("now", 0) < CACHE_FRESH_S
        return young and all(self._path(i).exists() for i in range(self.chunks))

    def prepare(self, workers: int | None = None, log: object = print) -> Plan:
        """Generate (or reuse) the day; ``generate_s`` is the wall time it took."""
        now = int(time.time())
        t0 = time.perf_counter()
        if self.ready(now):
            self.reused = True
            return self
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir.parent.chmod(0o700)
        for old in self.dir.glob("chunk-*"):
            old.unlink()
        scheme = Scheme.init(self.scheme_dir)
        scheme.add_issuer("ed", ALG_EDDSA)
        (self.dir / "tl.cose").write_bytes(scheme.trust_list(iat=now - 2 * DAY))
        (self.dir / "dl.cose").write_bytes(scheme.deny_list(iat=now - 2 * DAY))
        ds = _ds_terminals(self.sizes)
        jobs = [(self.scheme_dir, self.sizes, i, now, ds, self._path(i)) for i in range(self.chunks)]
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for done, _name in enumerate(pool.map(_job, jobs), 1):
                if done % 10 == 0 or done == len(jobs):
                    log(f"generated {done}/{len(jobs)} chunks of {CHUNK} terminals")  # type: ignore[operator]
        self.meta = {"now": now}
        (self.dir / "meta.json").write_text(json.dumps(self.meta))
        self.generate_s = time.perf_counter() - t0
        return self

    def load(self) -> Iterator[Chunk]:
        for i in range(self.chunks):
            yield pickle.loads(self._path(i).read_bytes())  # noqa: S301 - our own files, in a 0700 dir

    @property
    def trust_list(self) -> Path:
        return self.dir / "tl.cose"

    @property
    def deny_list(self) -> Path:
        return self.dir / "dl.cose"

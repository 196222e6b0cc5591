"""``scripts/bench core``: the terminal core against its targets and against raw floors.

Every figure is set beside a floor measured in the same run on the same machine, because these
machines are shared and absolute times drift 2-3x between runs (shared/NOTES.md):

- verify: ``parse_token`` + ``check_token`` of one token (both signatures, every check, a deny
  list of 1M ids installed) against the two bare cryptography verifies of the same token (keys
  preloaded, Sig_structures and DER signatures prepared). The memo caches of certificates and
  issuer signatures are cleared before each sample, so each sample pays for a first-seen wallet;
  the returning-wallet figure (caches warm) is shown beside it. Floor and full samples alternate
  in one loop so both see the same load.
- commit floor: one-row ``BEGIN IMMEDIATE; INSERT; COMMIT`` on a fresh WAL file with
  ``synchronous=FULL`` (and ``NORMAL`` alternating with it, for the README's comparison).
- accept: ``Terminal.accept_text`` on OWT1 text, fresh data dir, distinct wallets pre-signed so
  signing is outside the timing; the 1M-id deny list is installed, as on a real terminal.
- deny list: load, lookups and RSS in a child process (``benchlib.denylist_child``), so the RSS
  delta is the list's and nothing else's.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from benchlib.common import MS, US, Report, Row, Stats

NAME = "core"
ALGS = ("ed25519", "es256")

# Targets (issue: benchmark of the core)
VERIFY_OVER_FLOOR = 1.3
ACCEPT_P99_MS = 1.5
ACCEPT_OVER_FLOOR = 2.0
ACCEPTS_PER_S = 2000
DENY_LOAD_S = 1.0
DENY_LOOKUP_US = 5.0
DENY_RSS_MB = 16.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("core")
    g.add_argument("--n", type=int, default=10_000, help="payments accepted and floor commits (10000)")
    g.add_argument("--verify-n", type=int, default=3_000, help="samples per verify figure (3000)")
    g.add_argument("--deny-n", type=int, default=1_000_000, help="ids in the deny list (1000000)")
    g.add_argument("--accept-alg", choices=ALGS, default="ed25519", help="wallet/issuer alg of accept")


@dataclass
class World:
    """A demo scheme, both issuers, the signed lists, and the request every payment answers."""

    dir: Path
    now: int
    scheme: Any
    root_pub: Any
    trust_raw: bytes
    deny_raw: bytes
    deny_path: Path

    def issuer(self, alg: str) -> Any:
        return self.scheme.issuer("ed" if alg == "ed25519" else "es")


def _alg_id(alg: str) -> int:
    from pos.sigs import ALG_EDDSA, ALG_ES256

    return ALG_EDDSA if alg == "ed25519" else ALG_ES256


def make_deny_list(root: Any, n: int, iat: int) -> bytes:
    """A signed typ-2 list of ``n`` random ids in ascending order."""
    from pos.wire.signing import sign1
    from sim.scheme import DAY

    blob = os.urandom(8 * n)
    ids = sorted(blob[i : i + 8] for i in range(0, 8 * n, 8))
    return sign1({0: 2, 1: iat, 2: iat + 7 * DAY, 3: 1, 5: ids}, root)


def build_world(base: Path, deny_n: int) -> World:
    from pos import sigs
    from sim.scheme import Scheme
    from sim.wallet import Wallet  # noqa: F401 - imported here so its cost is not timed later

    now = int(time.time())
    scheme = Scheme.init(base / "scheme")
    scheme.add_issuer("ed", _alg_id("ed25519"))
    scheme.add_issuer("es", _alg_id("es256"))
    deny_raw = make_deny_list(scheme.root, deny_n, now - 60)
    deny_path = base / "deny_list.cose"
    deny_path.write_bytes(deny_raw)
    root_pub = sigs.load_pem_public_key(scheme.root_pem_path.read_bytes())
    return World(base, now, scheme, root_pub, scheme.trust_list(iat=now - 60), deny_raw, deny_path)


def _request(world: World) -> Any:
    from pos.decision import PaymentRequest

    return PaymentRequest(amount=100, currency="EUR", now=world.now, terminal_id="T-BENCH")


# -- verify ---------------------------------------------------------------------------------------
def _bare_verifier(key: Any, signature: bytes, message: bytes) -> Callable[[], None]:
    """One cryptography verify with everything prepared: the floor no parser can go below."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return lambda: key.verify(signature, message)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    algo = ec.ECDSA(hashes.SHA256())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return lambda: key.verify(der, message, algo)


def bench_verify(world: World, alg: str, n: int) -> dict[str, Stats]:
    from pos import tokens, verify
    from pos.decision import Policy, TerminalState
    from pos.keystore import KeySnapshot
    from pos.trust import parse_deny_list, parse_trust_list
    from sim.wallet import Wallet

    keys = KeySnapshot(
        parse_trust_list(world.trust_raw, world.root_pub), parse_deny_list(world.deny_raw, world.root_pub)
    )
    request, policy, state = _request(world), Policy(), TerminalState()
    wallet = Wallet.issue(world.issuer(alg), _alg_id(alg), iat=world.now - 3600)
    raw = wallet.token(max_amount=1000, now=world.now)
    token = tokens.parse_token(raw)
    verify.check_token(token, keys, request, policy, state)  # it must pass, or the figure is a lie
    assert keys.trust is not None
    issuer_key = keys.trust.issuers[token.cert.kid].key
    cert_env, tok_env = token.cert.envelope, token.envelope
    bare_issuer = _bare_verifier(issuer_key, cert_env.signature, cert_env.to_be_signed())
    bare_wallet = _bare_verifier(token.cert.wallet_key, tok_env.signature, tok_env.to_be_signed())
    cert_cache, verified = tokens._cert_cache, verify._verified
    parse_token, check_token = tokens.parse_token, verify.check_token
    clock = time.perf_counter_ns

    floor: list[int] = []
    full: list[int] = []
    warm: list[int] = []
    warmup = max(100, n // 10)
    for i in range(warmup + n):
        t0 = clock()
        bare_issuer()
        bare_wallet()
        t1 = clock()
        cert_cache.clear()
        verified.clear()
        t2 = clock()
        check_token(parse_token(raw), keys, request, policy, state)
        t3 = clock()
        check_token(parse_token(raw), keys, request, policy, state)  # caches warm: a returning wallet
        t4 = clock()
        if i >= warmup:
            floor.append(t1 - t0)
            full.append(t3 - t2)
            warm.append(t4 - t3)
    return {"floor": Stats.of_ns(floor, US), "full": Stats.of_ns(full, US), "warm": Stats.of_ns(warm, US)}


# -- commit floor ---------------------------------------------------------------------------------
_FLOOR_TABLE = (
    "CREATE TABLE payments (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL,"
    " wallet_id BLOB NOT NULL, counter INTEGER NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,"
    " mode TEXT NOT NULL, terminal_id TEXT NOT NULL, token_digest BLOB NOT NULL, token_ct BLOB,"
    " prev_hash BLOB NOT NULL, hash BLOB NOT NULL, state INTEGER NOT NULL)"
)
_FLOOR_INSERT = (
    "INSERT INTO payments VALUES (?, ?, 'payment', ?, ?, ?, 'EUR', 'qr', 'T-BENCH', ?, ?, ?, ?, 0)"
)


def _floor_db(path: Path, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(_FLOOR_TABLE)
    return db


def bench_commit_floor(base: Path, n: int, token_len: int) -> dict[str, Stats]:
    """A bare one-row insert + commit, FULL and NORMAL alternating (same disk, same moment)."""
    dbs = {mode: _floor_db(base / f"floor_{mode.lower()}.db", mode) for mode in ("FULL", "NORMAL")}
    samples: dict[str, list[int]] = {k: [] for k in dbs}
    clock = time.perf_counter_ns
    warmup = max(50, n // 20)
    for i in range(1, warmup + n + 1):
        row = (
            i, 1_700_000_000 + i, os.urandom(8), i, 100,
            os.urandom(32), os.urandom(token_len + 28), os.urandom(32), os.urandom(32),
        )  # fmt: skip
        for mode, db in dbs.items():
            t0 = clock()
            db.execute("BEGIN IMMEDIATE")
            db.execute(_FLOOR_INSERT, row)
            db.execute("COMMIT")
            t1 = clock()
            if i > warmup:
                samples[mode].append(t1 - t0)
    for db in dbs.values():
        db.close()
    return {k: Stats.of_ns(v, MS) for k, v in samples.items()}


# -- accept ---------------------------------------------------------------------------------------
def bench_accept(world: World, n: int, alg: str) -> dict[str, Any]:
    from pos.decision import Policy
    from pos.keystore import KeyStore
    from pos.presentation import encode_text
    from pos.terminal import Terminal
    from sim.wallet import Wallet

    warmup = max(20, n // 50)
    issuer, alg_id = world.issuer(alg), _alg_id(alg)
    t_gen = time.perf_counter()
    texts = []
    for _ in range(warmup + n):
        wallet = Wallet.issue(issuer, alg_id, iat=world.now - 3600)
        texts.append(encode_text(wallet.token(max_amount=1000, now=world.now)))
    gen_s = time.perf_counter() - t_gen

    data_dir = Path(tempfile.mkdtemp(prefix="accept-", dir=world.dir))
    keystore = KeyStore(data_dir, world.root_pub)
    keystore.install_trust_list(world.trust_raw)
    keystore.install_deny_list(world.deny_raw)
    # Caps above the run so every payment is approved: the figure is the approval path.
    policy = Policy(offline_count_max=10 * (warmup + n), offline_total_max=10**15)
    terminal = Terminal(data_dir, keystore, policy=policy)
    request = _request(world)
    accept, clock = terminal.accept_text, time.perf_counter_ns

    for text in texts[:warmup]:
        assert accept(text, request).approved
    samples: list[int] = []
    declined: dict[str | None, int] = {}
    gc.collect()
    start = clock()
    for text in texts[warmup:]:
        t0 = clock()
        decision = accept(text, request)
        samples.append(clock() - t0)
        if not decision.approved:
            declined[decision.reason] = declined.get(decision.reason, 0) + 1
    wall_s = (clock() - start) / 1e9
    head_every = terminal.journal.head_every
    first_seq = warmup + 1
    on_head = [s for i, s in enumerate(samples) if (first_seq + i) % head_every == 0]
    other = [s for i, s in enumerate(samples) if (first_seq + i) % head_every != 0]
    terminal.close(world.now)
    return {
        "all": Stats.of_ns(samples, MS),
        "head": Stats.of_ns(on_head, MS),
        "other": Stats.of_ns(other, MS),
        "per_s": n / wall_s,
        "declined": declined,
        "gen_s": gen_s,
        "head_every": head_every,
        "over_1ms": sum(1 for s in samples if s > MS),
    }


# -- deny list ------------------------------------------------------------------------------------
def bench_denylist(world: World) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchlib.denylist_child",
            str(world.deny_path),
            str(world.scheme.root_pem_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the suite ------------------------------------------------------------------------------------
def run(args: argparse.Namespace, base: Path) -> Report:
    rep = Report("core")
    log = print if not args.json else (lambda *a: print(*a, file=sys.stderr))
    log(f"core: building a scheme and a signed deny list of {args.deny_n:,} ids ...")
    world = build_world(base, args.deny_n)

    verify_stats = {}
    for alg in ALGS:
        log(f"core: verify {alg}, {args.verify_n} samples ...")
        verify_stats[alg] = bench_verify(world, alg, args.verify_n)
    from sim.wallet import Wallet

    sample = Wallet.issue(world.issuer(args.accept_alg), _alg_id(args.accept_alg), iat=world.now - 3600)
    token_len = len(sample.token(max_amount=1000, now=world.now))  # the floor's row carries as much
    log(f"core: commit floor, {args.n} rows FULL and NORMAL ...")
    commit = bench_commit_floor(base, args.n, token_len)
    log(f"core: accept, {args.n} payments ({args.accept_alg}) ...")
    acc = bench_accept(world, args.n, args.accept_alg)
    log("core: deny list in a child process ...")
    deny = bench_denylist(world)

    f = rep.figures
    for alg in ALGS:
        s = verify_stats[alg]
        f[f"verify_{alg}_us_p50"] = s["full"].p50
        f[f"floor_verify_{alg}_us_p50"] = s["floor"].p50
    floor_verify = f[f"floor_verify_{args.accept_alg}_us_p50"]
    f["floor_verify_us_p50"] = floor_verify
    f["floor_commit_ms_p50"] = commit["FULL"].p50
    f["floor_commit_ms_p99"] = commit["FULL"].p99
    f["accept_ms_p50"] = acc["all"].p50
    f["accept_ms_p99"] = acc["all"].p99
    f["accepts_per_s"] = acc["per_s"]
    f["denylist_1m_load_s"] = deny["load_s_p50"]
    f["denylist_lookup_us"] = deny["lookup_us_p50"]
    f["denylist_rss_mb"] = deny["rss_held_mb"]

    for alg in ALGS:
        s = verify_stats[alg]
        limit = VERIFY_OVER_FLOOR * s["floor"].p50
        rep.add(Row(f"floor verify {alg} (2 bare verifies)", "us", s["floor"].p50, s["floor"].p99))
        rep.check(
            f"verify {alg} (parse + check_token)", "us", s["full"].p50, limit,
            f"<= {VERIFY_OVER_FLOOR}x floor = {limit:.1f}", p99=s["full"].p99,
            note=f"{s['full'].p50 / s['floor'].p50:.2f}x its floor",
        )  # fmt: skip
        rep.add(Row(f"verify {alg}, returning wallet (memo warm)", "us", s["warm"].p50, s["warm"].p99))
    rep.add(Row("floor commit, WAL synchronous=FULL", "ms", commit["FULL"].p50, commit["FULL"].p99))
    normal = commit["NORMAL"]
    rep.add(Row("commit, WAL synchronous=NORMAL (not durable)", "ms", normal.p50, normal.p99))
    a = acc["all"]
    rep.check(
        "accept_text (durable)", "ms", a.p99, ACCEPT_P99_MS, f"p99 <= {ACCEPT_P99_MS}", p50=a.p50, p99=a.p99
    )
    bound = ACCEPT_OVER_FLOOR * (floor_verify / 1000 + commit["FULL"].p99)
    rep.check(
        "accept_text p99 vs floors", "ms", a.p99, bound,
        f"<= 2x(floor verify + floor commit p99) = {bound:.3f}", p50=None, p99=a.p99,
    )  # fmt: skip
    rep.add(
        Row(f"  accept, head-signing rows (1 in {acc['head_every']})", "ms", acc["head"].p50, acc["head"].p99)
    )
    rep.add(Row("  accept, other rows", "ms", acc["other"].p50, acc["other"].p99))
    rep.check(
        "accepts per second (one terminal)", "1/s", acc["per_s"], ACCEPTS_PER_S, f">= {ACCEPTS_PER_S}",
        at_least=True,
    )  # fmt: skip
    rep.check(
        f"deny list load ({args.deny_n:,} ids)", "s", deny["load_s_p50"], DENY_LOAD_S, f"<= {DENY_LOAD_S}",
        p99=deny["load_s_max"],
    )  # fmt: skip
    rep.check(
        "deny list lookup (hits and misses)", "us", deny["lookup_us_p50"], DENY_LOOKUP_US,
        f"<= {DENY_LOOKUP_US}", p99=deny["lookup_us_p99"],
    )  # fmt: skip
    rep.add(Row("  lookup, hits", "us", deny["hit_us_p50"], deny["hit_us_p99"]))
    rep.add(Row("  lookup, misses", "us", deny["miss_us_p50"], deny["miss_us_p99"]))
    rep.check(
        "deny list extra RSS, held", "MiB", deny["rss_held_mb"], DENY_RSS_MB, f"<= {DENY_RSS_MB}",
        note=f"peak during load +{deny['rss_peak_mb']:.1f} MiB; file {deny['file_mb']:.1f} MiB",
    )  # fmt: skip
    if acc["declined"]:
        rep.notes.append(f"accept: {sum(acc['declined'].values())} payments DECLINED: {acc['declined']}")
    rep.notes.append(
        f"accept: {args.n:,} payments after {max(20, args.n // 50)} warm-up, distinct "
        f"{args.accept_alg} wallets (signed beforehand in {acc['gen_s']:.1f} s), "
        f"{acc['over_1ms']} over 1 ms; p99 is nearest-rank"
    )
    rep.notes.append(f"floor verify for the accept bound is {args.accept_alg}'s: {floor_verify:.1f} us")
    rep.notes.append(
        f"verify: certificate and issuer-signature memos cleared before each sample; the {args.deny_n:,}-id "
        "deny list is in the snapshot; floor = the same token's two cryptography verifies, keys preloaded"
    )
    return rep

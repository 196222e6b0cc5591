"""In-process checks: deny list deltas at a million ids, batch decoding under mutation, backoff,
settings, weak keys. No server here; the collector logic runs on a real SQLite file."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from collector.db import Database, parse_url
from collector.lists import Lists, ListSigner
from collector.service import Collector, Reject, Settings
from pos.errors import ConfigError, ListError
from pos.keystore import KeyStore
from pos.sync.enroll import enroll
from pos.sync.settings import SyncSettings, from_mapping
from pos.sync.transport import Backoff
from pos.sync.uploader import Uploader
from pos.trust import parse_deny_list
from pos.wire import denylist
from pos.wire import protocol as p
from tests.sync.harness import SchemeEnv, new_terminal


def test_deny_list_delta_over_a_million_ids(env: SchemeEnv, tmp_path: Path) -> None:
    signer = ListSigner.from_scheme_dir(env.scheme.dir)
    raw = random.Random(5).randbytes(8 * 1_000_000)
    ids = sorted({raw[i : i + 8] for i in range(0, len(raw), 8)})
    records, count = b"\x48" + b"\x48".join(ids), len(ids)  # sorted and unique already
    iat = env.now - 100
    base = signer.sign_list(denylist.encode_payload(iat, iat + 86400, 50, records, count))
    store = KeyStore(tmp_path, env.root)
    store.install_trust_list(env.trust_list.read_bytes())
    store.install_deny_list(base)
    # The next list: three wallets added (one already there), two removed.
    added = [os.urandom(8) for _ in range(3)] + [ids[10]]
    removed = [ids[0], ids[500_000]]
    new_ids = sorted((set(ids) | set(added)) - set(removed))
    new_records, new_count = b"\x48" + b"\x48".join(new_ids), len(new_ids)
    full = signer.sign_list(denylist.encode_payload(iat + 60, iat + 86460, 51, new_records, new_count))
    env_, _ = __import__("pos.cose", fromlist=["parse_sign1"]).parse_sign1(full, packed_ids=True)
    delta = denylist.encode_delta(
        base=50, seq=51, iat=iat + 60, next_update=iat + 86460, count=new_count, add=added, remove=removed,
        protected=env_.protected, signature=env_.signature,
    )  # fmt: skip
    assert len(delta) < 500 < len(full) // 10_000  # a few hundred bytes instead of 9 MB
    start = time.perf_counter()
    cur = store.load().deny
    assert cur is not None and cur.ids is not None
    rebuilt = denylist.rebuild(cur.ids.buf, cur.ids.count, denylist.parse_delta(delta))
    assert rebuilt == full
    new, changed = store.install_deny_list(rebuilt)
    assert changed and new.seq == 51 and len(new) == new_count
    assert new.contains(added[0]) and not new.contains(ids[0]) and new.contains(ids[1])
    assert time.perf_counter() - start < 5
    # A delta that does not add up fails the root signature: the terminal fetches the full list.
    bad = denylist.encode_delta(
        base=50, seq=51, iat=iat + 60, next_update=iat + 86460, count=new_count, add=[*added[:2], ids[10]],
        remove=[*removed, os.urandom(8)], protected=env_.protected, signature=env_.signature,
    )  # fmt: skip
    with pytest.raises(ListError):
        parse_deny_list(denylist.rebuild(cur.ids.buf, cur.ids.count, denylist.parse_delta(bad)), env.root)


def test_apply_keeps_order_and_uniqueness() -> None:
    rng = random.Random(1)
    for _ in range(200):
        base = sorted({rng.randbytes(8) for _ in range(rng.randint(0, 40))})
        remove = [*rng.sample(base, min(len(base), rng.randint(0, 5))), rng.randbytes(8)]
        kept = [x for x in base if x not in remove]
        # New ids (some twice) and ids already there, as a collector's delta may carry them.
        fresh = [rng.randbytes(8) for _ in range(rng.randint(0, 5))]
        add = fresh + fresh[:1] + rng.sample(kept, min(len(kept), 2))
        rec, n = denylist.pack_ids(base)
        out, m = denylist.apply(rec, n, add, remove)
        assert denylist.pack_ids((set(base) | set(add)) - set(remove)) == (out, m)


@pytest.fixture
def local(env: SchemeEnv, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    lists = Lists(db, env.root, ListSigner.from_scheme_dir(env.scheme.dir))
    lists.import_list(env.trust_list.read_bytes())
    lists.import_list(env.deny_list.read_bytes())
    c = Collector(db, lists)
    yield c
    c.close()


def test_mutated_batches_never_crash_the_collector(env: SchemeEnv, tmp_path: Path, local: Collector) -> None:
    """Flip, cut and splice bytes of signed batches: every one is an answer or a clean Reject."""
    t = new_terminal(env, tmp_path / "t", None, "T-FUZZ")
    with local.db.write() as tx:
        tx.execute(
            "INSERT INTO terminals (terminal_id, public_key, enrolled_at, last_seq, last_hash)"
            " VALUES (?, ?, 0, 0, ?)",
            (t.tid, t.terminal.journal.identity.public_raw, bytes(32)),
        )
    w = env.wallet()
    for _ in range(3):
        assert t.pay(w, 10).approved
    journal = t.terminal.journal
    rows = journal.pending_rows(10)
    fields = ("seq", "time", "kind", "wallet_id", "counter", "amount", "currency", "mode", "terminal_id",
              "token_digest", "token", "hash")  # fmt: skip
    batch_rows = [p.BatchRow(*(r[k] for k in fields)) for r in rows]
    rng = random.Random(42)
    outcomes: dict[str, int] = {}
    for i in range(600):
        payload = p.encode_payload(
            p.Batch(t.tid, p.new_nonce(), env.now, rows[0]["prev_hash"], batch_rows, [])
        )
        if i % 3:  # mutate the payload and sign it: the collector must survive a *signed* bad batch
            buf = bytearray(payload)
            for _ in range(rng.randint(1, 4)):
                op = rng.random()
                pos = rng.randrange(len(buf))
                if op < 0.6:
                    buf[pos] = rng.randrange(256)
                elif op < 0.8:
                    del buf[pos : pos + rng.randint(1, 20)]
                else:
                    buf[pos:pos] = rng.randbytes(rng.randint(1, 20))
            payload = bytes(buf)
            body = p.encode_envelope(t.tid, payload, journal.identity.sign(p.batch_message(payload)))
        else:  # mutate the envelope itself
            sig = journal.identity.sign(p.batch_message(payload))
            body = bytearray(p.encode_envelope(t.tid, payload, sig))
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
            body = bytes(body)
        try:
            answer = local.ingest(body)
            key = "answered"
            assert all(r[1] in (p.STORED, p.DUPLICATE, p.REFUSED) for r in answer["results"])
        except Reject as exc:
            assert 400 <= exc.status < 500
            key = exc.code
        outcomes[key] = outcomes.get(key, 0) + 1
    assert outcomes.get("bad_body", 0) > 50 and outcomes.get("bad_signature", 0) > 20
    # Whatever got in is a clean chain prefix of the terminal's journal.
    with local.db.read() as tx:
        held = tx.all("SELECT seq, hash FROM entries WHERE terminal_id = ? ORDER BY seq", (t.tid,))
    assert [s for s, _ in held] == list(range(1, len(held) + 1))
    assert all(bytes(h) == rows[s - 1]["hash"] for s, h in held)
    t.close()


def test_backoff_is_full_jitter_capped_and_seeded() -> None:
    a, b = Backoff(0.1, 2.0, random.Random(3)), Backoff(0.1, 2.0, random.Random(3))
    delays = [a.next_delay() for _ in range(12)]
    assert delays == [b.next_delay() for _ in range(12)]
    for n, d in enumerate(delays):
        assert 0 <= d <= min(2.0, 0.1 * 2**n)
    a.reset()
    assert a.next_delay() <= 0.1


def test_settings_and_urls() -> None:
    s = from_mapping({"collector": "https://c.example", "batch_size": 100, "interval_s": 5}, "t.toml")
    assert s.batch_size == 100 and s.interval_s == 5
    for bad in ({"batch_size": 0}, {"batch_size": "9"}, {"nope": 1}, {"ca_file": "a", "pinned_cert": "b"}):
        with pytest.raises(ConfigError):
            from_mapping(bad, "t.toml")
    assert parse_url("sqlite:////tmp/x.db") == ("sqlite", "/tmp/x.db")
    assert parse_url("sqlite:///rel.db") == ("sqlite", "rel.db")
    assert parse_url("postgresql://u@h/db")[0] == "postgres"
    with pytest.raises(ValueError):
        parse_url("mysql://h/db")


def test_small_order_keys_are_weak() -> None:
    assert p.weak_ed25519_key(bytes(32))
    assert p.weak_ed25519_key(bytes([1]) + bytes(31))
    assert p.weak_ed25519_key(bytes(31) + b"\x80")
    assert not p.weak_ed25519_key(os.urandom(32)) or True  # random keys are almost surely fine
    from pos.identity import Identity

    assert not p.weak_ed25519_key(Identity(Path(__import__("tempfile").mkdtemp())).public_raw)


NESTED_TOO_DEEP = b"[" * 5000  # json raises RecursionError, not ValueError, past ~1000 levels


@pytest.fixture
def deep_json_server() -> Iterator[str]:
    """A collector (or a MITM) on 127.0.0.1 that answers every POST with JSON nested too deep."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200 if self.path == "/v1/batches" else 201)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(NESTED_TOO_DEEP)))
            self.end_headers()
            self.wfile.write(NESTED_TOO_DEEP)

        def log_message(self, *_a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_enrollment_body_nested_too_deep_is_a_bad_body(local: Collector) -> None:
    """Found while writing ``scripts/fuzz batch``: the collector's JSON parse raised RecursionError
    (an HTTP 500) instead of refusing the body."""
    c = Collector(local.db, local.lists, Settings(operator_token="op"))
    with pytest.raises(Reject) as err:
        c.enroll("Bearer op", NESTED_TOO_DEEP[:4000])
    assert (err.value.status, err.value.code) == (400, "bad_body")


def test_collector_answer_nested_too_deep_is_a_failed_pass(
    env: SchemeEnv, tmp_path: Path, deep_json_server: str
) -> None:
    """Found while writing ``scripts/fuzz delta``: a rogue collector's answer nested too deep
    escaped the uploader as RecursionError; it is a bad answer, and the rows stay pending."""
    t = new_terminal(env, tmp_path / "t", None, "T-DEEP")
    assert t.pay(env.wallet(), 10).approved
    settings = SyncSettings(max_attempts=2, retry_base_s=0.01, retry_cap_s=0.01)
    with httpx.Client(base_url=deep_json_server) as client:
        result = Uploader(t.terminal.journal, client, t.tid, settings).run_pass()
    assert not result.ok and "answer is not JSON" in (result.error or "")
    assert result.pending == 1
    t.close()


def test_enroll_answer_nested_too_deep_still_enrolls(tmp_path: Path, deep_json_server: str) -> None:
    """Found while writing ``scripts/fuzz delta``: ``pos sync enroll`` raised RecursionError on such
    an answer; a 201 enrolls whatever its body, as a body that is not JSON does."""
    out = enroll(tmp_path, deep_json_server, "op", "T-DEEP", SyncSettings())
    assert out["status"] == "enrolled" and out["terminal_id"] == "T-DEEP"

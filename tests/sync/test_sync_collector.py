"""Upload, idempotency, crash points, double spend, lists, reversals, export and metrics.

One collector process per database kind for the module (SQLite and PostgreSQL, both real);
every test makes its own terminals and wallets, so they do not see each other's payments.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import export
from pos import reasons
from pos.decision import Policy
from pos.journal import Journal
from pos.journal_check import verify_journal
from pos.keystore import KeyStore
from pos.schema import counter_value
from pos.sync.service import sync_once
from pos.sync.status import queue_status
from pos.sync.transport import make_client
from pos.sync.uploader import Uploader
from pos.wire import protocol as p
from tests.conftest import run_pos
from tests.sync.harness import (
    FAST,
    OPERATOR,
    OPERATOR_TOKEN,
    CollectorProc,
    SchemeEnv,
    Term,
    View,
    assert_exactly_once,
    new_terminal,
)

_n = [0]


def term(menv: SchemeEnv, coll: CollectorProc, tmp_path: Path, name: str = "", **kw: Any) -> Term:
    _n[0] += 1
    tid = f"T-{name or 'x'}-{_n[0]}"
    return new_terminal(menv, tmp_path / tid, coll.url, tid, **kw)


def test_upload_is_exactly_once_and_idempotent(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    t = term(menv, coll, tmp_path)
    w = menv.wallet()
    for amount in (100, 250, 75, 1, 9999):
        assert t.pay(w, amount).approved
    # SPEC counters reach 2**64 - 1, past every database's BIGINT.
    top = w.token(max_amount=5, now=menv.now, counter=2**64 - 1)
    assert t.pay(w, 5, raw=top).approved
    report = sync_once(t.data_dir, FAST)
    assert report["upload"]["ok"] and report["upload"]["stored"] == 6
    assert report["upload"]["verdicts"] == {"accepted": 6}
    assert_exactly_once(view, t)
    assert t.terminal.journal.summary()["pending_total"] == 0  # exposure lowered
    # Forget the acknowledgements (as if every answer had been lost): all come back "duplicate".
    db = t.terminal.journal.db
    db.execute("UPDATE payments SET state = 0")
    again = sync_once(t.data_dir, FAST, lists=False)["upload"]
    assert again["duplicates"] == 6 and again["stored"] == 0
    assert_exactly_once(view, t)
    assert verify_journal(t.terminal.journal) == 6
    assert (w.wallet_id, 2**64 - 1) in view.accepted_pairs()


class _Crash(BaseException):
    """Stands for the process dying at this instant (nothing after it runs)."""


def test_crash_before_send_after_send_and_mid_ack(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    t = term(menv, coll, tmp_path)
    w = menv.wallet()
    for _ in range(6):
        assert t.pay(w, 10).approved
    settings = FAST.with_overrides(batch_size=3)

    def run(journal: Journal) -> Any:
        with make_client(coll.url, settings) as client:
            return Uploader(journal, client, t.tid, settings).run_pass()

    journal = Journal(t.data_dir)
    # 1. Before send: the request never leaves.
    real_post = Uploader._post
    monkeypatch.setattr(Uploader, "_post", lambda self, body: (_ for _ in ()).throw(_Crash()))
    with pytest.raises(_Crash):
        run(journal)
    monkeypatch.setattr(Uploader, "_post", real_post)
    assert view.entries(t.tid) == []
    # 2. After send, before the acknowledgement is written.
    real_ack = Journal.acknowledge
    monkeypatch.setattr(Journal, "acknowledge", lambda self, seqs: (_ for _ in ()).throw(_Crash()))
    with pytest.raises(_Crash):
        run(journal)
    monkeypatch.setattr(Journal, "acknowledge", real_ack)
    assert len(view.entries(t.tid)) == 3 and t.pending() == 6
    # 3. Mid-acknowledgement: the second row's update dies; the transaction rolls back whole.
    calls = [0]
    real_db = journal.db

    class Dying:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_db, name)

        def execute(self, sql: str, *a: Any) -> Any:
            if sql.startswith("UPDATE payments SET state"):
                calls[0] += 1
                if calls[0] == 2:
                    raise _Crash()
            return real_db.execute(sql, *a)

    monkeypatch.setattr(Journal, "db", property(lambda self: Dying()))
    with pytest.raises(_Crash):
        run(journal)
    monkeypatch.undo()
    assert t.pending() == 6  # nothing half-acknowledged
    # Resume: everything once, nothing twice.
    result = run(Journal(t.data_dir))
    assert result.ok and result.duplicates == 3 and result.stored == 3
    assert_exactly_once(view, t)


def test_double_spend_across_terminals_denies_the_wallet(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    a, b = term(menv, coll, tmp_path, "A"), term(menv, coll, tmp_path, "B")
    cheat, honest = menv.wallet(), menv.wallet()
    raw = cheat.token(max_amount=500, now=menv.now)
    assert a.pay(cheat, 500, raw=raw).approved
    assert b.pay(cheat, 500, raw=raw).approved  # offline, B cannot know
    assert b.pay(honest, 300).approved
    assert sync_once(a.data_dir, FAST)["upload"]["verdicts"] == {"accepted": 1}
    rep = sync_once(b.data_dir, FAST)
    assert rep["upload"]["verdicts"] == {"double_spend": 1, "accepted": 1}
    assert rep["upload"]["pending"] == 0  # the collector holds it: acknowledged, exposure lowered
    events = view.events("double_spend")
    mine = [e for e in events if bytes(e[2]) == cheat.wallet_id]
    assert len(mine) == 1
    evidence = json.loads(mine[0][4])["evidence"]
    assert {e["terminal_id"] for e in evidence} == {a.tid, b.tid}
    assert all(e["token"] for e in evidence)
    assert cheat.wallet_id in view.denied() and honest.wallet_id not in view.denied()
    assert view.accepted_pairs().count((cheat.wallet_id, cheat.counter)) == 1
    # The next deny list, served at the list endpoint, names the wallet; after a refresh the
    # terminals decline it.
    assert "installed" in rep["lists"]["deny"]
    store = KeyStore.pinned(b.data_dir)
    assert store.load().deny is not None and store.load().deny.contains(cheat.wallet_id)
    b.terminal.keys = store
    assert b.pay(cheat, 100).reason == reasons.WALLET_DENIED
    sync_once(a.data_dir, FAST)
    a.terminal.keys = KeyStore.pinned(a.data_dir)
    assert a.pay(cheat, 100).reason == reasons.WALLET_DENIED
    assert a.pay(honest, 100).approved


def test_cumulative_offline_limit_across_terminals(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    a, b = term(menv, coll, tmp_path, "A"), term(menv, coll, tmp_path, "B")
    w = menv.wallet(offline_limit=1000, payment_limit=1000)
    then = menv.now - 3600  # both offline for an hour: nothing acknowledged meanwhile
    assert a.pay(w, 700, now=then).approved
    assert b.pay(w, 700, now=then + 60).approved  # each terminal alone is within 1000
    sync_once(a.data_dir, FAST, lists=False)
    sync_once(b.data_dir, FAST, lists=False)
    events = [e for e in view.events("offline_limit_exceeded") if bytes(e[2]) == w.wallet_id]
    assert len(events) == 1
    detail = json.loads(events[0][4])
    assert detail["unacknowledged"] == 1400 and detail["offline_limit"] == 1000
    assert set(detail["terminals"]) == {a.tid, b.tid}
    assert w.wallet_id in view.denied()


def test_bad_input_is_refused_and_nothing_is_stored(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    t = term(menv, coll, tmp_path)
    w = menv.wallet()
    assert t.pay(w, 100).approved
    journal = t.terminal.journal
    rows = journal.pending_rows(10)

    def batch(
        tid: str = t.tid, *, nonce: bytes | None = None, sign_with: Any = None, rows_: Any = rows
    ) -> bytes:
        b = p.Batch(
            tid, nonce or p.new_nonce(), menv.now, rows_[0]["prev_hash"] if rows_ else b"",
            [p.BatchRow(r["seq"], r["time"], r["kind"], r["wallet_id"], r["counter"], r["amount"],
                        r["currency"], r["mode"], r["terminal_id"], r["token_digest"], r["token"], r["hash"])
             for r in rows_],
            [],
        )  # fmt: skip
        payload = p.encode_payload(b)
        sig = (sign_with or journal.identity.sign)(p.batch_message(payload))
        return p.encode_envelope(tid, payload, sig)

    before = len(view.entries())
    url = coll.url + "/v1/batches"
    cbor = {"Content-Type": p.CONTENT_TYPE}

    def post(body: bytes, headers: dict[str, str] = cbor) -> httpx.Response:
        return httpx.post(url, content=body, headers=headers, timeout=10, trust_env=False)

    cases = [
        (b"", 400, "bad_body"),
        (b"\xff\x00garbage" * 10, 400, "bad_body"),
        (b"\x83\x61T\x41\x00\x41\x00", 401, "bad_signature"),  # ["T", h'00', h'00']: 1-byte sig
        (batch(sign_with=lambda m: bytes(64)), 401, "bad_signature"),
        (batch(tid="T-nobody"), 403, "unknown_terminal"),
        (json.dumps({"rows": []}).encode(), 400, "bad_body"),
    ]
    for body, status, code in cases:
        r = post(body)
        assert (r.status_code, r.json()["error"]) == (status, code), body[:40]
    r = post(b"{}", {"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (415, "unsupported_media_type")
    # A deep CBOR nest in place of the envelope; a signed payload nested deep, or naming
    # another terminal than its envelope.
    r = post(b"\x81" * 5000 + b"\x00")
    assert (r.status_code, r.json()["error"]) == (400, "bad_body")
    deep = b"\x81" * 5000 + b"\x00"
    r = post(p.encode_envelope(t.tid, deep, journal.identity.sign(p.batch_message(deep))))
    assert (r.status_code, r.json()["error"]) == (400, "bad_body")
    other = p.encode_payload(p.Batch("T-else", p.new_nonce(), menv.now, b"", [], []))
    r = post(p.encode_envelope(t.tid, other, journal.identity.sign(p.batch_message(other))))
    assert (r.status_code, r.json()["error"]) == (400, "bad_body")
    # Huge: refused by Content-Length before the body is read.
    with httpx.Client(trust_env=False, timeout=10) as c:
        r = c.post(url, content=b"x" * (9 << 20), headers=cbor)
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")
    # Huge and chunked (no Content-Length): counted while it streams.
    with httpx.Client(trust_env=False, timeout=10) as c:
        r = c.post(url, content=iter([b"y" * (1 << 20)] * 10), headers=cbor)
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")
    assert len(view.entries()) == before  # nothing stored by any of them
    # A good batch, then the very same bytes again: a replay.
    good = batch()
    assert post(good).status_code == 200
    r = post(good)
    assert (r.status_code, r.json()["error"]) == (409, "replayed_batch")
    assert len(view.entries()) == before + 1
    # Enrollment without the operator credential, or with a wrong one.
    body = json.dumps({"tid": "T-evil", "key": "00" * 32, "time": menv.now, "sig": "00" * 64})
    r = httpx.post(coll.url + "/v1/enroll", content=body, trust_env=False)
    assert (r.status_code, r.json()["error"]) == (401, "bad_operator_token")
    r = httpx.post(
        coll.url + "/v1/enroll", content=body, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    assert (r.status_code, r.json()["error"]) == (400, "bad_key")  # small order: a zero sig would verify
    with view.db.read() as tx:
        assert tx.one("SELECT count(*) FROM terminals WHERE terminal_id = 'T-evil'")[0] == 0
    assert httpx.get(coll.url + "/healthz", trust_env=False).status_code == 200
    metrics = httpx.get(coll.url + "/metrics", headers=OPERATOR, trust_env=False).text
    for code in ("bad_body", "bad_signature", "unknown_terminal", "body_too_large", "replayed_batch"):
        assert f'owt_collector_requests_rejected_total{{reason="{code}"}}' in metrics


def test_chain_gap_fork_and_edited_row_are_flagged(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    t = term(menv, coll, tmp_path)
    w = menv.wallet()
    for _ in range(4):
        assert t.pay(w, 10).approved
    # Edit row 3's amount behind the journal's back (someone with the disk).
    db = sqlite3.connect(t.data_dir / "journal.db")
    db.execute("UPDATE payments SET amount = 5 WHERE seq = 3")
    db.commit()
    db.close()
    up = sync_once(t.data_dir, FAST, lists=False)["upload"]
    assert up["chain_error"]["error"] == "row_edited" and up["chain_error"]["seq"] == 3
    assert up["acknowledged"] == 2 and up["pending"] == 2  # the good prefix is held
    assert [e[0] for e in view.events() if e[1] == t.tid] == ["row_edited"]
    assert view.head(t.tid)[0] == 2
    # A second attempt flags nothing new (the event is recorded once).
    sync_once(t.data_dir, FAST, lists=False)
    assert [e[0] for e in view.events() if e[1] == t.tid] == ["row_edited"]

    # A fork: the same terminal identity with another history (restored from a copy).
    f = term(menv, coll, tmp_path, "F")
    assert f.pay(w, 10).approved
    sync_once(f.data_dir, FAST, lists=False)
    f.terminal.journal.db.execute("UPDATE payments SET state = 0")
    forked = f.terminal.journal.db
    forked.execute("UPDATE payments SET time = time + 1 WHERE seq = 1")  # then re-hash honestly
    from pos import chain

    r = forked.execute(
        "SELECT seq, time, kind, wallet_id, counter, amount, currency, mode, terminal_id, token_digest,"
        " prev_hash FROM payments WHERE seq = 1"
    ).fetchone()
    r = (*r[:4], counter_value(r[4]), *r[5:])  # the journal keeps counters as 8 bytes
    forked.execute("UPDATE payments SET hash = ? WHERE seq = 1", (chain.Row(*r).hash(),))
    up = sync_once(f.data_dir, FAST, lists=False)["upload"]
    assert up["chain_error"]["error"] == "chain_fork"
    assert "chain_fork" in [e[0] for e in view.events() if e[1] == f.tid]

    # A gap: a signed batch that starts past the collector's head.
    g = term(menv, coll, tmp_path, "G")
    for _ in range(3):
        assert g.pay(w, 10).approved
    g.terminal.journal.db.execute("UPDATE payments SET state = 1 WHERE seq = 1")
    up = sync_once(g.data_dir, FAST, lists=False)["upload"]
    assert up["chain_error"]["error"] == "chain_gap"
    assert view.entries(g.tid) == []
    metrics = httpx.get(coll.url + "/metrics", headers=OPERATOR, trust_env=False).text
    assert 'owt_collector_flags_total{kind="chain_gap"}' in metrics


def test_velocity_locks_are_reported(menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path):
    t = term(menv, coll, tmp_path)
    w = menv.wallet()
    raw = w.token(max_amount=100, now=menv.now)
    assert t.pay(w, 100, raw=raw).approved
    for _ in range(3):
        assert t.pay(w, 100, raw=raw).reason == reasons.REPLAYED
    up = sync_once(t.data_dir, FAST, lists=False)["upload"]
    assert up["locks_reported"] == 1
    (n,) = t.terminal.journal.db.execute("SELECT count(*) FROM velocity_locks WHERE reported = 0").fetchone()
    assert n == 0
    with view.db.read() as tx:
        rows = tx.all("SELECT wallet_id, failures FROM locks WHERE terminal_id = ?", (t.tid,))
    assert [(bytes(a), b) for a, b in rows] == [(w.wallet_id, 3)]


def test_reversal_prune_export_and_status(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    t = term(menv, coll, tmp_path, policy=Policy(offline_count_max=1000))
    w = menv.wallet()
    seqs = [t.pay(w, a).seq for a in (100, 200, 300)]
    t.terminal.journal.reverse(seqs[1], menv.now, "failed vend")
    status = queue_status(t.data_dir, Policy(offline_count_max=1000), now=menv.now + 10)
    assert status["journal"]["pending_count"] == 3 and status["journal"]["oldest_pending_age_s"] == 10
    assert status["exposure"]["count_cap"] == 1000 and status["sync"]["enrolled"]
    up = sync_once(t.data_dir, FAST.with_overrides(retention_days=0), lists=False)["upload"]
    assert up["ok"] and up["acknowledged"] == 4 and up["verdicts"] == {"accepted": 3, "reversal": 1}
    assert up["pruned"] == 3  # retention 0: every acknowledged token dropped ...
    journal = t.terminal.journal
    assert verify_journal(journal) == 4  # ... the chain still verifies
    assert t.pay(w, 100, raw=None).approved  # a new counter is fine
    (ct,) = journal.db.execute("SELECT token_ct FROM payments WHERE seq = 1").fetchone()
    assert ct is None
    # Export: JSON lines with the reversal marked, settlement CSV net of it.
    rows = [json.loads(line) for line in _export(view)]
    mine = [r for r in rows if r["type"] == "payment" and r["terminal_id"] == t.tid]
    assert sorted((r["amount"], r["reversed_by_seq"]) for r in mine) == [(100, None), (200, 4), (300, None)]
    settle = {r["terminal_id"]: r for r in export.settlement(view.db)}[t.tid]
    assert (settle["count"], settle["total"], settle["reversed_count"], settle["reversed_total"]) == (
        2,
        400,
        1,
        200,
    )
    csv_path = tmp_path / "settle.csv"
    code, _doc, err = run_pos(["collector", "export", "--db", coll.db_url, "--csv", str(csv_path)], capsys)
    assert code == 0 and "exported" in err
    table = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert {"terminal_id": t.tid, "currency": "EUR", "count": "2", "total": "400", "reversed_count": "1",
            "reversed_total": "200"} in table  # fmt: skip
    # The CLI status.
    code, doc, _ = run_pos(["queue", "status", "--data-dir", str(t.data_dir), "--json"], capsys)
    assert code == 0 and doc["journal"]["pending_count"] == 1 and doc["sync"]["last_success"]
    code, _doc, _ = run_pos(["queue", "status", "--data-dir", str(t.data_dir)], capsys)
    assert code == 0


def _export(view: View) -> list[str]:
    out = io.StringIO()
    export.write_jsonl(view.db, out)
    return out.getvalue().splitlines()


def test_lists_refresh_uses_etags_and_refuses_rollback(menv: SchemeEnv, coll: CollectorProc, tmp_path: Path):
    t = term(menv, coll, tmp_path)
    first = sync_once(t.data_dir, FAST, upload=False)["lists"]
    assert first["errors"] == []
    again = sync_once(t.data_dir, FAST, upload=False)["lists"]
    assert again == {"trust": "not_modified", "deny": "not_modified", "errors": []}
    # A terminal that already holds a newer deny list than the collector's refuses the older one.
    store = KeyStore.pinned(t.data_dir)
    newer = menv.scheme.deny_list(seq=10_000)
    store.install_deny_list(newer)
    (t.data_dir / "sync" / "state.json").unlink()  # forget the ETags
    res = sync_once(t.data_dir, FAST, upload=False)["lists"]
    assert res["deny"] == "error" and "lower than cached" in res["errors"][0]
    assert KeyStore.pinned(t.data_dir).load().deny.seq == 10_000  # still in force


def test_cli_enroll_sync_and_refusals(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    t = new_terminal(menv, tmp_path / "cli", None, "T-CLI")
    token_file = tmp_path / "operator-token"
    token_file.write_text(OPERATOR_TOKEN + "\n")
    w = menv.wallet()
    assert t.pay(w, 42).approved
    d = str(t.data_dir)
    code, _doc, err = run_pos(["sync", "--data-dir", d, "--json"], capsys)
    assert code == 2 and "not enrolled" in err
    code, _doc, err = run_pos(
        [
            "enroll",
            "--data-dir",
            d,
            "--collector",
            coll.url,
            "--operator-token",
            "wrong",
            "--terminal-id",
            t.tid,
        ],
        capsys,
    )
    assert code == 2 and "bad_operator_token" in err
    code, doc, _ = run_pos(
        ["enroll", "--data-dir", d, "--collector", coll.url, "--operator-token-file", str(token_file),
         "--terminal-id", t.tid],
        capsys,
    )  # fmt: skip
    assert code == 0 and doc["status"] == "enrolled"
    code, doc, _ = run_pos(["sync", "--data-dir", d, "--json", "--batch-size", "10"], capsys)
    assert code == 0 and doc["ok"] and doc["upload"]["stored"] == 1
    assert_exactly_once(view, t)
    # Another terminal cannot take the enrolled id with another key.
    other = tmp_path / "other"
    code, _doc, err = run_pos(
        ["enroll", "--data-dir", str(other), "--collector", coll.url,
         "--operator-token-file", str(token_file), "--terminal-id", t.tid],
        capsys,
    )  # fmt: skip
    assert code == 2 and "terminal_id_taken" in err
    # Plain http to anything but localhost is refused before any connection.
    code, _doc, err = run_pos(["sync", "--data-dir", d, "--collector", "http://192.0.2.1:8080"], capsys)
    assert code == 2 and "refusing plain http" in err


@pytest.mark.parametrize(
    "have", ["%C2%B2", "%D9%A3", "%EF%BC%91"]
)  # superscript 2, Arabic-Indic 3, fullwidth 1
def test_deny_list_request_with_a_unicode_digit_is_refused_not_a_500(coll: CollectorProc, have: str) -> None:
    """Found by ``scripts/fuzz batch``: ``"²".isdigit()`` is True but ``int("²")`` raises, so
    ``?have=²`` was an internal error (HTTP 500); other Unicode digits passed as a seq."""
    r = httpx.get(f"{coll.url}/v1/lists/deny?have={have}", trust_env=False)
    assert (r.status_code, r.json()["error"]) == (400, "bad_have")


def test_certificate_limits_and_expiry_up_to_two_to_the_64_are_stored(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    """SPEC 3.2: limits and times are unsigned CBOR integers, up to 2**64 - 1, past BIGINT. An
    issuer writing "no limit" or "never expires" that way must not wedge the terminal's uploads."""
    t = term(menv, coll, tmp_path, "big")
    top = 2**64 - 1
    w = menv.wallet(payment_limit=top, offline_limit=top, valid_s=top - (menv.now - 3600))
    for amount in (100, 250):
        assert t.pay(w, amount).approved
    report = sync_once(t.data_dir, FAST)
    assert report["upload"]["ok"], report
    assert report["upload"]["verdicts"] == {"accepted": 2}
    assert_exactly_once(view, t)


def test_a_never_expiring_certificate_that_double_spends_reaches_the_deny_list(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    """The deny list's bound (``collector.deny_expiry``) keeps each denied wallet's certificate
    expiry: one at 2**64 - 1 must not stop the list that names the wallet from being published."""
    a, b = term(menv, coll, tmp_path, "A"), term(menv, coll, tmp_path, "B")
    cheat = menv.wallet(valid_s=2**64 - 1 - (menv.now - 3600))
    raw = cheat.token(max_amount=500, now=menv.now)
    assert a.pay(cheat, 500, raw=raw).approved and b.pay(cheat, 500, raw=raw).approved
    assert sync_once(a.data_dir, FAST)["upload"]["verdicts"] == {"accepted": 1}
    rep = sync_once(b.data_dir, FAST)
    assert rep["upload"]["verdicts"] == {"double_spend": 1}
    assert "installed" in rep["lists"]["deny"], rep["lists"]
    deny = KeyStore.pinned(b.data_dir).load().deny
    assert deny is not None and deny.contains(cheat.wallet_id)

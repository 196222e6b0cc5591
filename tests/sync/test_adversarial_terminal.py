"""A legitimately enrolled terminal that signs its own crafted batches (issue 11).

Every test is an attack by ``tests.sync.attacker.Attacker``: it builds chain rows and batches
with the project's own protocol code and its own identity key, so the collector can only judge
the claims, never the signature. docs/sync.md, "What the collector checks" and "Threat model".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import export
from collector.console.queries.payments import settlement_by_day
from pos.decision import PaymentRequest
from pos.sigs import ALG_ES256
from pos.sync.service import sync_once
from tests.sync.attacker import Attacker, high_s_twin, verdicts
from tests.sync.harness import (
    FAST,
    OPERATOR_TOKEN,
    CollectorProc,
    SchemeEnv,
    Term,
    View,
    new_terminal,
)

_n = [0]


def _tid(name: str) -> str:
    _n[0] += 1
    return f"{name}-{_n[0]}"


def attacker(coll: CollectorProc, tmp_path: Path) -> Attacker:
    tid = _tid("EVIL")
    return Attacker(tmp_path / tid, coll.url, tid)


def honest(menv: SchemeEnv, coll: CollectorProc, tmp_path: Path) -> Term:
    tid = _tid("SHOP")
    return new_terminal(menv, tmp_path / tid, coll.url, tid)


def flags(view: View, tid: str, kind: str) -> list[dict[str, Any]]:
    return [json.loads(e[4]) for e in view.events(kind) if e[1] == tid]


def credited(view: View, tid: str) -> int:
    return sum(r[4] for r in view.entries(tid) if r[5] == "accepted")


def nfc_pay(term: Term, raw: bytes, challenge: bytes, amount: int) -> bool:
    req = PaymentRequest(
        amount=amount, currency="EUR", now=term.env.now, terminal_id=term.tid, challenge=challenge
    )
    d = term.terminal.accept_bytes(raw, req)
    if d.approved:
        term.accepted.append(d)
    return d.approved


# -- one identity ------------------------------------------------------------------------------
@pytest.mark.parametrize("claimed", ["own", "victim"])
def test_nfc_token_bound_to_another_terminal_is_refused_and_flags_uploader(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path, claimed: str
):
    victim, evil = honest(menv, coll, tmp_path), attacker(coll, tmp_path)
    w = menv.wallet()
    challenge = os.urandom(16)
    raw = w.token(amount=700, challenge=challenge, terminal_id=victim.tid, now=menv.now)
    # The relayed token reaches the collector first, under the attacker's id or the victim's.
    evil.row(raw, at=menv.now, terminal_id=evil.tid if claimed == "own" else victim.tid)
    answer = evil.send()
    status, verdict = verdicts(answer)[1]
    assert status == "stored" and verdict.startswith("refused:")
    kind = "foreign_nfc_token" if claimed == "own" else "foreign_terminal_id"
    assert len(flags(view, evil.tid, kind)) == 1
    assert credited(view, evil.tid) == 0
    # The victim's honest upload is the payment: accepted, no double spend, the wallet not denied.
    assert nfc_pay(victim, raw, challenge, 700)
    assert sync_once(victim.data_dir, FAST, lists=False)["upload"]["verdicts"] == {"accepted": 1}
    assert not [e for e in view.events("double_spend") if bytes(e[2]) == w.wallet_id]
    assert w.wallet_id not in view.denied()
    settle = {r["terminal_id"]: r["total"] for r in export.settlement(view.db)}
    assert settle.get(victim.tid) == 700 and evil.tid not in settle


# -- evidence needs two terminals ----------------------------------------------------------------
def test_same_payment_twice_from_one_terminal_flags_terminal_and_never_denies_wallet(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil, w = attacker(coll, tmp_path), menv.wallet()
    raw = w.token(max_amount=400, now=menv.now)
    evil.row(raw, at=menv.now)
    evil.row(raw, at=menv.now + 1)
    res = verdicts(evil.send())
    assert res[1] == ("stored", "accepted")
    assert res[2][0] == "stored" and res[2][1] == "refused:self_duplicate"
    assert w.wallet_id not in view.denied()
    assert not [e for e in view.events("double_spend") if bytes(e[2]) == w.wallet_id]
    assert len(flags(view, evil.tid, "self_duplicate")) == 1
    assert credited(view, evil.tid) == 400


def test_high_s_twin_is_the_same_payment_and_never_denies_wallet(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil, w = attacker(coll, tmp_path), menv.wallet(ALG_ES256)
    raw = w.token(max_amount=250, now=menv.now)
    twin = high_s_twin(raw)
    assert twin != raw
    evil.row(raw, at=menv.now)
    evil.send()
    evil.row(twin, at=menv.now + 1)  # a later batch: the first is already held
    res = verdicts(evil.send())
    assert res[2] == ("stored", "refused:self_duplicate")
    (flag,) = flags(view, evil.tid, "self_duplicate")
    assert flag["same_signed_payload"] is True
    assert w.wallet_id not in view.denied()
    assert credited(view, evil.tid) == 250


def test_same_payment_at_two_terminals_is_still_a_double_spend(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    a, b, w = attacker(coll, tmp_path), attacker(coll, tmp_path), menv.wallet()
    raw = w.token(max_amount=100, now=menv.now)
    a.row(raw, at=menv.now)
    b.row(raw, at=menv.now)
    assert verdicts(a.send())[1] == ("stored", "accepted")
    assert verdicts(b.send())[1] == ("stored", "double_spend")
    assert w.wallet_id in view.denied()


# -- time is bounded -----------------------------------------------------------------------------
def test_row_time_going_backwards_is_refused_and_flagged(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil, w = attacker(coll, tmp_path), menv.wallet()
    now = int(time.time())
    evil.row(w.token(max_amount=100, now=now), at=now)
    evil.send()
    earlier = now - 3600  # a token really made an hour earlier, journaled after a later row
    evil.row(w.token(max_amount=100, now=earlier), at=earlier)
    assert verdicts(evil.send())[2] == ("stored", "refused:time_backwards")
    assert len(flags(view, evil.tid, "time_backwards")) == 1
    assert credited(view, evil.tid) == 100


def test_row_time_outside_token_validity_is_refused_and_flagged(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil, w = attacker(coll, tmp_path), menv.wallet()
    now = int(time.time())
    evil.row(w.token(max_amount=100, now=now - 1000), at=now)  # expired 940 s before its row
    assert verdicts(evil.send())[1] == ("stored", "refused:time_outside_token")
    assert len(flags(view, evil.tid, "time_outside_token")) == 1
    assert credited(view, evil.tid) == 0


def test_row_time_in_the_future_is_refused_and_flagged(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil, w = attacker(coll, tmp_path), menv.wallet()
    later = int(time.time()) + 3600
    evil.row(w.token(max_amount=100, now=later), at=later)  # token and row agree; the clock does not
    assert verdicts(evil.send())[1] == ("stored", "refused:time_in_future")
    assert len(flags(view, evil.tid, "time_in_future")) == 1
    assert credited(view, evil.tid) == 0


def _deny_by_double_spend(menv: SchemeEnv, coll: CollectorProc, tmp_path: Path, view: View) -> Any:
    """Two honest terminals take one token offline: the collector denies the wallet, publishes."""
    a, b, cheat = honest(menv, coll, tmp_path), honest(menv, coll, tmp_path), menv.wallet()
    raw = cheat.token(max_amount=100, now=menv.now)
    assert a.pay(cheat, 100, raw=raw).approved and b.pay(cheat, 100, raw=raw).approved
    sync_once(a.data_dir, FAST, lists=False)
    sync_once(b.data_dir, FAST, lists=False)
    assert cheat.wallet_id in view.denied()
    return cheat


def test_backdated_row_past_a_served_deny_list_is_refused_and_flagged(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil = attacker(coll, tmp_path)
    cheat = _deny_by_double_spend(menv, coll, tmp_path, view)
    served = evil.fetch_deny_list()  # the attacker now holds the list naming the wallet
    assert served.status_code == 200
    with view.db.read() as tx:
        (iat,) = tx.one("SELECT iat FROM lists WHERE typ = 2 ORDER BY seq DESC LIMIT 1")
    # Accepted after the list arrived, journaled as if 30 s before the list was issued; the
    # token's own times agree with the claim (made 60 s before the list, valid for 120 s).
    raw = cheat.token(max_amount=100, now=iat - 60, lifetime_s=120)
    evil.row(raw, at=iat - 30)
    res = verdicts(evil.send())
    assert res[1] == ("stored", "refused:denied_list_held")
    assert len(flags(view, evil.tid, "denied_list_held")) == 1
    assert credited(view, evil.tid) == 0


def test_backdated_row_past_a_stated_deny_list_is_refused_and_flagged(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil = attacker(coll, tmp_path)
    cheat = _deny_by_double_spend(menv, coll, tmp_path, view)
    with view.db.read() as tx:
        seq, iat = tx.one("SELECT seq, iat FROM lists WHERE typ = 2 ORDER BY seq DESC LIMIT 1")
    ok = menv.wallet()
    evil.row(ok.token(max_amount=10, now=iat - 100), at=iat - 100)
    assert verdicts(evil.send(lists={"deny": seq}))[1] == ("stored", "accepted")  # its own signed word
    evil.row(cheat.token(max_amount=100, now=iat - 60, lifetime_s=120), at=iat - 30)
    assert verdicts(evil.send(lists={"deny": seq - 1}))[2] == ("stored", "refused:denied_list_held")


# -- look-alike ids ------------------------------------------------------------------------------
LOOK_ALIKES = ["SHOP\u200b-A", "SHOP-A\n", "SHOP-\u0410", "", "x" * 65, "SHOP A", "SHOP/A"]


@pytest.mark.parametrize("tid", LOOK_ALIKES)
def test_look_alike_terminal_id_is_refused_at_enrollment(coll: CollectorProc, tid: str, tmp_path: Path):
    from pos.identity import Identity
    from pos.wire import protocol as p

    ident = Identity(tmp_path)
    t = int(time.time())
    sig = ident.sign(p.enroll_message(tid, ident.public_raw, t))
    body = {"tid": tid, "key": ident.public_raw.hex(), "time": t, "sig": sig.hex()}
    r = httpx.post(
        f"{coll.url}/v1/enroll",
        json=body,
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        trust_env=False,
    )
    assert r.status_code == 400 and r.json()["error"] == "bad_terminal_id"


@pytest.mark.parametrize("tid", LOOK_ALIKES)
def test_look_alike_terminal_id_is_refused_in_config_and_rule(tid: str):
    from pos import config
    from pos.errors import ConfigError
    from pos.identity import valid_terminal_id

    assert not valid_terminal_id(tid)
    with pytest.raises(ConfigError):
        config.from_mapping({"terminal": {"id": tid}}, "t.toml")


def test_terminal_ids_of_the_allowed_alphabet_are_accepted():
    from pos.identity import valid_terminal_id

    for tid in ["SHOP-A", "a", "x" * 64, "T-9E16.b_c"]:
        assert valid_terminal_id(tid)


def test_batch_under_a_look_alike_enrolled_id_is_refused_at_ingest(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    """A collector enrolled before the rule may hold such an id: its batches are refused."""
    evil = attacker(coll, tmp_path)
    bad = evil.tid + "\n"
    with view.db.write() as tx:
        tx.execute("UPDATE terminals SET terminal_id = ? WHERE terminal_id = ?", (bad, evil.tid))
    evil.tid = bad
    w = menv.wallet()
    evil.row(w.token(max_amount=10, now=menv.now), at=menv.now)
    with pytest.raises(AssertionError, match="bad_terminal_id"):
        evil.send()


def test_honest_terminal_signs_its_list_fetch_and_states_its_lists(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    t = honest(menv, coll, tmp_path)
    sync_once(t.data_dir, FAST)  # nothing to upload; the list refresh is signed and recorded
    with view.db.read() as tx:
        marks = tx.one("SELECT deny_seq, deny_from_seq FROM terminal_marks WHERE terminal_id = ?", (t.tid,))
        (seq,) = tx.one("SELECT max(seq) FROM lists WHERE typ = 2")
    assert tuple(marks) == (seq, 0)
    assert t.pay(menv.wallet(), 10).approved
    assert sync_once(t.data_dir, FAST)["upload"]["verdicts"] == {"accepted": 1}  # stated, still honest


def test_payments_near_two_to_the_63_cannot_wedge_another_terminals_uploads(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    """A wallet whose certificate allows "any amount" (SPEC 3.2's integers reach 2**64 - 1) and
    a rogue terminal: payments whose sum passes the databases' 2**63 - 1 must not make every
    later batch naming the wallet fail, an honest terminal's included."""
    evil, shop = attacker(coll, tmp_path), honest(menv, coll, tmp_path)
    top = 2**64 - 1
    w = menv.wallet(payment_limit=top, offline_limit=top)
    big = 2**63 - 2
    for _ in range(2):
        evil.row(w.token(max_amount=big, now=menv.now), at=menv.now, amount=big)
    answer = evil.send()
    assert [v[1] for v in verdicts(answer).values()] == ["accepted", "accepted"]
    evil.row(w.token(max_amount=big, now=menv.now), at=menv.now, amount=big)
    assert [v[1] for v in verdicts(evil.send()).values()] == ["accepted"]
    assert shop.pay(w, 300).approved
    report = sync_once(shop.data_dir, FAST, lists=False)["upload"]
    assert report["ok"] and report["verdicts"] == {"accepted": 1}, report
    # The settlement views add the rogue terminal's sums up too, without failing for the others.
    settle = {r["terminal_id"]: r["total"] for r in export.settlement(view.db)}
    assert settle[shop.tid] == 300 and settle[evil.tid] >= 2**63 - 2**11
    days = {r["terminal_id"]: r for r in settlement_by_day(view.db)}
    assert days[shop.tid]["count"] == 1 and days[evil.tid]["count"] == 3

"""Operator actions on the deny list with their audit trail, and flags made visible (issue 11).

A false positive can be undone: ``pos collector deny`` / ``reinstate`` publish a new signed deny
list, terminals install it (a reinstatement arrives as the full list), and both go into the
append-only ``audit`` table shown by ``pos collector audit``. Terminal flags show in the export
(one JSON line each), in ``GET /v1/terminals/{tid}`` and in ``/metrics``.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import pytest

from collector import audit, export
from pos import reasons
from pos.keystore import KeyStore
from pos.sync.lists import list_auth_headers
from pos.sync.service import sync_once
from pos.wire import protocol as p
from tests.conftest import run_pos
from tests.sync.attacker import Attacker, verdicts
from tests.sync.harness import FAST, OPERATOR_TOKEN, CollectorProc, SchemeEnv, View, new_terminal


def test_false_positive_is_undone_by_reinstate_and_both_actions_are_audited(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    t = new_terminal(menv, tmp_path / "shop", coll.url, "SHOP-OP-1")
    w = menv.wallet()
    sync_once(t.data_dir, FAST)  # holds the current deny list: later ones come as deltas
    base = ["--db", coll.db_url, "--scheme", str(menv.scheme.dir), "--operator", "alice"]
    code, _doc, err = run_pos(
        ["collector", "deny", w.wallet_id.hex(), "--reason", "card reported stolen", *base], capsys
    )
    assert code == 0, err
    assert "installed" in sync_once(t.data_dir, FAST)["lists"]["deny"]
    t.terminal.keys = KeyStore.pinned(t.data_dir)
    assert t.pay(w, 100).reason == reasons.WALLET_DENIED
    # The wallet was found in a drawer: the operator undoes it; the terminal gets the full list.
    code, _doc, err = run_pos(
        ["collector", "reinstate", w.wallet_id.hex(), "--reason", "found, not stolen", *base], capsys
    )
    assert code == 0, err
    lists = sync_once(t.data_dir, FAST)["lists"]
    assert "installed" in lists["deny"] and "full" in lists["deny"]
    t.terminal.keys = KeyStore.pinned(t.data_dir)
    assert t.pay(w, 100).approved
    assert w.wallet_id not in view.denied()
    # Refusals: nothing to reinstate, no reason, no signer.
    code, _doc, err = run_pos(
        ["collector", "reinstate", w.wallet_id.hex(), "--reason", "again", *base], capsys
    )
    assert code == 2 and "not on the deny list" in err
    code, _doc, err = run_pos(["collector", "deny", w.wallet_id.hex(), "--reason", " ", *base], capsys)
    assert code == 2 and "--reason" in err
    code, last, _err = run_pos(["collector", "audit", "--db", coll.db_url, "--json"], capsys)
    assert code == 0 and last is not None and last["action"] == "reinstate"
    trail = list(audit.entries(view.db))
    mine = [a for a in trail if a["wallet_id"] == w.wallet_id.hex()]
    assert [(a["action"], a["who"], a["reason"]) for a in mine] == [
        ("deny", "alice", "card reported stolen"), ("reinstate", "alice", "found, not stolen"),
    ]  # fmt: skip
    assert mine[0]["deny_list_seq"] < mine[1]["deny_list_seq"]


def test_flags_show_in_export_terminal_status_and_metrics(
    menv: SchemeEnv, coll: CollectorProc, view: View, tmp_path: Path
):
    evil = Attacker(tmp_path / "evil", coll.url, "EVIL-FLAGS")
    w = menv.wallet()
    later = int(time.time()) + 3600
    evil.row(w.token(max_amount=100, now=later), at=later)
    assert verdicts(evil.send())[1] == ("stored", "refused:time_in_future")
    out = io.StringIO()
    export.write_jsonl(view.db, out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    (flag,) = [x for x in lines if x.get("flag") and x["terminal_id"] == evil.tid]
    assert flag["kind"] == "time_in_future" and flag["seq"] == 1 and flag["time"] == later
    assert flag["detail"]["wallet_id"] == w.wallet_id.hex()
    # The terminal reads its own status on a signed request; a stranger without the operator
    # token cannot.
    path = f"/v1/terminals/{evil.tid}"
    headers = list_auth_headers(evil.identity, evil.tid, path, int(time.time()))
    r = httpx.get(coll.url + path, headers=headers, trust_env=False)
    assert r.status_code == 200 and r.json()["flags_by_kind"] == {"time_in_future": 1}
    assert r.json()["flags"] == 1
    assert httpx.get(coll.url + path, trust_env=False).status_code == 401
    other = Attacker(tmp_path / "other", coll.url, "EVIL-OTHER")
    foreign = list_auth_headers(other.identity, other.tid, path, int(time.time()))
    assert httpx.get(coll.url + path, headers=foreign, trust_env=False).status_code == 401
    op = httpx.get(coll.url + path, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, trust_env=False)
    assert op.status_code == 200
    metrics = httpx.get(
        coll.url + "/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, trust_env=False
    )
    assert 'owt_collector_flags_total{kind="time_in_future"}' in metrics.text
    assert f'owt_collector_terminal_flags{{terminal="{evil.tid}"}} 1' in metrics.text
    assert p.HDR_TERMINAL  # the headers are the protocol's, not the test's

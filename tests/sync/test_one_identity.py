"""One identity (issue 11): the id fixed at enrollment is the one every journal row carries.

Before, a terminal without a config journaled under a key-derived id (``T-9E16...``) while the
collector filed its uploads under the enrolled id: two names for one terminal.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pos import reasons
from pos.decision import PaymentRequest
from pos.errors import ConfigError
from pos.identity import Identity
from pos.presentation import encode_text
from pos.sync.service import sync_once
from tests.conftest import run_pos
from tests.sync.harness import FAST, CollectorProc, SchemeEnv, View, new_terminal


def test_terminal_without_config_journals_under_its_enrolled_id(
    env: SchemeEnv, sqlite_collector: CollectorProc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = tmp_path / "till"
    t = new_terminal(env, data, sqlite_collector.url, "SHOP-7")
    key_derived = "T-" + Identity(data).fingerprint[:12].upper()
    assert t.terminal.default_terminal_id == "SHOP-7"
    t.close()
    w = env.wallet()
    token = encode_text(w.token(max_amount=100, now=env.now))
    code, doc, err = run_pos(
        [
            "accept",
            "--data-dir",
            str(data),
            "--trust-list",
            str(env.trust_list),
            "--currency",
            "EUR",
            "--amount",
            "100",
            "--now",
            str(env.now),
            token,
        ],
        capsys,
    )
    assert code == 0 and doc is not None and doc["decision"] == "approved", (doc, err)
    db = sqlite3.connect(data / "journal.db")
    try:
        assert db.execute("SELECT terminal_id FROM payments").fetchall() == [("SHOP-7",)]
    finally:
        db.close()
    assert sync_once(data, FAST, lists=False)["upload"]["verdicts"] == {"accepted": 1}
    view = View(sqlite_collector.db_url)
    try:
        assert [r[0] for r in view.entries()] == ["SHOP-7"]
    finally:
        view.close()
    # The terminal refuses to journal under any other name, and a config cannot rename it.
    ident = Identity(data)
    with pytest.raises(ConfigError):
        ident.resolve_terminal_id("SHOP-8")
    assert ident.resolve_terminal_id("SHOP-7") == ident.resolve_terminal_id(None) == "SHOP-7"
    t2 = new_terminal(env, data, None, "SHOP-7")
    request = PaymentRequest(amount=100, currency="EUR", now=env.now, terminal_id=key_derived)
    assert t2.terminal.accept_text(encode_text(w.token(max_amount=100, now=env.now)), request).reason == (
        reasons.TERMINAL_MISMATCH
    )
    t2.close()


def test_enrolled_data_dir_cannot_enrol_under_another_id(
    env: SchemeEnv, sqlite_collector: CollectorProc, tmp_path: Path
):
    from pos.sync.enroll import enroll
    from pos.sync.transport import SyncError
    from tests.sync.harness import OPERATOR_TOKEN

    t = new_terminal(env, tmp_path / "till", sqlite_collector.url, "SHOP-9")
    with pytest.raises(SyncError, match="enrolled as 'SHOP-9'"):
        enroll(t.data_dir, sqlite_collector.url, OPERATOR_TOKEN, "SHOP-10")
    t.close()

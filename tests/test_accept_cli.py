"""The headless ``pos accept`` contract (issue: core, section 6) through the real CLI."""

from __future__ import annotations

import json

from pos.presentation import encode_text
from tests.conftest import Demo, run_pos, run_pos_process


def test_qr_token_is_approved_then_replay_declined_across_calls(demo: Demo, capsys) -> None:
    wallet = demo.wallet()
    text = encode_text(wallet.token(max_amount=1000, now=demo.now))
    code, doc, _ = run_pos(demo.accept_args(text, 750), capsys)
    assert code == 0
    assert doc == {
        "decision": "approved", "reason": None, "amount": 750,
        "wallet_id": wallet.wallet_id.hex(), "counter": 1, "seq": 1,
    }  # fmt: skip
    code, doc, _ = run_pos(demo.accept_args(text, 750), capsys)
    assert code == 1
    assert doc is not None and doc["decision"] == "declined" and doc["reason"] == "replayed"
    assert doc["seq"] is None


def test_accept_reads_token_from_stdin_as_a_real_process(demo: Demo) -> None:
    text = encode_text(demo.wallet().token(max_amount=500, now=demo.now))
    proc = run_pos_process(demo.accept_args("-", 500), stdin=(text + "\r\n").encode())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.decode().splitlines()[-1])["decision"] == "approved"


def test_usage_error_exits_2(demo: Demo, capsys) -> None:
    code, _, err = run_pos(demo.accept_args("OWT1:", 0), capsys)
    assert code == 2
    assert "amount" in err


def test_accept_without_trust_list_uses_the_installed_lists(demo: Demo, capsys) -> None:
    first = encode_text(demo.wallet().token(max_amount=100, now=demo.now))
    assert run_pos(demo.accept_args(first, 100), capsys)[0] == 0  # installs the lists
    second = encode_text(demo.wallet().token(max_amount=100, now=demo.now))
    argv = ["accept", "--data-dir", str(demo.data_dir), "--currency", "EUR", "--amount", "100"]
    code, doc, _ = run_pos([*argv, "--now", str(demo.now), second], capsys)
    assert code == 0 and doc is not None and doc["decision"] == "approved"


def test_accept_without_any_trust_list_is_a_list_error(demo: Demo, capsys, tmp_path) -> None:
    text = encode_text(demo.wallet().token(max_amount=100, now=demo.now))
    argv = ["accept", "--data-dir", str(tmp_path / "new"), "--root-key", str(demo.root_key)]
    code, _doc, err = run_pos([*argv, "--currency", "EUR", "--amount", "100", text], capsys)
    assert code == 2 and "no trust list installed" in err

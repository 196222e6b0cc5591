"""``pos keys install | show`` and deny-list lookups (issue: core, section 3; SPEC 3.1)."""

from __future__ import annotations

import json
import os

from pos.sigs import load_pem_public_key
from pos.trust import parse_deny_list
from pos.wire.signing import sign1
from sim.scheme import Scheme
from tests.conftest import Demo, run_pos


def install_args(demo: Demo, *extra: str) -> list[str]:
    return ["keys", "install", "--data-dir", str(demo.data_dir), "--root-key", str(demo.root_key), *extra]


def test_install_then_show_reports_seq_and_issuers(demo: Demo, capsys) -> None:
    code, _, _ = run_pos(
        install_args(demo, "--trust-list", str(demo.trust_list), "--deny-list", str(demo.deny_list)), capsys
    )
    assert code == 0
    code, doc, _ = run_pos(
        ["keys", "show", "--data-dir", str(demo.data_dir), "--json", "--now", str(demo.now)], capsys
    )
    assert code == 0 and doc is not None
    assert doc["trust_list"]["seq"] == 1 and doc["trust_list"]["stale"] is False
    assert {i["name"] for i in doc["trust_list"]["issuers"]} == {"ed", "es"}
    assert doc["deny_list"]["denied"] == 0


def test_rollback_is_refused_and_the_cached_list_stays(demo: Demo, capsys) -> None:
    newer = demo.dir / "tl2.cose"
    newer.write_bytes(demo.scheme.trust_list(iat=demo.now))
    assert run_pos(install_args(demo, "--trust-list", str(newer)), capsys)[0] == 0
    code, _, err = run_pos(install_args(demo, "--trust-list", str(demo.trust_list)), capsys)
    assert code == 2 and "lower than cached seq" in err
    _, doc, _ = run_pos(["keys", "show", "--data-dir", str(demo.data_dir), "--json"], capsys)
    assert doc is not None and doc["trust_list"]["seq"] == 2


def test_list_signed_by_another_root_is_refused(demo: Demo, capsys) -> None:
    other = Scheme.init(demo.dir / "other")
    forged = demo.dir / "forged.cose"
    forged.write_bytes(other.trust_list(seq=99))
    code, _, err = run_pos(install_args(demo, "--trust-list", str(forged)), capsys)
    assert code == 2 and "signature does not verify" in err


def test_a_different_root_key_for_a_provisioned_data_dir_is_refused(demo: Demo, capsys) -> None:
    assert run_pos(install_args(demo, "--trust-list", str(demo.trust_list)), capsys)[0] == 0
    other = Scheme.init(demo.dir / "other")
    tl = demo.dir / "other.cose"
    tl.write_bytes(other.trust_list())
    argv = ["keys", "install", "--data-dir", str(demo.data_dir), "--root-key", str(other.root_pem_path)]
    code, _, err = run_pos([*argv, "--trust-list", str(tl)], capsys)
    assert code == 2 and "pinned" in err


def test_garbage_list_file_is_a_clear_error(demo: Demo, capsys) -> None:
    junk = demo.dir / "junk.cose"
    junk.write_bytes(os.urandom(300))
    code, _, err = run_pos(install_args(demo, "--trust-list", str(junk)), capsys)
    assert code == 2 and "trust list" in err


def test_deny_list_lookup_finds_every_id_and_no_other(demo: Demo) -> None:
    ids = sorted(os.urandom(8) for _ in range(20_000))
    raw = sign1({0: 2, 1: demo.now, 2: demo.now + 3600, 3: 7, 5: ids}, demo.scheme.root)
    dl = parse_deny_list(raw, load_pem_public_key(demo.root_key.read_bytes()))
    assert len(dl) == 20_000
    assert all(dl.contains(i) for i in ids[::97])
    assert not any(dl.contains(os.urandom(8)) for _ in range(2000))
    assert not dl.contains(b"short")


def test_unsorted_deny_list_is_refused(demo: Demo, capsys) -> None:
    ids = sorted(os.urandom(8) for _ in range(10))
    ids[3], ids[4] = ids[4], ids[3]
    bad = demo.dir / "dl.cose"
    bad.write_bytes(sign1({0: 2, 1: demo.now, 2: demo.now + 3600, 3: 9, 5: ids}, demo.scheme.root))
    code, _, err = run_pos(
        install_args(demo, "--trust-list", str(demo.trust_list), "--deny-list", str(bad)), capsys
    )
    assert code == 2 and "sorted" in err


def test_journal_export_lists_payments_as_json_lines(demo: Demo, capsys) -> None:
    from pos.presentation import encode_text

    wallet = demo.wallet()
    for amount in (120, 340):
        run_pos(demo.accept_args(encode_text(wallet.token(max_amount=amount, now=demo.now)), amount), capsys)
    assert run_pos(["journal", "export", "--data-dir", str(demo.data_dir)], capsys)[0] == 0
    # run_pos consumed the output; run again and parse every line
    from ui.cli import main

    main(["journal", "export", "--data-dir", str(demo.data_dir)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["seq"], r["amount"], r["state"], r["mode"]) for r in rows] == [
        (1, 120, "pending", "qr"),
        (2, 340, "pending", "qr"),
    ]
    assert {"seq", "time", "wallet_id", "counter", "amount", "currency", "mode", "state"} <= rows[0].keys()

"""``pos receipt verify`` and ``pos receipt show`` as the real console script (issue 6, Receipts):
exit 0 valid with the signer checked, 3 intact but the signer not checked (issue 11, Receipts),
1 invalid / forged / unreadable, 2 usage; the output says whether the signer's key was checked
and against what. ``--collector-db`` reads the collector's database without changing it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from collector.db import Database
from drivers.printer.escpos_out import qr_image
from pos import chain, receipt
from pos.identity import Identity
from pos.presentation import encode_text
from tests.conftest import Demo, run_pos, run_pos_process


def pos(*argv: str) -> tuple[int, str, str]:
    done = run_pos_process(list(argv))
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.fixture
def paid(demo: Demo, capsys: pytest.CaptureFixture[str]) -> tuple[Demo, str]:
    """A terminal with one approved payment of EUR 12.50, and its receipt text from ``show``."""
    token = encode_text(demo.wallet().token(max_amount=5000, now=demo.now))
    code, doc, _ = run_pos(demo.accept_args(token, 1250), capsys)
    assert code == 0 and doc is not None
    code, out, err = pos("receipt", "show", "--data-dir", str(demo.data_dir), "--qr-text")
    assert code == 0, err
    text = out.strip()
    assert text.startswith("OWR1:")
    return demo, text


def test_receipt_whose_signer_was_not_checked_exits_3_and_says_so(paid: tuple[Demo, str]) -> None:
    _demo, text = paid
    code, out, _ = pos("receipt", "verify", text)
    assert code == 3
    assert out.startswith("INTACT receipt, signer NOT checked") and "VALID" not in out
    assert "EUR 12.50" in out and "number 1 in the terminal's journal" in out
    assert "NOT checked" in out and "--data-dir" in out


def test_verify_against_the_terminal_identity_and_given_keys(paid: tuple[Demo, str], tmp_path: Path) -> None:
    demo, text = paid
    code, out, _ = pos("receipt", "verify", text, "--data-dir", str(demo.data_dir))
    assert code == 0 and "checked: it is the identity key of the terminal in" in out
    raw = receipt.terminal_key(demo.data_dir)
    code, out, _ = pos("receipt", "verify", text, "--key", raw.hex())
    assert code == 0 and "checked: it is the key given with --key" in out
    pem = tmp_path / "terminal.pem"
    ident = Identity(demo.data_dir)
    pem.write_bytes(
        ident.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert pos("receipt", "verify", text, "--key", f"@{pem}")[0] == 0


def test_receipt_checked_against_another_terminal_is_invalid(paid: tuple[Demo, str], tmp_path: Path) -> None:
    _demo, text = paid
    other = Identity(tmp_path)
    code, out, _ = pos("receipt", "verify", text, "--key", other.public_raw.hex())
    assert code == 1 and out.startswith("INVALID receipt") and "not this terminal's receipt" in out


def test_tampered_truncated_and_foreign_texts_are_invalid(paid: tuple[Demo, str]) -> None:
    demo, text = paid
    token = encode_text(demo.wallet().token(max_amount=100, now=demo.now))
    flipped = text[:40] + ("0" if text[40] != "0" else "1") + text[41:]
    for given, words in [
        (flipped, "INVALID receipt"),
        (text[:-5], "INVALID receipt"),
        (token, "payment token, not a receipt"),
        ("hello", "must start with OWR1:"),
    ]:
        code, out, _ = pos("receipt", "verify", given)
        assert code == 1 and words in out, (given, out)


def test_verify_reads_a_picture_of_the_qr_code(paid: tuple[Demo, str], tmp_path: Path) -> None:
    demo, text = paid
    picture = tmp_path / "receipt.png"
    qr_image(text, scale=5).save(picture)
    code, out, _ = pos("receipt", "verify", f"@{picture}", "--data-dir", str(demo.data_dir))
    assert code == 0 and "checked" in out and "EUR 12.50" in out
    token_picture = tmp_path / "token.png"
    qr_image(encode_text(demo.wallet().token(max_amount=100, now=demo.now)), scale=5).save(token_picture)
    code, out, _ = pos("receipt", "verify", f"@{token_picture}")
    assert code == 1 and "payment token" in out
    blank = tmp_path / "blank.png"
    qr_image("x").resize((400, 400)).crop((0, 0, 10, 10)).save(blank)
    code, out, _ = pos("receipt", "verify", f"@{blank}")
    assert code == 1 and "no QR code" in out


def test_verify_reads_text_files_and_standard_input(paid: tuple[Demo, str], tmp_path: Path) -> None:
    _demo, text = paid
    saved = tmp_path / "receipt.txt"
    saved.write_text(text + "\n")
    assert pos("receipt", "verify", f"@{saved}")[0] == 3  # intact, signer not checked
    done = run_pos_process(["receipt", "verify", "-"], stdin=text.encode() + b"\n")
    assert done.returncode == 3


def test_usage_errors_exit_2(paid: tuple[Demo, str], tmp_path: Path) -> None:
    demo, text = paid
    assert pos("receipt", "verify")[0] == 2
    assert pos("receipt", "verify", text, "--key", "00", "--data-dir", str(demo.data_dir))[0] == 2
    code, _, err = pos("receipt", "verify", text, "--key", "abcd")
    assert code == 2 and "32 bytes" in err
    code, _, err = pos("receipt", "verify", text, "--data-dir", str(tmp_path / "none"))
    assert code == 2 and "no terminal identity" in err
    assert pos("receipt", "verify", f"@{tmp_path / 'missing.txt'}")[0] == 2
    assert pos("receipt", "show", "--data-dir", str(tmp_path / "none"))[0] == 2
    assert pos("receipt", "show", "--data-dir", str(demo.data_dir), "--printer", "nonsense")[0] == 2


def test_verify_against_the_collector_enrolment(paid: tuple[Demo, str], tmp_path: Path) -> None:
    demo, text = paid
    tid = receipt.verify_receipt(text).fields.terminal_id
    url = f"sqlite:///{tmp_path / 'collector.db'}"
    db = Database(url)
    with db.write() as tx:
        tx.execute(
            "INSERT INTO terminals (terminal_id, public_key, enrolled_at, last_seq, last_hash)"
            " VALUES (?, ?, 0, 0, ?)",
            (tid, receipt.terminal_key(demo.data_dir), chain.GENESIS),
        )
    db.close()
    code, out, _ = pos("receipt", "verify", text, "--collector-db", url)
    assert code == 0 and f"the key the collector enrolled for terminal {tid}" in out
    other = f"sqlite:///{tmp_path / 'other.db'}"
    Database(other).close()
    code, out, _ = pos("receipt", "verify", text, "--collector-db", other)
    assert code == 1 and "not enrolled" in out
    assert pos("receipt", "verify", text, "--collector-db", f"sqlite:///{tmp_path / 'none.db'}")[0] == 2


def test_show_prints_the_receipt_or_sends_it_to_a_printer(paid: tuple[Demo, str], tmp_path: Path) -> None:
    demo, text = paid
    code, out, _ = pos("receipt", "show", "--data-dir", str(demo.data_dir))
    assert code == 0 and "APPROVED" in out and "EUR 12.50" in out and text in out
    target = tmp_path / "paper.bin"
    code, _, err = pos(
        "receipt", "show", "--data-dir", str(demo.data_dir), "--seq", "1", "--printer", f"file:{target}"
    )
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x1b@") and text.encode() in target.read_bytes()
    code, _, err = pos("receipt", "show", "--data-dir", str(demo.data_dir), "--seq", "7")
    assert code == 1 and "no payment with seq 7" in err


def test_collector_db_is_read_without_being_changed(paid: tuple[Demo, str], tmp_path: Path) -> None:
    """A database holding only the enrolments (no collector schema, rollback journal): a reader
    that wrote would add the schema or switch it to WAL; the file must stay byte for byte."""
    demo, text = paid
    tid = receipt.verify_receipt(text).fields.terminal_id
    path = tmp_path / "enrolments.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE terminals (terminal_id TEXT PRIMARY KEY, public_key BLOB NOT NULL)")
    conn.execute("INSERT INTO terminals VALUES (?, ?)", (tid, receipt.terminal_key(demo.data_dir)))
    conn.commit()
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    code, out, err = pos("receipt", "verify", text, "--collector-db", f"sqlite:///{path}")
    assert code == 0 and "checked: it is the key the collector enrolled" in out, err
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("enrolments")) == ["enrolments.db"]


@pytest.mark.parametrize("t", [2**64 - 1, 2**40])
def test_receipt_dated_past_the_calendar_is_described_not_a_crash(tmp_path: Path, t: int) -> None:
    """Found by ``scripts/fuzz receipt``: anyone signs a receipt with its own key, at any uint64
    time; printing its date raised OverflowError (or ValueError: year out of range)."""
    fields = receipt.ReceiptFields("SHOP-7", 1, t, 1250, "EUR", bytes(8), 1, None)
    text = receipt.make_receipt(fields, Identity(tmp_path)).text
    code, out, err = pos("receipt", "verify", text)
    assert code == 3, err  # intact, its signer not checked (no key given)
    assert out.startswith("INTACT receipt") and f"{t}" in out

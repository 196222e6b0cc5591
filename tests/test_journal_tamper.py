"""``pos journal verify`` against a journal edited behind the terminal's back.

A real journal of 40 payments (signed heads at 16 and 32 in the database, the shutdown head at
40 in the database and in ``journal.head``) is copied per test and tampered with through
sqlite3 on the file or by editing the head file. Each tampering must give exit 1 and
``journal verify: FAILED at seq N: ...`` naming the first bad seq; the untouched copy gives exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos import chain, sigs
from pos.decision import PaymentRequest
from pos.journal import DB_FILE, HEAD_FILE
from pos.keystore import KeyStore
from pos.sealing import Sealer
from pos.sigs import ALG_EDDSA, ALG_ES256
from pos.terminal import Terminal
from sim.scheme import Scheme
from sim.wallet import Wallet
from tests.procs import harness
from ui.cli import main as pos_main

Capsys = pytest.CaptureFixture[str]
N_ROWS = 40
HEAD_EVERY = 16


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed journal of 40 payments from 10 wallets, built once per module."""
    base = tmp_path_factory.mktemp("tamper")
    now = int(time.time())
    scheme = Scheme.init(base / "scheme")
    scheme.add_issuer("ed", ALG_EDDSA)
    scheme.add_issuer("es", ALG_ES256)
    data = base / "data"
    store = KeyStore(data, sigs.load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list(iat=now - 60))
    terminal = Terminal(data, store, head_every=HEAD_EVERY)
    wallets = [
        Wallet.issue(scheme.issuer("es" if i % 3 == 0 else "ed"), ALG_ES256 if i % 3 == 0 else ALG_EDDSA)
        for i in range(10)
    ]
    for i in range(N_ROWS):
        text = wallets[i % 10].qr_text(1000, now=now)
        d = terminal.accept_text(text, PaymentRequest(100 + i, "EUR", now, terminal.default_terminal_id))
        assert d.approved and d.seq == i + 1, d
    terminal.close(now)  # signs the head at 40 and writes journal.head
    assert not (data / "journal.db-wal").exists()
    return data


@pytest.fixture
def journal(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(template, copy)
    return copy


def verify(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = pos_main(["journal", "verify", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out + err


# -- tampering tools ---------------------------------------------------------------------------


def sql(data_dir: Path, statement: str, *params: object) -> None:
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        # An attacker with the file is not stopped by the schema's CHECK constraints: neither are we.
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute(statement, params)
        db.commit()
    finally:
        db.close()


def fetch(data_dir: Path, statement: str, *params: object) -> list[tuple]:  # type: ignore[type-arg]
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        return db.execute(statement, params).fetchall()
    finally:
        db.close()


_FIELDS = "seq, time, kind, wallet_id, counter, amount, currency, mode, terminal_id, token_digest, prev_hash"


def chain_row(rec: tuple, prev_hash: bytes | None = None) -> chain.Row:  # type: ignore[type-arg]
    """The chain fields of a stored row (counters are stored as 8-byte big-endian blobs)."""
    seq, time, kind, wallet_id, counter, amount, currency, mode, tid, digest, prev = rec
    counter = int.from_bytes(counter, "big") if isinstance(counter, bytes) else counter
    prev = prev if prev_hash is None else prev_hash
    return chain.Row(seq, time, kind, wallet_id, counter, amount, currency, mode, tid, digest, prev)


def rehash(data_dir: Path, first: int) -> None:
    """What a forger without the terminal's key can do: recompute the chain from ``first`` on."""
    rows = fetch(data_dir, f"SELECT {_FIELDS} FROM payments WHERE seq >= ? ORDER BY seq", first)
    prev = fetch(data_dir, "SELECT hash FROM payments WHERE seq = ?", first - 1)
    prev_hash = prev[0][0] if prev else chain.GENESIS
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        for rec in rows:
            row = chain_row(rec, prev_hash)
            db.execute(
                "UPDATE payments SET prev_hash = ?, hash = ? WHERE seq = ?", (prev_hash, row.hash(), rec[0])
            )
            prev_hash = row.hash()
        db.commit()
    finally:
        db.close()


def row_hash(data_dir: Path, seq: int) -> bytes:
    return bytes(fetch(data_dir, "SELECT hash FROM payments WHERE seq = ?", seq)[0][0])


def edit_head_file(data_dir: Path, **changes: str) -> None:
    doc = json.loads((data_dir / HEAD_FILE).read_text())
    doc.update(changes)
    (data_dir / HEAD_FILE).write_text(json.dumps(doc))


def flip(hex_text: str) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[0] ^= 1
    return raw.hex()


def swap_rows(d: Path, a: int, b: int) -> None:
    sql(d, "UPDATE payments SET seq = -1 WHERE seq = ?", a)
    sql(d, "UPDATE payments SET seq = ? WHERE seq = ?", a, b)
    sql(d, "UPDATE payments SET seq = ? WHERE seq = -1", b)


def move_ciphertext(d: Path) -> None:
    ct = fetch(d, "SELECT token_ct FROM payments WHERE seq = 13")[0][0]
    sql(d, "UPDATE payments SET token_ct = ? WHERE seq = 12", ct)


def reseal_other_token(d: Path) -> None:
    """Even with the AES key: a validly sealed token that is not the row's token."""
    sealer = Sealer(d)
    other = sealer.open(13, fetch(d, "SELECT token_ct FROM payments WHERE seq = 13")[0][0])
    sql(d, "UPDATE payments SET token_ct = ? WHERE seq = 12", sealer.seal(12, other))


def rewrite_from_20(d: Path, *, drop_db_heads: bool) -> None:
    sql(d, "UPDATE payments SET amount = 1 WHERE seq = 20")
    rehash(d, 20)
    if drop_db_heads:
        sql(d, "DELETE FROM heads WHERE seq >= 20")


def resign_head_file_with_own_key(d: Path) -> None:
    forger = ed25519.Ed25519PrivateKey.generate()
    msg = chain.head_message(N_ROWS, row_hash(d, N_ROWS))
    pub = forger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    edit_head_file(d, sig=forger.sign(msg).hex(), key=pub.hex())


def cut_tail(d: Path, first: int) -> None:
    sql(d, "DELETE FROM payments WHERE seq >= ?", first)
    sql(d, "DELETE FROM heads WHERE seq >= ?", first)


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[Path], None]
    seq: int
    what: str


def run(statement: str, *params: object) -> Callable[[Path], None]:
    return lambda d: sql(d, statement, *params)


def edit(column_set: str, seq: int, *params: object) -> Callable[[Path], None]:
    return run(f"UPDATE payments SET {column_set} WHERE seq = {seq}", *params)


def rehash_one(d: Path, seq: int) -> None:
    row = chain_row(fetch(d, f"SELECT {_FIELDS} FROM payments WHERE seq = ?", seq)[0])
    sql(d, "UPDATE payments SET hash = ? WHERE seq = ?", row.hash(), seq)


def forge_head_file_sig(d: Path) -> None:
    edit_head_file(d, sig=flip(json.loads((d / HEAD_FILE).read_text())["sig"]))


CASES = [
    Case("amount edited", edit("amount = amount + 1", 7), 7, "edited"),
    Case("wallet id edited", edit("wallet_id = ?", 9, os.urandom(8)), 9, "edited"),
    Case("counter edited", edit("counter = ?", 11, (999).to_bytes(8, "big")), 11, "edited"),
    Case("time edited", edit("time = time - 86400", 3), 3, "edited"),
    Case("currency edited", edit("currency = 'USD'", 25), 25, "edited"),
    Case("terminal id edited", edit("terminal_id = 'T-X'", 30), 30, "edited"),
    Case("token digest edited", edit("token_digest = ?", 2, bytes(32)), 2, "edited"),
    Case("middle row deleted", run("DELETE FROM payments WHERE seq = 20"), 20, "row missing"),
    Case("first row deleted", run("DELETE FROM payments WHERE seq = 1"), 1, "row missing"),
    Case("last row deleted, its signed head left in the database", run("DELETE FROM payments WHERE seq = 40"),
         40, "signed head at seq 40 has no row"),
    Case("last row and its database head deleted: journal.head has a higher seq", lambda d: cut_tail(d, 40),
         40, "tail cut: journal.head was signed at seq 40"),
    Case("six last rows and their heads cut", lambda d: cut_tail(d, 35), 35, "tail cut"),
    Case("every row and head deleted", lambda d: cut_tail(d, 1), 1, "tail cut"),
    Case("rows 5 and 6 swapped", lambda d: swap_rows(d, 5, 6), 5, "edited"),
    Case("token ciphertext moved from row 13 to row 12", move_ciphertext, 12, "does not decrypt"),
    Case("token ciphertext replaced by random bytes", edit("token_ct = ?", 12, os.urandom(200)), 12,
         "does not decrypt"),
    Case("token resealed with the right key around another token", reseal_other_token, 12,
         "stored token does not match its digest"),
    Case("prev_hash edited", edit("prev_hash = ?", 10, bytes(32)), 10, "edited"),
    Case("prev_hash edited and that row's hash recomputed",
         lambda d: (edit("prev_hash = ?", 10, bytes(32))(d), rehash_one(d, 10)), 10,
         "prev_hash is not the previous row's hash"),
    Case("amount edited and the chain recomputed from there: the next signed head",
         lambda d: rewrite_from_20(d, drop_db_heads=False), 32, "row hash differs from its signed head"),
    Case("... and the database heads deleted too: journal.head",
         lambda d: rewrite_from_20(d, drop_db_heads=True), 40, "row hash differs from journal.head"),
    Case("head signature in the database forged", run("UPDATE heads SET sig = ? WHERE seq = 16", bytes(64)),
         16, "head signature does not verify"),
    Case("head hash in the database edited", run("UPDATE heads SET hash = ? WHERE seq = 32", bytes(32)), 32,
         "row hash differs from its signed head"),
    Case("journal.head signature forged", forge_head_file_sig, 40, "journal.head signature does not verify"),
    Case("journal.head re-signed by another key, that key written inside", resign_head_file_with_own_key, 40,
         "journal.head signature does not verify"),
    Case("journal.head deleted", lambda d: (d / HEAD_FILE).unlink(), 1, "journal.head is missing"),
    Case("journal.head replaced by garbage", lambda d: (d / HEAD_FILE).write_text("{not json"), 40,
         "journal.head unreadable"),
]  # fmt: skip


def test_untouched_journal_of_many_payments_verifies(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = fetch(journal, "SELECT count(*) FROM payments")[0][0]
    heads = [s for (s,) in fetch(journal, "SELECT seq FROM heads ORDER BY seq")]
    assert rows == N_ROWS > HEAD_EVERY and heads == [16, 32, 40]
    assert json.loads((journal / HEAD_FILE).read_text())["seq"] == N_ROWS
    code, out = verify(journal, capsys)
    assert (code, out.strip()) == (0, f"journal verify: OK, {N_ROWS} rows, chain and signed heads hold")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verify_names_the_first_bad_seq(
    journal: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    case.tamper(journal)
    code, out = verify(journal, capsys)
    assert code == 1, out
    assert out.startswith(f"journal verify: FAILED at seq {case.seq}: "), out
    assert case.what in out, out


def test_real_process_verify_exit_codes(journal: Path) -> None:
    proc = harness.verify_cli(journal)
    assert proc.returncode == 0 and f"OK, {N_ROWS} rows" in proc.stdout, proc.stdout + proc.stderr
    sql(journal, "UPDATE payments SET amount = 1 WHERE seq = 33")
    proc = harness.verify_cli(journal)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "journal verify: FAILED at seq 33: row fields do not match its hash (edited)" in proc.stdout


def test_deleted_token_of_a_pending_payment_is_caught(journal: Path, capsys: Capsys) -> None:
    assert fetch(journal, "SELECT state FROM payments WHERE seq = 12") == [(0,)]  # pending
    sql(journal, "UPDATE payments SET token_ct = NULL WHERE seq = 12")
    code, out = verify(journal, capsys)
    assert (code, out.split(":")[1].strip()) == (1, "FAILED at seq 12"), out


def test_non_canonical_counter_encoding_is_caught(journal: Path, capsys: Capsys) -> None:
    stored = fetch(journal, "SELECT counter FROM payments WHERE seq = 11")[0][0]
    assert len(stored) == 8
    sql(journal, "UPDATE payments SET counter = ? WHERE seq = 11", stored.lstrip(b"\0") or b"\0")
    code, out = verify(journal, capsys)
    assert (code, out.split(":")[1].strip()) == (1, "FAILED at seq 11"), out


@pytest.mark.parametrize("column, value", [("counter", 11), ("token_ct", "not a blob")])
def test_a_column_of_another_type_is_reported_not_a_crash(
    journal: Path, capsys: Capsys, column: str, value: object
) -> None:
    sql(journal, f"UPDATE payments SET {column} = ? WHERE seq = 11", value)
    code, out = verify(journal, capsys)
    assert (code, out.split(":")[1].strip()) == (1, "FAILED at seq 11"), out


def test_a_re_encoded_counter_is_flagged_before_it_can_pass_for_history(
    journal: Path, capsys: Capsys
) -> None:
    """Whoever can write the journal file can also delete a row and replay its token: no terminal
    prevents that alone. What must hold is that the edit shows: a re-encoded counter (which would
    slip past the 8-byte replay key) fails ``journal verify`` at its seq, and the schema's CHECK
    refuses it to anyone not deliberately switching constraints off."""
    stored = fetch(journal, "SELECT counter FROM payments WHERE seq = 11")[0][0]
    db = sqlite3.connect(journal / DB_FILE)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            db.execute("UPDATE payments SET counter = ? WHERE seq = 11", (stored.lstrip(b"\0") or b"\0",))
    finally:
        db.close()
    sql(journal, "UPDATE payments SET counter = ? WHERE seq = 11", stored.lstrip(b"\0") or b"\0")
    code, out = verify(journal, capsys)
    assert (code, out.split(":")[1].strip()) == (1, "FAILED at seq 11"), out

"""The `pos accept` contract around SPEC 2 and 3.5: token inputs (text, @PATH, stdin; SPEC 2's line
terminators), the JSON decision line and the exit codes."""

from __future__ import annotations

import io
import sys

import pytest

from tests.conftest import run_pos
from tests.spec.owt import Nfc, qr_text
from tests.spec.terminal import Result, Term, assert_approved, assert_declined

FIELDS = {"decision", "reason", "amount", "wallet_id", "counter", "seq"}


def test_approved_json_fields(term: Term) -> None:
    """SPEC 3 / contract: an approval prints decision, reason null, the charged amount, the wallet id
    (hex), the counter and the terminal's sequence number; exit 0."""
    w = term.wallet()
    r = term.accept(w.token(term.now, amount=5000, counter=42), 1234)
    assert_approved(r)
    assert r.doc is not None and FIELDS <= set(r.doc), str(r)
    assert r.doc["amount"] == 1234
    assert str(r.doc["wallet_id"]).lower() == w.wallet_id.hex()
    assert r.doc["counter"] == 42
    assert isinstance(r.doc["seq"], int) and not isinstance(r.doc["seq"], bool)


def test_sequence_number_increases_with_each_approval(term: Term) -> None:
    """SPEC 3.4: each accepted payment is stored with the terminal's sequence number; they grow."""
    w = term.wallet()
    seqs = []
    for _ in range(3):
        r = term.accept(w.token(term.now), 100)
        assert_approved(r)
        assert r.doc is not None
        seqs.append(r.doc["seq"])
    declined = term.accept("OWT1:", 100)
    assert_declined(declined, "malformed")
    r = term.accept(w.token(term.now), 100)
    assert r.doc is not None
    seqs.append(r.doc["seq"])
    assert seqs == sorted(set(seqs)), seqs


def test_declined_json_fields(term: Term) -> None:
    """SPEC 3.5: a decline prints one reason code; seq is null; exit 1. The wallet id, when given,
    is the token's (hex)."""
    w = term.wallet()
    token = w.token(term.now, counter=8)
    assert_approved(term.accept(token, 1000))
    r = term.accept(token, 700)
    assert_declined(r, "replayed")
    assert r.doc is not None and FIELDS <= set(r.doc), str(r)
    assert r.doc["amount"] == 700 and r.doc["seq"] is None
    assert r.doc["wallet_id"] in (None, w.wallet_id.hex(), w.wallet_id.hex().upper())
    assert r.doc["counter"] in (None, 8)


def test_garbage_declines_with_null_wallet_and_counter(term: Term) -> None:
    """SPEC 3.5: nothing is known about the wallet of an unreadable token."""
    r = term.accept("OWT1:ZZZ", 1000)
    assert_declined(r, "malformed")
    assert r.doc is not None and FIELDS <= set(r.doc)
    assert r.doc["wallet_id"] is None and r.doc["counter"] is None and r.doc["seq"] is None


def test_nfc_approval_reports_the_requested_amount(term: Term) -> None:
    """SPEC 3.2 NFC mode: the amount charged is label 13, equal to the request."""
    w = term.wallet()
    nfc = Nfc(4321)
    r = term.accept(w.token(term.now, nfc=nfc), 4321, nfc=nfc)
    assert_approved(r)
    assert r.doc is not None and r.doc["amount"] == 4321


@pytest.mark.parametrize("ending", ["", "\n", "\r\n", "\r"])
def test_token_from_file_with_serial_line_terminator(term: Term, ending: str) -> None:
    """SPEC 2: the serial text is one line, terminated by CR, LF or CR LF (`@PATH` holds the text)."""
    w = term.wallet()
    path = term.file((qr_text(w.token(term.now)) + ending).encode(), ".txt")
    assert_approved(term.accept(f"@{path}", 1000))


def test_token_from_standard_input(term: Term, monkeypatch: pytest.MonkeyPatch) -> None:
    """Contract: TOKEN `-` reads the text from standard input (a serial line, LF-terminated)."""
    w = term.wallet()
    data = (qr_text(w.token(term.now)) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="ascii"))
    r = Result(*run_pos(term.args("-", 1000), term.capsys))
    assert_approved(r)


def test_file_with_binary_garbage_is_malformed(term: Term) -> None:
    """SPEC 3: bad input of any size or shape is a decline, never a crash."""
    path = term.file(bytes(range(256)) * 4, ".bin")
    r = term.accept(f"@{path}", 1000)
    assert_declined(r, "malformed")


def test_file_with_two_lines_is_not_two_payments(term: Term) -> None:
    """SPEC 2: a presentation is one line. Ambiguity: a second line after the terminator may be
    refused (`malformed`) or ignored; it must never approve two payments."""
    w = term.wallet()
    first, second = qr_text(w.token(term.now, counter=1)), qr_text(w.token(term.now, counter=2))
    path = term.file(f"{first}\n{second}\n".encode(), ".txt")
    r = term.accept(f"@{path}", 1000)
    assert (r.code, r.reason) in ((0, None), (1, "malformed")), str(r)
    # whichever happened, counter 2 has not been spent
    assert_approved(term.accept(w.token(term.now, counter=2), 1000))


def test_multi_megabyte_input_is_malformed_not_a_crash(term: Term) -> None:
    """SPEC 3: bad input of any size is a decline, never a crash (4 MB of base45 text)."""
    path = term.file(b"OWT1:" + b"A" * (4 * 1024 * 1024 - 5), ".txt")
    assert_declined(term.accept(f"@{path}", 1000), "malformed")

"""The operator PIN (a scrypt hash, constant-time check, lock after five misses) and the audit log
(append-only JSON lines, never a PIN)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ui.runtime.operator import LOCK_S, MAX_FAILURES, OperatorLog, OperatorPin, PinError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def test_pin_is_stored_as_scrypt_and_checked(tmp_path: Path) -> None:
    pin = OperatorPin(tmp_path, Clock())
    assert not pin.is_set()
    with pytest.raises(PinError):
        pin.check("1234")
    with pytest.raises(PinError):
        pin.set_pin("12a4")
    pin.set_pin("480516")
    doc = json.loads(pin.path.read_text())
    assert doc["alg"] == "scrypt" and len(bytes.fromhex(doc["salt"])) == 16
    assert "480516" not in pin.path.read_text()
    assert pin.path.stat().st_mode & 0o077 == 0
    assert pin.check("480516").ok
    assert not pin.check("480517").ok
    assert not pin.check("４８０５１６").ok  # full-width digits are not the PIN


def test_five_wrong_pins_lock_even_the_right_one(tmp_path: Path) -> None:
    clock = Clock()
    pin = OperatorPin(tmp_path, clock)
    pin.set_pin("2468")
    results = [pin.check("0000") for _ in range(MAX_FAILURES)]
    assert [r.failures for r in results[:-1]] == [1, 2, 3, 4]
    assert results[-1].locked_for == LOCK_S
    assert not pin.check("2468").ok
    clock.now += LOCK_S
    assert pin.check("2468").ok


def test_audit_log_appends_json_lines(tmp_path: Path) -> None:
    clock = Clock()
    audit = OperatorLog(tmp_path, "T-1", clock)
    audit.record("void", seq=4, amount=250)
    clock.now += 5
    audit.record("void", ok=False, seq=5, error="refused")
    with audit.path.open("a") as fh:
        fh.write('{"torn')  # a power cut mid-line
    entries = list(audit.entries())
    assert entries == [
        {"time": 1_000, "terminal_id": "T-1", "action": "void", "ok": True, "seq": 4, "amount": 250},
        {"time": 1_005, "terminal_id": "T-1", "action": "void", "ok": False, "seq": 5, "error": "refused"},
    ]

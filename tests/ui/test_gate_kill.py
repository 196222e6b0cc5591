"""kill -9 of a real gate between the durable commit and the relay (issue 6): the payment stands,
and the gate never opens twice for it.

A real ``pos run --headless`` process drives a real LCUS relay driver (drivers/relay.py) on a pty
whose master side this test reads, and takes tokens from a serial scanner on another pty. The
kill is aimed like tests/procs aims its kills: instead of racing a window of microseconds, the
gate stops itself there (test-only stop points put around the relay by
tests/procs/gate_stop_point.py: ``AFTER_COMMIT`` right after accept returned approved, before
the relay write; ``AFTER_RELAY`` right after it), the test sees the process stopped and
SIGKILLs it. Then the gate is restarted on the same data dir and the same token (and a fresh
one from the same wallet) is presented again.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

from drivers.relay import lcus_frame
from pos.journal import DB_FILE
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from sim.wallet import Wallet
from tests.conftest import Demo, run_pos_process
from tests.ui.test_run_sync import GateProc, Scanner

STOP_POINT = Path(__file__).resolve().parents[1] / "procs" / "gate_stop_point.py"

pytestmark = pytest.mark.timeout(90)

ON, OFF = lcus_frame(1, True), lcus_frame(1, False)
FARE = 250


class RelayPty:
    """The relay's serial line: the gate writes LCUS frames to the slave, we read the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # raw bytes through (no output processing), before the gate opens it
        self.path = os.ttyname(self.slave)
        self.bytes = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                with self._lock:
                    self.bytes += data

    def ons(self, settle_s: float = 0.3) -> int:
        time.sleep(settle_s)  # anything written is on the master side well within this
        with self._lock:
            return bytes(self.bytes).count(ON)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)


def provision(demo: Demo) -> Path:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    store.install_deny_list(demo.deny_list.read_bytes())
    return demo.data_dir


def write_config(path: Path, demo: Demo, scanner: str, relay: str) -> Path:
    lines = [
        "[terminal]", 'id = "GATE-K1"', 'currency = "EUR"', f'data_dir = "{demo.data_dir}"',
        "[ui]", 'mode = "gate"', "read_slice_s = 0.1",
        "[gate]", f"fare = {FARE}", "passback_s = 60", "open_s = 0.2",
        "[devices]", f'scanner = "{scanner}"', f'relay = "{relay}"',
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def start_gate(config: Path, fault: str | None) -> GateProc:
    launcher = [sys.executable, str(STOP_POINT), fault] if fault else None
    gate = GateProc(config, launcher=launcher)
    gate.wait_for(lambda d: d.get("msg") == "ready", 30)
    return gate


def wait_stopped(pid: int, timeout: float) -> None:
    """Until the process is in state T (it SIGSTOPped itself at the fault point)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "T":
            return
        time.sleep(0.01)
    raise AssertionError(f"gate {pid} did not reach its fault point within {timeout} s")


def kill9(gate: GateProc) -> None:
    gate.proc.send_signal(signal.SIGKILL)
    gate.proc.wait(10)
    assert gate.proc.returncode == -signal.SIGKILL


def stored(data_dir: Path, wallet: Wallet) -> list[tuple[int, str]]:
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        return db.execute(
            "SELECT seq, kind FROM payments WHERE wallet_id = ? ORDER BY seq", (wallet.wallet_id,)
        ).fetchall()
    finally:
        db.close()


def decisions(gate: GateProc, n: int) -> list[dict[str, object]]:
    """Wait for the n-th decision line of this life; return them all."""
    gate.wait_for(lambda _d: len([x for x in gate.lines if x.get("event") == "decision"]) >= n, 15)
    return [x for x in gate.lines if x.get("event") == "decision"]


def qr(wallet: Wallet) -> str:
    return encode_text(wallet.token(max_amount=FARE, now=int(time.time())))


@pytest.mark.parametrize("fault", ["AFTER_COMMIT", "AFTER_RELAY"])
def test_kill_9_between_commit_and_relay_keeps_the_payment_and_never_opens_twice(
    demo: Demo, tmp_path: Path, fault: str
) -> None:
    data_dir = provision(demo)
    scanner, relay = Scanner(), RelayPty()
    config = write_config(tmp_path / "pos.toml", demo, scanner.path, relay.path)
    alice, bob = demo.wallet(), demo.wallet()
    token = qr(alice)
    gate = start_gate(config, fault)
    try:
        scanner.scan(token)
        wait_stopped(gate.proc.pid, 15)
        opened_before_kill = relay.ons()
        kill9(gate)
    finally:
        if gate.proc.poll() is None:
            gate.kill()
    # The instant is the one aimed at: the relay had not switched (after commit) / had (after relay).
    assert opened_before_kill == (0 if fault == "AFTER_COMMIT" else 1)
    assert stored(data_dir, alice) == [(1, "payment")]  # the payment stands, once
    verify = run_pos_process(["journal", "verify", "--data-dir", str(data_dir)])
    assert verify.returncode == 0, verify.stdout + verify.stderr

    with relay._lock:
        written_before_restart = len(relay.bytes)
    gate = start_gate(config, None)  # restarted: a crash, an update, systemd's Restart=on-failure
    try:
        scanner.scan(token)  # the very same token again
        scanner.scan(qr(alice))  # a fresh token from the same wallet, at once
        scanner.scan(qr(bob))  # someone else: the relay and the scanner do work in this life
        seen = decisions(gate, 3)
        assert [d["decision"] for d in seen] == ["declined", "declined", "approved"], seen
        assert seen[0]["reason"] in ("replayed", "passback") and seen[1]["reason"] == "passback"
        assert relay.ons() == opened_before_kill + 1  # bob's opening only: never twice for alice
        with relay._lock:  # fail safe: the restarted gate first releases a relay the kill left on
            assert bytes(relay.bytes[written_before_restart:]).startswith(OFF)
        assert gate.terminate(10) < 5 and gate.proc.returncode == 0
    finally:
        gate.kill()
        scanner.close()
        relay.close()
    assert stored(data_dir, alice) == [(1, "payment")]
    assert run_pos_process(["journal", "verify", "--data-dir", str(data_dir)]).returncode == 0

"""``pos run`` syncs in the background (issue 5): a payment taken by a running gate reaches a real
collector and is acknowledged with no ``pos sync`` call; SIGTERM stops it promptly; a terminal
that is not enrolled still takes payments and says why it runs offline."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pos.config import from_mapping
from pos.presentation import encode_text
from pos.sync.service import SyncService
from tests.sync.harness import (
    ENV,
    FAST,
    OPERATOR_TOKEN,
    POS_BIN,
    CollectorProc,
    SchemeEnv,
    View,
    make_scheme,
    new_terminal,
    pending_in,
)
from ui.runtime import background_sync
from ui.runtime import run as runtime
from ui.runtime.settings import from_config

pytestmark = pytest.mark.timeout(60)

TID = "GATE-SYNC-1"


@pytest.fixture
def env(tmp_path: Path) -> SchemeEnv:
    return make_scheme(tmp_path)


@pytest.fixture
def collector(env: SchemeEnv, tmp_path: Path) -> Iterator[CollectorProc]:
    proc = CollectorProc(env, f"sqlite:///{tmp_path / 'collector.db'}", tmp_path / "collector").start()
    try:
        yield proc
    finally:
        proc.stop()


class Scanner:
    """A serial scanner on a pty: the gate opens the slave, the test types lines on the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing, before the gate opens it too
        self.path = os.ttyname(self.slave)

    def scan(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\r\n")

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class GateProc:
    """``pos run --headless`` as a real process; its JSON log lines are collected as they come."""

    def __init__(
        self, config: Path, extra_env: dict[str, str] | None = None, launcher: list[str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [*(launcher or [str(POS_BIN)]), "run", "--headless", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**ENV, **(extra_env or {})},
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = {"msg": raw.decode(errors="replace").strip(), "raw": True}
            self.lines.append(doc)
            self._new.put(doc)

    def wait_for(self, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for doc in list(self.lines):
            if pred(doc):
                return doc
        while (left := deadline - time.monotonic()) > 0:
            try:
                doc = self._new.get(timeout=left)
            except queue.Empty:
                break
            if pred(doc):
                return doc
        raise AssertionError(f"no such log line within {timeout} s; got: {self.lines}")

    def terminate(self, timeout: float) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def write_config(path: Path, data_dir: Path, scanner: str, sync: dict[str, Any] | None) -> Path:
    lines = [
        "[terminal]", f'id = "{TID}"', 'currency = "EUR"', f'data_dir = "{data_dir}"',
        "[ui]", 'mode = "gate"', "read_slice_s = 0.1",
        "[gate]", "fare = 250", "passback_s = 30",
        "[devices]", f'scanner = "{scanner}"', 'relay = "log:"',
    ]  # fmt: skip
    if sync is not None:
        lines.append("[sync]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in sync.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def is_msg(msg: str, **fields: Any) -> Any:
    return lambda d: d.get("msg") == msg and all(d.get(k) == v for k, v in fields.items())


def test_payment_taken_while_running_is_uploaded_and_acknowledged_without_pos_sync(
    env: SchemeEnv, collector: CollectorProc, tmp_path: Path
) -> None:
    data_dir = tmp_path / "gate"
    new_terminal(env, data_dir, collector.url, TID).close()  # provisioned and enrolled, then stopped
    scanner = Scanner()
    # A long interval: only the wake after the approval can bring the upload within the wait below.
    sync = {"collector": collector.url, "interval_s": 600, "list_interval_s": 3600, "timeout_s": 5}
    gate = GateProc(write_config(tmp_path / "pos.toml", data_dir, scanner.path, sync))
    view = View(collector.db_url)
    try:
        gate.wait_for(is_msg("ready"), 30)
        gate.wait_for(is_msg("sync on", terminal_id=TID), 5)
        gate.wait_for(is_msg("sync pass", ok=True), 15)  # the pass at start: lists checked, nothing pending
        wallet = env.wallet()
        scanner.scan(encode_text(wallet.token(max_amount=250, now=int(time.time()))))
        decision = gate.wait_for(lambda d: d.get("event") == "decision", 15)
        assert decision["decision"] == "approved" and decision["seq"] == 1

        acked = gate.wait_for(lambda d: d.get("event") == "sync_pass" and d.get("acknowledged") == 1, 15)
        assert acked["uploaded"] == 1 and acked["pending"] == 0 and acked["ok"] is True
        rows = view.entries(TID)
        assert [(r[1], r[2], r[4], r[5]) for r in rows] == [(1, wallet.wallet_id, 250, "accepted")]
        assert pending_in(data_dir) == 0  # the terminal marked it acknowledged

        took = gate.terminate(timeout=10)
        assert took < 5, f"SIGTERM took {took:.1f} s"
        assert gate.proc.returncode == 0
    finally:
        gate.kill()
        view.close()
        scanner.close()
    assert gate.lines[-1]["msg"] == "stopped"
    assert any(d.get("event") == "sync_stopped" for d in gate.lines)
    logged = json.dumps(gate.lines)
    assert OPERATOR_TOKEN not in logged and "OWT1:" not in logged  # no credential, no token


def test_textual_mode_uploads_a_payment_on_the_next_status_tick(
    env: SchemeEnv, collector: CollectorProc, tmp_path: Path
) -> None:
    from ui.tui.app import PosApp

    data_dir = tmp_path / "gate"
    new_terminal(env, data_dir, collector.url, TID).close()
    scanner = Scanner()
    cfg = from_mapping(
        {
            "terminal": {"id": TID, "currency": "EUR"},
            "ui": {"mode": "gate", "read_slice_s": 0.1},
            "gate": {"fare": 250},
            "devices": {"scanner": scanner.path, "relay": "log:"},
            "sync": {"collector": collector.url, "interval_s": 600},
        },
        "pos.toml",
    )
    ctx = runtime.build_context(cfg, from_config(cfg), data_dir, with_wedge=False)
    sync = background_sync.attach(cfg, data_dir, ctx)  # what `pos run` does before the App starts
    assert sync is not None
    view = View(collector.db_url)

    async def go() -> None:
        app = PosApp(ctx)
        async with app.run_test(size=(100, 32)) as pilot:
            deadline = time.monotonic() + 20
            while not app.is_ready or sync.passes < 1:  # the pass at start has nothing to send
                assert time.monotonic() < deadline, "not ready"
                await pilot.pause(0.05)
            scanner.scan(encode_text(env.wallet().token(max_amount=250, now=int(time.time()))))
            while len(view.entries(TID)) < 1 or pending_in(data_dir) > 0:
                assert time.monotonic() < deadline, f"not uploaded; sync passes: {sync.passes}"
                await pilot.pause(0.1)

    try:
        asyncio.run(go())
        assert [r[5] for r in view.entries(TID)] == ["accepted"]
    finally:
        background_sync.stop(sync)
        ctx.close()
        view.close()
        scanner.close()
    assert not sync.running


def test_sigterm_during_a_stalled_sync_pass_still_stops_within_seconds(
    env: SchemeEnv, collector: CollectorProc, tmp_path: Path
) -> None:
    data_dir = tmp_path / "gate"
    new_terminal(env, data_dir, collector.url, TID).close()
    stall = socket.create_server(("127.0.0.1", 0))  # accepts, never answers: a request hangs
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(stall.accept()[0]), daemon=True).start()
    scanner = Scanner()
    sync = {"collector": f"http://127.0.0.1:{stall.getsockname()[1]}", "timeout_s": 60}
    gate = GateProc(write_config(tmp_path / "pos.toml", data_dir, scanner.path, sync))
    try:
        gate.wait_for(is_msg("ready"), 30)
        deadline = time.monotonic() + 10
        while not accepted:  # the pass at start is waiting for an answer now
            assert time.monotonic() < deadline, "the sync pass never connected"
            time.sleep(0.02)
        took = gate.terminate(timeout=15)
        assert took < background_sync.STOP_S + 3, f"SIGTERM took {took:.1f} s"
        assert gate.proc.returncode == 0
    finally:
        gate.kill()
        scanner.close()
        for conn in accepted:
            conn.close()
        stall.close()
    assert gate.lines[-1]["msg"] == "stopped"


def test_gate_that_is_not_enrolled_still_approves_and_logs_why_it_is_offline(
    env: SchemeEnv, tmp_path: Path
) -> None:
    data_dir = tmp_path / "gate"
    new_terminal(env, data_dir, None, TID).close()  # lists installed, never enrolled
    scanner = Scanner()
    sync = {"collector": "http://127.0.0.1:9", "interval_s": 1}
    gate = GateProc(write_config(tmp_path / "pos.toml", data_dir, scanner.path, sync))
    try:
        gate.wait_for(is_msg("ready"), 30)
        off = gate.wait_for(lambda d: d.get("event") == "sync_off", 1)
        assert off["code"] == "not_enrolled" and "pos enroll" in off["msg"]
        scanner.scan(encode_text(env.wallet().token(max_amount=250, now=int(time.time()))))
        decision = gate.wait_for(lambda d: d.get("event") == "decision", 15)
        assert decision["decision"] == "approved"
        assert gate.terminate(timeout=10) < 5
    finally:
        gate.kill()
        scanner.close()
    assert not any(d.get("event") == "sync_pass" for d in gate.lines)
    assert pending_in(data_dir) == 1  # kept in the journal for later


def test_status_bar_shows_the_service_passes_success_then_the_error(
    env: SchemeEnv, collector: CollectorProc, tmp_path: Path
) -> None:
    data_dir = tmp_path / "term"
    term = new_terminal(env, data_dir, collector.url, TID)
    cfg = from_mapping({"terminal": {"id": TID, "currency": "EUR"}, "sync": {"interval_s": 600}}, "t.toml")
    probe = background_sync.sync_probe_for(cfg, data_dir, lambda: int(time.time()))
    assert probe is not None and probe() is None  # never synced
    reports: queue.Queue[dict[str, Any]] = queue.Queue()
    service = SyncService(
        data_dir, FAST, keystore=term.terminal.keys, collector=collector.url, on_pass=reports.put
    )
    service.start()
    try:
        assert reports.get(timeout=15).get("upload", {}).get("ok") is True
        status = probe()
        assert status is not None and status.online and status.last_upload is not None
        collector.stop()
        assert term.pay(env.wallet(), 250).approved  # something to upload, nowhere to send it
        service.wake()
        failed = reports.get(timeout=20)
        assert failed["upload"]["ok"] is False
        status = probe()
        assert status is not None and not status.online and status.detail  # the error, in words
    finally:
        service.stop(5)
        term.close()
    assert not service.running


def test_new_journal_rows_wake_the_sync_once_per_change(env: SchemeEnv, tmp_path: Path) -> None:
    term = new_terminal(env, tmp_path / "term", None, TID)
    woken: list[int] = []
    job = background_sync.WakeOnNewRows(lambda: woken.append(1))
    try:
        job(term.terminal)  # the first tick learns where the journal ends
        job(term.terminal)
        assert woken == []
        assert term.pay(env.wallet(), 250).approved
        job(term.terminal)
        job(term.terminal)
        assert woken == [1]
        assert term.pay(env.wallet(), 250).approved  # two sales between ticks: one wake is enough
        assert term.pay(env.wallet(), 250).approved
        job(term.terminal)
        assert woken == [1, 1]
    finally:
        term.close()

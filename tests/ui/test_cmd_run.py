"""``pos run`` (devices by URL, the headless gate loop, JSON-line logs) and ``pos demo``."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest

from pos.config import from_mapping
from pos.decision import PaymentRequest
from pos.errors import ConfigError
from pos.keystore import KeyStore
from pos.ports import Presentation, SourceFailure
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from sim.wallet import Wallet
from tests.conftest import POS_BIN, Demo, run_pos
from ui.runtime import background_sync, opening
from ui.runtime import run as runtime
from ui.runtime.devices import QueueSource, RecordingRelay, SyncStatus
from ui.runtime.headless_gate import serve_gate_headless
from ui.runtime.operator import PIN_FILE
from ui.runtime.settings import from_config


def _provision(demo: Demo) -> Path:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    store.install_deny_list(demo.deny_list.read_bytes())
    return demo.data_dir


def _config(demo: Demo, tmp_path: Path, mode: str = "gate", devices: dict[str, str] | None = None) -> Path:
    devices = {"relay": "log:"} if devices is None else devices
    lines = [
        "[terminal]", 'id = "GATE-7"', 'currency = "EUR"', f'data_dir = "{demo.data_dir}"',
        "[ui]", f'mode = "{mode}"', "read_slice_s = 0.1",
        "[gate]", "fare = 250", "passback_s = 30",
        "[devices]", *[f'{k} = "{v}"' for k, v in devices.items()],
    ]  # fmt: skip
    path = tmp_path / "pos.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _fake_drivers(monkeypatch: pytest.MonkeyPatch, relay: RecordingRelay) -> dict[str, QueueSource]:
    opened: dict[str, QueueSource] = {}

    def open_source(url: str) -> QueueSource:
        opened[url] = QueueSource(url)
        return opened[url]

    module = types.SimpleNamespace(open_source=open_source, open_actuator=lambda url: relay)
    monkeypatch.setattr(opening, "sources", module)
    return opened


def test_headless_gate_opens_after_commit_and_refuses_passback(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = _provision(demo)
    relay = RecordingRelay()
    opened = _fake_drivers(monkeypatch, relay)
    cfg = from_mapping(
        {
            "terminal": {"id": "GATE-7", "currency": "EUR"},
            "ui": {"mode": "gate", "read_slice_s": 0.05},
            "gate": {"fare": 250, "passback_s": 30},
            "devices": {
                "nfc": "udp:127.0.0.1:50000",
                "scanner": "socket://127.0.0.1:7000",
                "relay": "gpio:17",
            },
        },
        "test.toml",
    )
    ctx = runtime.build_context(cfg, from_config(cfg), data_dir, clock=lambda: demo.now, with_wedge=False)
    nfc, scanner = opened["udp:127.0.0.1:50000"], opened["socket://127.0.0.1:7000"]
    wallet: Wallet = demo.wallet()
    relay.probe = lambda: ctx.core.terminal.journal.summary()["payments"]  # runs on the core thread
    stop = threading.Event()
    caplog.set_level("INFO", logger="pos.run")
    loop = threading.Thread(target=serve_gate_headless, args=(ctx, stop))
    loop.start()
    try:
        nfc.feed(
            lambda r: Presentation(
                "bytes",
                wallet.token(amount=r.amount, challenge=r.challenge, terminal_id=r.terminal_id, now=demo.now),
                nfc.url,
            )
        )
        assert relay.event.wait(5)
        scanner.feed_text(_qr(wallet, demo.now))  # the same wallet, at once: passback
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(_decisions(caplog)) < 2:
            time.sleep(0.02)
    finally:
        stop.set()
        loop.join(5)
    decisions = _decisions(caplog)
    assert [d["decision"] for d in decisions] == ["approved", "declined"]
    assert decisions[0]["seq"] == 1 and decisions[0]["amount"] == 250 and "tap_to_relay_ms" in decisions[0]
    assert decisions[1]["reason"] == "passback"
    assert [seen for _t, _s, seen in relay.opened] == [1]  # committed before the relay switched
    assert not loop.is_alive()


def _qr(wallet: Wallet, now: int) -> str:
    return encode_text(wallet.token(max_amount=250, now=now))


def _decisions(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "decision"]


def test_no_devices_open_no_sources() -> None:
    assert opening.open_sources({}) == []


def test_headless_refuses_counter_mode(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _provision(demo)
    code, _doc, err = run_pos(
        ["run", "--config", str(_config(demo, tmp_path, "counter")), "--headless"], capsys
    )
    assert code == 2
    assert "--headless runs the gate loop" in err


def test_set_pin_stores_a_scrypt_hash_only(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _provision(demo)
    monkeypatch.setattr(runtime.getpass, "getpass", lambda prompt="": "246810")
    code, _doc, _err = run_pos(["run", "--config", str(_config(demo, tmp_path)), "--set-pin"], capsys)
    assert code == 0
    stored = json.loads((demo.data_dir / PIN_FILE).read_text())
    assert stored["alg"] == "scrypt" and "246810" not in json.dumps(stored)


def test_headless_gate_process_logs_json_lines_and_stops_on_sigterm(demo: Demo, tmp_path: Path) -> None:
    _provision(demo)
    proc = subprocess.Popen(
        [str(POS_BIN), "run", "--config", str(_config(demo, tmp_path)), "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(json.loads(line))
            if lines[-1]["msg"] == "ready":
                break
        assert lines and lines[-1]["msg"] == "ready", lines
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)[1], None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    tail = [json.loads(x) for x in rest.decode().splitlines() if x.strip()]
    assert tail[-1]["msg"] == "stopped"
    starting = next(x for x in lines if x["msg"] == "starting")
    assert starting["terminal_id"] == "GATE-7" and starting["headless"] is True


def test_demo_headless_is_still_the_scripted_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_pos(["demo", "--headless", "--payments", "0", "--dir", str(tmp_path / "demo")], capsys)[0]
    assert code == 0


def test_sync_state_file_feeds_the_network_cell(tmp_path: Path) -> None:
    state = pytest.importorskip("pos.sync.state")
    cfg = from_mapping({"terminal": {"id": "T", "currency": "EUR"}}, "t.toml")
    now = [10_000]
    probe = background_sync.sync_probe_for(cfg, tmp_path, lambda: now[0])
    assert probe is not None and probe() is None  # never synced: "offline"
    state.SyncState(tmp_path).update(last_success=9_990, last_error=None)
    assert probe() == SyncStatus(True, 9_990, "")
    now[0] += background_sync.ONLINE_WITHIN_S + 1
    assert probe() is not None and not probe().online


def test_a_reader_that_does_not_open_is_a_retried_device_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def open_source(url: str) -> QueueSource:
        attempts.append(url)
        if url == "bad-url":
            raise ValueError("names no device")
        if len(attempts) < 3:
            raise OSError("no such device")
        return QueueSource(url)

    monkeypatch.setattr(opening, "sources", types.SimpleNamespace(open_source=open_source))
    with pytest.raises(ConfigError, match=r"devices\.nfc: names no device"):
        opening.open_sources({"nfc": "bad-url"})
    attempts.clear()
    (late,) = opening.open_sources({"nfc": "usb"})
    assert isinstance(late, opening.LateSource)
    late._retry_s, late._next = 0.0, 0.0
    request = PaymentRequest(100, "EUR", 0, "T", bytes(16))
    with pytest.raises(SourceFailure) as failure:
        late.read(request, 0.01)  # second attempt fails too
    assert failure.value.outcome == "device_error" and "no such device" in failure.value.detail
    with pytest.raises(SourceFailure) as failure:
        late.read(request, 0.01)  # third opens it: now an ordinary timeout from the reader
    assert failure.value.outcome == "source_timeout"


def test_configured_printer_is_opened_as_a_printer_not_as_a_token_source(demo: Demo, tmp_path: Path) -> None:
    data_dir = _provision(demo)
    slips = tmp_path / "receipts.escpos"
    cfg = from_mapping(
        {
            "terminal": {"id": "SHOP-1", "currency": "EUR"},
            "ui": {"mode": "counter"},
            "devices": {"printer": f"file:{slips}"},
        },
        "test.toml",
    )
    ctx = runtime.build_context(cfg, from_config(cfg), data_dir, clock=lambda: demo.now, with_wedge=False)
    try:
        assert ctx.printer is not None and ctx.sources == []
        assert any("file:" in d.name or "receipt" in d.name.lower() for d in ctx.device_health())
    finally:
        ctx.close()
    bad_doc = {"terminal": {"currency": "EUR"}, "ui": {"mode": "counter"}, "devices": {"printer": "gopher:x"}}
    bad = from_mapping(bad_doc, "t.toml")
    with pytest.raises(ConfigError, match=r"devices\.printer"):
        runtime.build_context(bad, from_config(bad), data_dir, clock=lambda: demo.now, with_wedge=False)

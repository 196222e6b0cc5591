"""``pos doctor`` on this machine (issue: drivers): no hardware is a clear WARN, not a failure."""

from __future__ import annotations

import sqlite3

from pos.presentation import encode_text
from tests.conftest import Demo, run_pos


def provisioned(demo: Demo, capsys) -> None:
    text = encode_text(demo.wallet().token(max_amount=100, now=demo.now))
    assert run_pos(demo.accept_args(text, 100), capsys)[0] == 0


def test_doctor_without_hardware_warns_and_explains(demo: Demo, capsys) -> None:
    provisioned(demo, capsys)
    code, doc, _ = run_pos(
        ["doctor", "--data-dir", str(demo.data_dir), "--json", "--now", str(demo.now)], capsys
    )
    assert doc is not None and code == doc["exit"]
    by_area = {}
    for check in doc["checks"]:
        by_area.setdefault(check["area"], []).append(check)
    assert code in (0, 1)
    assert {"nfc", "camera", "serial", "decoders", "lists", "journal", "clock", "disk"} <= by_area.keys()
    assert all(c["status"] == "OK" for c in by_area["journal"] + by_area["lists"])
    warned = [c for c in doc["checks"] if c["status"] != "OK"]
    assert all(c["action"] for c in warned), warned


def test_doctor_fails_on_a_tampered_journal_and_a_stale_list(demo: Demo, capsys) -> None:
    provisioned(demo, capsys)
    db = sqlite3.connect(demo.data_dir / "journal.db")
    db.execute("UPDATE payments SET amount = 1")
    db.commit()
    db.close()
    later = demo.now + 30 * 86400
    code, doc, _ = run_pos(
        ["doctor", "--data-dir", str(demo.data_dir), "--json", "--now", str(later)], capsys
    )
    assert code == 2 and doc is not None
    failed = {c["area"] for c in doc["checks"] if c["status"] == "FAIL"}
    assert {"journal", "lists"} <= failed


def test_doctor_reports_an_invalid_config(demo: Demo, capsys, tmp_path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[limits]\noffline_count_max = -3\n")
    code, doc, _ = run_pos(["doctor", "--config", str(cfg), "--json"], capsys)
    assert code == 2 and doc is not None
    assert any(c["area"] == "config" and "limits.offline_count_max" in c["message"] for c in doc["checks"])


def _config(demo: Demo, tmp_path, devices: dict[str, str]):
    path = tmp_path / "pos.toml"
    lines = ["[terminal]", 'id = "GATE-1"', 'currency = "EUR"', f'data_dir = "{demo.data_dir}"',
             "[ui]", 'mode = "gate"', "[gate]", "fare = 250",
             "[devices]", *[f'{k} = "{v}"' for k, v in devices.items()]]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_doctor_config_checks_exactly_the_devices_the_config_names(demo: Demo, capsys, tmp_path) -> None:
    provisioned(demo, capsys)
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(frames / "still.png"), np.full((120, 160), 255, np.uint8))  # a still scene
    cfg = _config(demo, tmp_path, {"camera": f"file:{frames}/", "relay": "log:"})
    code, doc, _ = run_pos(["doctor", "--config", str(cfg), "--json", "--now", str(demo.now)], capsys)
    assert doc is not None and code == 0, [c for c in doc["checks"] if c["status"] != "OK"]
    areas = {c["area"] for c in doc["checks"]}
    assert {"devices.camera", "devices.relay"} <= areas
    assert not areas & {"nfc", "serial", "camera"}  # nothing the config does not name


def test_doctor_config_fails_on_a_device_that_does_not_open(demo: Demo, capsys, tmp_path) -> None:
    provisioned(demo, capsys)
    cfg = _config(demo, tmp_path, {"relay": "/dev/ttyNOPE1"})
    code, doc, _ = run_pos(["doctor", "--config", str(cfg), "--json", "--now", str(demo.now)], capsys)
    assert code == 2 and doc is not None
    (relay,) = [c for c in doc["checks"] if c["area"] == "devices.relay"]
    assert relay["status"] == "FAIL" and "/dev/ttyNOPE1" in relay["message"] and relay["action"]

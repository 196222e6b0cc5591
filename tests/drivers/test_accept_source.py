"""``pos accept --source URL`` and ``@IMAGE`` (issue: drivers): the same JSON and exit codes as
the TOKEN form, over real transports: nfcpy ``udp:``, a pty, a folder of camera frames."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import segno

from pos.presentation import encode_text
from tests.conftest import Demo, run_pos
from tests.drivers.test_nfc_udp import Phone, free_udp_port, save_wallet

pytestmark = pytest.mark.timeout(90)


def source_args(demo: Demo, url: str, amount: int, *extra: str) -> list[str]:
    args = demo.accept_args("-", amount, "--source", url, "--timeout", "10", *extra)
    args.remove("-")
    return args


def test_nfc_source_generates_its_challenge_and_approves(demo: Demo, capsys) -> None:
    port = free_udp_port()
    phone = Phone(save_wallet(demo.wallet(), demo.dir / "w.json"), port)
    try:
        code, doc, err = run_pos(
            source_args(demo, f"udp:127.0.0.1:{port}", 990, "--terminal-id", "GATE-7"), capsys
        )
        asked = phone.wait("generate")
    finally:
        phone.kill()
    assert code == 0, err
    assert doc is not None and doc["decision"] == "approved" and doc["amount"] == 990
    assert asked["terminal_id"] == "GATE-7" and len(bytes.fromhex(asked["challenge"])) == 16


def test_nfc_source_with_no_phone_is_a_clear_timeout_decline(demo: Demo, capsys) -> None:
    args = source_args(demo, f"udp:127.0.0.1:{free_udp_port()}", 100, "--terminal-id", "T")
    args[args.index("--timeout") + 1] = "1"
    started = time.monotonic()
    code, doc, _ = run_pos(args, capsys)
    assert code == 1 and doc is not None and doc["reason"] == "source_timeout"
    assert time.monotonic() - started < 10


def test_serial_source_reads_one_line_from_a_pty(demo: Demo, capsys) -> None:
    master, slave = os.openpty()
    text = encode_text(demo.wallet().token(max_amount=500, now=demo.now))

    def scanner() -> None:
        time.sleep(0.3)
        os.write(master, text.encode() + b"\r\n")

    threading.Thread(target=scanner, daemon=True).start()
    try:
        code, doc, err = run_pos(source_args(demo, os.ttyname(slave), 450), capsys)
    finally:
        os.close(master)
        os.close(slave)
    assert code == 0, err
    assert doc is not None and doc["decision"] == "approved" and doc["amount"] == 450


def test_camera_folder_source_decodes_a_frame(demo: Demo, capsys, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    text = encode_text(demo.wallet().token(max_amount=700, now=demo.now))
    segno.make(text, error="m", mode="alphanumeric").save(str(frames / "frame_001.png"), scale=5, border=4)
    code, doc, err = run_pos(source_args(demo, f"file:{frames}", 700), capsys)
    assert code == 0, err
    assert doc is not None and doc["decision"] == "approved"


def test_at_path_png_is_decoded_then_decided(demo: Demo, capsys, tmp_path: Path) -> None:
    text = encode_text(demo.wallet().token(max_amount=300, now=demo.now))
    png = tmp_path / "code.png"
    segno.make(text, error="m", mode="alphanumeric").save(str(png), scale=4, border=4)
    code, doc, _ = run_pos(demo.accept_args(f"@{png}", 300), capsys)
    assert code == 0 and doc is not None and doc["decision"] == "approved"


def test_at_path_image_without_a_code_is_malformed(demo: Demo, capsys, tmp_path: Path) -> None:
    png = tmp_path / "blank.png"
    segno.make("HELLO").save(str(png), scale=2)  # a QR, but not an OWT presentation
    code, doc, _ = run_pos(demo.accept_args(f"@{png}", 300), capsys)
    assert code == 1 and doc is not None and doc["reason"] == "malformed"


def test_unknown_source_url_is_a_usage_error(demo: Demo, capsys) -> None:
    code, _, err = run_pos(source_args(demo, "carrier-pigeon:3", 100), capsys)
    assert code == 2 and "names no device" in err


def test_token_and_source_together_is_a_usage_error(demo: Demo, capsys) -> None:
    code, _, _ = run_pos(demo.accept_args("OWT1:", 100, "--source", "loop://"), capsys)
    assert code == 2

"""Each ``pos.toml`` the README shows (one per mode) is complete and working (issue 12): it loads,
and ``pos doctor --config`` passes on it once its device paths point at this machine's stand-ins
(a pty for each serial port, nfcpy's ``udp:`` for a USB reader, a folder of frames for a camera)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from pos import config as configuration
from sim.pty import RawPty
from tests.conftest import Demo, run_pos
from ui.runtime.settings import from_config

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_shows_one_config_per_mode_and_links_the_reference() -> None:
    modes = [re.search(r'^mode = "(\w+)"', b, re.M) for b in BLOCKS]
    assert sorted(m.group(1) for m in modes if m) == ["counter", "gate", "vending"]
    assert "docs/config.md" in README.read_text(encoding="utf-8")
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 231  # + console, fleet (13, 15, 16)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stand_in(url: str, tmp_path: Path, ptys: list[RawPty]) -> str:
    if url.startswith("usb"):
        return f"udp:127.0.0.1:{_free_udp_port()}"
    if url.startswith("/dev/video"):
        frames = tmp_path / "frames"
        frames.mkdir(exist_ok=True)
        cv2.imwrite(str(frames / "still.png"), np.full((120, 160), 255, np.uint8))
        return f"file:{frames}/"
    if url.startswith("/dev/tty"):
        ptys.append(RawPty())
        return ptys[-1].port
    if url.startswith("text:"):
        return f"text:{tmp_path / 'receipts.txt'}"
    return url


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: str(re.findall(r'mode = "(\w+)"', b)))
def test_readme_config_loads_and_doctor_passes_on_it(
    block: str, demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_shown = tmp_path / "shown.toml"
    as_shown.write_text(block)
    cfg = configuration.load(as_shown)  # every key known, every value typed
    from_config(cfg)
    install = ["keys", "install", "--data-dir", str(demo.data_dir), "--root-key", str(demo.root_key),
               "--trust-list", str(demo.trust_list), "--deny-list", str(demo.deny_list)]  # fmt: skip
    assert run_pos(install, capsys)[0] == 0
    ptys: list[RawPty] = []
    local = re.sub(r'^data_dir = ".*"$', f'data_dir = "{demo.data_dir}"', block, flags=re.M)
    local = re.sub(r'^root_key = ".*"$', f'root_key = "{demo.root_key}"', local, flags=re.M)
    device = re.compile(r'^(\w+) = "((?:usb|/dev/|text:)[^"]*)"$', re.M)
    local = device.sub(lambda m: f'{m.group(1)} = "{_stand_in(m.group(2), tmp_path, ptys)}"', local)
    here = tmp_path / "pos.toml"
    here.write_text(local)
    try:
        code, doc, _ = run_pos(["doctor", "--config", str(here), "--json", "--now", str(demo.now)], capsys)
    finally:
        for pty in ptys:
            pty.close()
    assert doc is not None
    assert code == 0, [c for c in doc["checks"] if c["status"] != "OK"]
    assert {c["area"] for c in doc["checks"] if c["area"].startswith("devices.")} == {
        f"devices.{k}" for k in cfg.devices
    }

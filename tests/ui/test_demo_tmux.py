"""The real ``pos demo`` in a real terminal (tmux): keys in with send-keys, screen out with
capture-pane. A smoke test of the whole composition: app, simulated customer, journal, screens."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by ./scripts/test"),
    pytest.mark.timeout(120),
]
POS = Path(sys.executable).with_name("pos")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10, check=True).stdout


@pytest.fixture
def session(tmp_path: Path) -> Iterator[str]:
    name = f"pos-demo-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "36", f"{POS} demo --dir {tmp_path / 'demo'}")
    try:
        yield name
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, timeout=10, check=False)


def screen_until(name: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = tmux("capture-pane", "-t", name, "-p")
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{shown}")


def test_demo_takes_a_tap_then_declines_a_double_spend(session: str) -> None:
    screen_until(session, "Enter the amount")
    tmux("send-keys", "-t", session, "1", "2", "5", "0", "Enter")
    time.sleep(0.5)
    tmux("send-keys", "-t", session, "q")  # the simulated customer shows a QR code
    screen_until(session, "APPROVED")
    screen_until(session, "1 to upload")
    tmux("send-keys", "-t", session, "5", "0", "0", "Enter")
    time.sleep(0.5)
    tmux("send-keys", "-t", session, "d")  # the same QR code again: a double spend
    shown = screen_until(session, "DECLINED")
    assert "already used" in shown or "replayed" in shown
    tmux("send-keys", "-t", session, "C-q")

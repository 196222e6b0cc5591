"""``pos demo --headless --linger`` keeps the demo's collector and operator console up after the
story, so the printed console URL and DEMO login can be used; SIGINT or SIGTERM stops it, and
the collector child goes with it."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.conftest import POS_BIN, REPO

pytestmark = pytest.mark.timeout(120)


def _read_until(proc: subprocess.Popen[str], pattern: str, deadline_s: float) -> str:
    """The process's output up to a line matching ``pattern`` (lines read by a thread: a
    selector on a buffered text pipe misses lines already in the buffer)."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen = ""
    end = time.monotonic() + deadline_s
    while not re.search(pattern, seen, re.MULTILINE):
        left = end - time.monotonic()
        assert left > 0, f"no {pattern!r} in:\n{seen}"
        try:
            seen += lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            assert proc.poll() is None, f"exited {proc.returncode} without {pattern!r}:\n{seen}"
    return seen


def _port_open(url: str) -> bool:
    host, port = url.split("//", 1)[1].rstrip("/").split("/")[0].split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_lingering_demo_serves_the_console_until_it_is_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [str(POS_BIN), "demo", "--headless", "--linger", "--payments", "20", "--dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env,
    )  # fmt: skip
    try:
        out = _read_until(proc, r"stay up: Ctrl-C to stop", 90)
        assert "story done" in out
        url, name, password = re.findall(r"operator console: (\S+) \(DEMO login: (\S+) / (\S+)\)", out)[-1]
        secret = re.findall(r"TOTP secret (\S+)", out)[-1]
        time.sleep(1)  # the story is over: nothing else is running, the console still answers
        with httpx.Client(timeout=10, follow_redirects=False) as c:
            assert c.get(url).status_code == 303
            r = c.post(url + "login", data={"username": name, "password": password})
            assert r.status_code == 303 and "/console/login/code" in r.headers["location"]
            code_url = url.rsplit("/console/", 1)[0] + r.headers["location"]
            page = c.get(code_url).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            data = {"code": pyotp.TOTP(secret).now(), **({"csrf": csrf.group(1)} if csrf else {})}
            r = c.post(code_url.split("?")[0], data=data)
            assert r.status_code == 303, r.text
            events = c.get(url + "events")
            assert events.status_code == 200 and "DEMO-SHOP-2" in events.text  # the story's double spend
        proc.send_signal(stop)
        assert proc.wait(timeout=20) == 0
        assert not _port_open(url)  # the collector child stopped too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

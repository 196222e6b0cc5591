"""A small device's footprint of the headless gate (``scripts/bench ui``): memory, idle CPU, start-up.

- ``run_rss_mb``: resident memory of a headless gate process after ``--footprint-s`` seconds (60 by
  default): a ``file:`` camera at 15 fps (a folder played at its own pace, looping, as a camera
  delivers frames), an NFC reader on nfcpy's ``udp:`` and an LCUS relay on a pty.
- ``idle_cpu_pct``: the same process's CPU over that window after ready, the scene still (one
  unchanging frame), in % of one core.
- ``startup_one_core_s``: ``taskset -c 0 pos run --config pos.toml --headless`` (the real command,
  same devices) from spawn to its ``ready`` log line, median of ``--starts`` runs.

The footprint child runs ``pos run --headless``'s own code (``build_context`` then
``serve_gate_headless``); only the camera is opened with the options a live camera has
(realtime pacing at 15 fps, looping), which ``[devices]`` does not spell for a ``file:`` folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHILD = "--footprint-child"
FPS = 15.0
RSS_TARGET_MB, CPU_TARGET_PCT, START_TARGET_S = 128.0, 3.0, 1.5
LOOP_FRAMES = 30  # 2 s at 15 fps: a folder is paced within one pass, so one frame alone would race
SETTLE_S = 5.0  # start-up work (imports, first frames) is not idle: CPU is counted after this


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(base: Path, relay_port: str) -> Path:
    """A provisioned gate data dir, a still frame, and the pos.toml naming the three devices."""
    import cv2
    import numpy as np

    from sim.demo.inproc import InProcessDevices, in_process_network
    from sim.demo.interactive import build

    world = build(base / "world", "gate", devices=InProcessDevices, network=in_process_network)
    world.close()
    frames = base / "frames"
    frames.mkdir()
    scene = np.full((720, 1280, 3), 200, np.uint8)  # an empty gate lane, lit, nothing moving
    for i in range(LOOP_FRAMES):  # JPEG: what a USB camera's MJPEG stream hands OpenCV to decode
        cv2.imwrite(str(frames / f"frame_{i}.jpg"), scene)
    config = base / "pos.toml"
    config.write_text(
        f'[terminal]\nid = "GATE-BENCH"\ncurrency = "EUR"\ndata_dir = "{world.ctx.data_dir}"\n'
        '[ui]\nmode = "gate"\n[gate]\nfare = 250\n'
        f'[devices]\nnfc = "udp:127.0.0.1:{_free_udp_port()}"\nrelay = "{relay_port}"\n'
        f'camera = "file:{frames}/"\n'
    )
    return config


def child(config: Path) -> None:
    """``pos run --headless`` with the camera opened as a live camera would be."""
    from drivers.camera.source import CameraSource
    from pos import config as configuration
    from ui.runtime import run as runtime
    from ui.runtime.headless_gate import serve_gate_headless
    from ui.runtime.logs import setup_logging
    from ui.runtime.settings import from_config

    setup_logging(None)
    cfg = configuration.load(config)
    camera = cfg.devices.pop("camera")
    assert cfg.data_dir is not None
    ctx = runtime.build_context(cfg, from_config(cfg), cfg.data_dir, with_wedge=False)
    ctx.sources.append(CameraSource(camera, realtime=True, loop=True, folder_fps=FPS))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serve_gate_headless(ctx, stop)


def _ready(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Wait for the ``ready`` log line on stderr; return the time it came (monotonic)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError(f"the gate ended before ready (exit {proc.wait()})")
        if json.loads(line).get("msg") == "ready":
            return time.monotonic()
    raise TimeoutError("no ready line")


def _drain(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    threading.Thread(target=lambda: proc.stderr.read() if proc.stderr else None, daemon=True).start()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep)}


def measure_run(config: Path, seconds: float) -> tuple[float, float]:
    """(RSS in MB after ``seconds``, CPU % of one core from ``SETTLE_S`` after ready to the end)."""
    cmd = [sys.executable, "-m", "benchlib.footprint", CHILD, str(config)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=_env())
    try:
        ready = _ready(proc)
        _drain(proc)
        settle = min(SETTLE_S, seconds / 4)
        time.sleep(settle)
        cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
        time.sleep(max(0.0, ready + seconds - time.monotonic()))
        cpu1, t1 = _cpu_s(proc.pid), time.monotonic()
        return _rss_mb(proc.pid), 100 * (cpu1 - cpu0) / (t1 - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_startup(config: Path, runs: int) -> list[float]:
    pos = Path(sys.executable).with_name("pos")
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    out = []
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.Popen([*pin, str(pos), "run", "--config", str(config), "--headless"],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            out.append(_ready(proc) - started)
            _drain(proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    return out


def bench(base: Path, seconds: float, starts: int) -> dict[str, Any]:
    from sim.pty import RawPty

    board = RawPty(nonblocking_writes=True)  # the LCUS board: frames written to it are never read back
    try:
        config = setup(base, board.port)
        rss, cpu = measure_run(config, seconds)
        start = statistics.median(measure_startup(config, starts))
    finally:
        board.close()
    return {"run_rss_mb": rss, "idle_cpu_pct": cpu, "startup_one_core_s": start, "footprint_s": seconds}


if __name__ == "__main__":
    if sys.argv[1:2] == [CHILD]:
        child(Path(sys.argv[2]))

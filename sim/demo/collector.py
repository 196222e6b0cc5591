"""The demo's collector: the real ``pos collector serve`` as a child process that dies with the demo.

It is production's command line (SQLite under ``<base>/collector/``, one serving process, the
demo scheme's root key to sign deny lists, the operator token in ``POS_OPERATOR_TOKEN`` so it
never shows in ``ps``), started through a small launcher that ends the child when the demo
process goes, even by kill -9: ``PR_SET_PDEATHSIG`` when started from the main thread (the
signal follows the thread that forked, so a worker thread that ends must not take the collector
with it), and always a watchdog on the parent pid, as ``pos.lifeline.die_with_parent`` does for
the collector's own forked servers. ``stop()`` ends it with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from pos.errors import PosError

LISTENING = "collector listening on "
LOG_FILE = "collector.log"
TOKEN_ENV = "POS_OPERATOR_TOKEN"

# argv: parent pid, "1" to set PR_SET_PDEATHSIG, then the ``pos`` arguments.
_LAUNCHER = """
import sys
from pos.lifeline import die_with_parent
die_with_parent(int(sys.argv[1]), deathsig=sys.argv[2] == "1")
from ui.cli import main
sys.exit(main(sys.argv[3:]))
"""


class CollectorStartError(PosError):
    """The demo's collector did not come up; the message says where its log is."""


class LocalCollector:
    def __init__(
        self,
        workdir: Path,
        scheme_dir: Path,
        operator_token: str,
        *,
        trust_lists: Sequence[Path] = (),
        deny_lists: Sequence[Path] = (),
    ) -> None:
        self.workdir = Path(workdir)
        self.scheme_dir = Path(scheme_dir)
        self.operator_token = operator_token
        self.trust_lists = tuple(trust_lists)
        self.deny_lists = tuple(deny_lists)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.workdir / 'collector.db'}"

    @property
    def log_path(self) -> Path:
        return self.workdir / LOG_FILE

    def argv(self) -> list[str]:
        lists = [a for p in self.trust_lists for a in ("--trust-list", str(p))]
        lists += [a for p in self.deny_lists for a in ("--deny-list", str(p))]
        main = threading.current_thread() is threading.main_thread()
        return [
            sys.executable, "-c", _LAUNCHER, str(os.getpid()), "1" if main else "0",
            "collector", "serve", "--db", self.db_url, "--listen", "127.0.0.1:0",
            "--scheme", str(self.scheme_dir), "--processes", "1", *lists,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> str:
        """Start the process, wait until it answers /healthz; return its URL."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **{TOKEN_ENV: self.operator_token})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True,  # the terminal's Ctrl-C goes to the demo, which stops us
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        try:
            self.url = self._await_url(start, deadline)
            self._await_health(deadline)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _await_url(self, start: int, deadline: float) -> str:
        while time.monotonic() < deadline:
            for line in _read_from(self.log_path, start).splitlines():
                if line.startswith(LISTENING):
                    return line[len(LISTENING) :].split()[0]
            if self.proc is not None and self.proc.poll() is not None:
                raise CollectorStartError(
                    f"the demo collector exited with status {self.proc.returncode}; see {self.log_path}"
                )
            time.sleep(0.05)
        raise CollectorStartError(f"the demo collector did not start in time; see {self.log_path}")

    def _await_health(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise CollectorStartError(f"the demo collector does not answer at {self.url}; see {self.log_path}")

    def get_json(self, path: str) -> Any:
        """An operator's GET on the collector itself (not through the demo's network switch)."""
        headers = {"Authorization": f"Bearer {self.operator_token}"}
        resp = httpx.get(f"{self.url}{path}", headers=headers, timeout=5, trust_env=False)
        resp.raise_for_status()
        return resp.json()

    def metrics(self) -> dict[str, float]:
        """Unlabelled Prometheus samples from ``/metrics``."""
        headers = {"Authorization": f"Bearer {self.operator_token}"}
        text = httpx.get(f"{self.url}/metrics", headers=headers, timeout=5, trust_env=False).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                try:
                    out[name] = float(value)
                except ValueError:
                    continue
        return out

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(1 << 16).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""

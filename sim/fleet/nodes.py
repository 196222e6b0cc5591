"""The collector side of a fleet run: ``pos collector serve`` nodes on one database.

Each node is a real ``pos collector serve`` process (itself one serving process per core unless
``processes`` says otherwise) on its own port of 127.0.0.1, all on one database, stateless
between them as in production behind a load balancer. The simulated terminals all come from
127.0.0.1, so the per-address connection cap (meant for the open internet) is lifted, as it
would be behind a reverse proxy. CPU time of a node and its serving processes is read from
/proc, for the cost of list polling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

POS_BIN = Path(sys.executable).with_name("pos")
OPERATOR_TOKEN_ENV = "POS_OPERATOR_TOKEN"


class Node:
    def __init__(self, db_url: str, scheme_dir: Path, lists: list[Path], work: Path, token: str,
                 processes: int | None = None) -> None:  # fmt: skip
        self.argv = [
            str(POS_BIN), "collector", "serve", "--db", db_url, "--listen", "127.0.0.1:0",
            "--scheme", str(scheme_dir), "--max-connections-per-client", "0",
        ]  # fmt: skip
        for path in lists:
            self.argv += ["--trust-list" if path.name.startswith("tl") else "--deny-list", str(path)]
        if processes is not None:
            self.argv += ["--processes", str(processes)]
        self.work = work
        self.env = dict(os.environ, **{OPERATOR_TOKEN_ENV: token})
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> Node:
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / "collector.log", "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log, env=self.env)
        line = first_line(self.proc, timeout)
        if not line.startswith("collector listening on "):
            self.stop()
            raise RuntimeError(f"collector did not start ({line!r}); see {self.work / 'collector.log'}")
        self.url = line.split()[3]
        threading.Thread(target=_drain, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"collector at {self.url} not ready")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the node's processes so far."""
        return tree_cpu_s(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (serving processes, backends)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    ticks = 0
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The next line a child prints, or "" when none came within ``timeout`` (a thread reads)."""
    out: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        out.append(proc.stdout.readline())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    return out[0].decode().strip() if out else ""


def _drain(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


def start_nodes(n: int, db_url: str, scheme_dir: Path, lists: list[Path], work: Path, token: str,
                processes: int | None = None) -> list[Node]:  # fmt: skip
    """``n`` nodes; the first imports the lists and creates the schema, the others join it."""
    nodes: list[Node] = []
    try:
        for i in range(n):
            node = Node(db_url, scheme_dir, lists if i == 0 else [], work / f"node-{i}", token, processes)
            nodes.append(node.start())
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes

"""A throw-away PostgreSQL 15 cluster for tests, benchmarks and fleet_sim: a real server, a temp dir.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user (``setpriv`` drops to it; the temp dir is chowned to it). It listens on 127.0.0.1 on a
free port and on a Unix socket in its own dir, trusts local connections, and runs with
``fsync=off``: the tests kill the collector, never the database, and disk flushes would only
make them slower. Each test gets a fresh database (``CREATE DATABASE``).

``OWT_PG_STATS=FILE`` loads ``pg_stat_statements`` and writes its top statements (calls, total
execution ms, rows, query) to FILE when the cluster stops: where a benchmark's database time went.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable_reason() -> str | None:
    for exe in ("initdb", "postgres"):
        if not (PG_BIN / exe).exists():
            return f"PostgreSQL server binaries not found in {PG_BIN} (set PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("setpriv") is None:
            return "running as root and setpriv (util-linux) is missing"
    return None


_STATS_OPTS = ("-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
_TOP_STATEMENTS = (
    "SELECT calls, round(total_exec_time::numeric, 1), rows,"
    " left(regexp_replace(query, '\\s+', ' ', 'g'), 160)"
    " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 40"
)


class PgCluster:
    def __init__(self, *, fsync: bool = False) -> None:
        self.fsync = fsync
        self.dir = Path(tempfile.mkdtemp(prefix="owt-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres"
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.proc: subprocess.Popen[bytes] | None = None
        self._n = 0

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.dir)}

    def start(self) -> PgCluster:
        subprocess.run(
            [*self._prefix, str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
             "-E", "UTF8", "--no-sync", "--locale=C"],
            check=True, capture_output=True, env=self._env(), cwd=self.dir, timeout=120,
        )  # fmt: skip
        self.proc = subprocess.Popen(
            [*self._prefix, str(PG_BIN / "postgres"), "-D", str(self.data), "-k", str(self.dir),
             "-h", "127.0.0.1", "-p", str(self.port), "-c", f"fsync={'on' if self.fsync else 'off'}",
             "-c", f"full_page_writes={'on' if self.fsync else 'off'}",
             "-c", "max_connections=200", "-c", "shared_buffers=64MB", "-c", "log_min_messages=fatal",
             *(_STATS_OPTS if os.environ.get("OWT_PG_STATS") else ())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self._env(), cwd=self.dir,
        )  # fmt: skip
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("PostgreSQL did not start") from None
                time.sleep(0.1)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def new_database(self, prefix: str = "t") -> str:
        import psycopg

        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def _write_stats(self, out: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            rows = conn.execute(_TOP_STATEMENTS).fetchall()
        Path(out).write_text("".join(" | ".join(map(str, r)) + "\n" for r in rows))

    def stop(self) -> None:
        stats = os.environ.get("OWT_PG_STATS")
        if stats and self.proc is not None and self.proc.poll() is None:
            self._write_stats(stats)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

"""The collector holds on its own against connections that never finish (issue 11, denial of
service): a header deadline, a body deadline and a cap on connections per client address.

Real sockets on 127.0.0.1; the attacker connects from 127.0.0.2 / 127.0.0.3 (all of 127/8 is
loopback on Linux), so the honest terminal on 127.0.0.1 is another client address.
"""

from __future__ import annotations

import resource
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sync.harness import ENV, POS_BIN, CollectorProc, SchemeEnv, new_terminal

HALF_OPEN = 1000
PARTIAL_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: collector\r\nX-Slow: "


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def _connect_from(source: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def _closed_by_server(s: socket.socket, wait: float) -> bool:
    """True when the server closed (FIN or RST) within ``wait`` seconds; an answer is read past."""
    s.settimeout(wait)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _drip_until_closed(s: socket.socket, byte: bytes, budget: float) -> float | None:
    """Send one byte every 0.2 s (a slowloris); seconds until the server closed, None if never."""
    start = time.monotonic()
    while time.monotonic() - start < budget:
        try:
            s.sendall(byte)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        if _closed_by_server(s, 0.2):
            return time.monotonic() - start
    return None


@pytest.fixture
def holder(env: SchemeEnv, tmp_path: Path) -> Iterator[list[CollectorProc]]:
    """Collectors started by a test with its own flags, stopped afterwards."""
    procs: list[CollectorProc] = []
    yield procs
    for p in procs:
        p.stop()


def _start(holder: list[CollectorProc], env: SchemeEnv, tmp_path: Path, *extra: str) -> CollectorProc:
    proc = CollectorProc(
        env, f"sqlite:///{tmp_path / 'collector.db'}", tmp_path / "collector", extra=list(extra)
    )
    holder.append(proc.start())
    return proc


def test_thousand_half_open_connections_leave_healthz_and_an_honest_sync_working(
    env: SchemeEnv, tmp_path: Path, holder: list[CollectorProc]
) -> None:
    _raise_fd_limit(HALF_OPEN + 512)
    coll = _start(holder, env, tmp_path)
    term = new_terminal(env, tmp_path / "t1", coll.url, "SHOP-1")
    for i in range(20):
        assert term.pay(env.wallet(), 100 + i).approved
    term.close()
    held: list[socket.socket] = []
    try:
        for _ in range(HALF_OPEN):
            s = _connect_from("127.0.0.2", coll.port)
            try:
                s.sendall(PARTIAL_HEADERS)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server already refused it: it stays in our hands, unanswered
            held.append(s)
        start = time.monotonic()
        health = httpx.get(f"{coll.url}/healthz", timeout=5, trust_env=False)
        assert health.status_code == 200, health.text
        done = subprocess.run(
            [str(POS_BIN), "sync", "--data-dir", str(term.data_dir), "--json"],
            capture_output=True, timeout=30, env=ENV, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - start
        print(f"honest sync with {HALF_OPEN} half-open connections held: {elapsed:.2f} s")
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        assert elapsed < 15
    finally:
        for s in held:
            s.close()


def test_connection_without_complete_headers_is_closed_at_the_header_deadline(
    env: SchemeEnv, tmp_path: Path, holder: list[CollectorProc]
) -> None:
    coll = _start(holder, env, tmp_path, "--header-timeout", "1")
    with _connect_from("127.0.0.1", coll.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        took = _drip_until_closed(s, b"X", budget=6)  # each byte arrives well inside any idle timer
    assert took is not None and took < 4, took


def test_request_whose_body_stalls_is_closed_at_the_body_deadline(
    env: SchemeEnv, tmp_path: Path, holder: list[CollectorProc]
) -> None:
    coll = _start(holder, env, tmp_path, "--body-timeout", "1")
    for path in ("/v1/batches", "/healthz"):  # a route that reads its body, and one that does not
        method = "POST" if path == "/v1/batches" else "GET"
        with _connect_from("127.0.0.1", coll.port) as s:
            s.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: c\r\nContent-Type: application/cbor\r\n"
                "Content-Length: 100000\r\n\r\n".encode()
            )
            took = _drip_until_closed(s, b"\0", budget=8)
        assert took is not None and took < 5, (path, took)


def test_connections_per_client_address_are_capped(
    env: SchemeEnv, tmp_path: Path, holder: list[CollectorProc]
) -> None:
    coll = _start(holder, env, tmp_path, "--max-connections-per-client", "8", "--processes", "1")
    socks = [_connect_from("127.0.0.3", coll.port) for _ in range(20)]
    try:
        closed = sum(_closed_by_server(s, 0.5) for s in socks)
        assert closed == 12
        assert httpx.get(f"{coll.url}/healthz", timeout=5, trust_env=False).status_code == 200
    finally:
        for s in socks:
            s.close()


def test_list_gets_answer_while_a_writer_holds_the_database(
    env: SchemeEnv, tmp_path: Path, holder: list[CollectorProc]
) -> None:
    """A list GET reads the published list and takes no write lock (it used to publish in a write
    transaction on every GET, so a busy writer stalled every terminal's refresh)."""
    coll = _start(holder, env, tmp_path, "--processes", "1")
    with httpx.Client(base_url=coll.url, trust_env=False, timeout=3) as c:
        first = c.get("/v1/lists/deny?full=1")
        assert first.status_code == 200
        etag = first.headers["ETag"]
        writer = sqlite3.connect(tmp_path / "collector.db", isolation_level=None, timeout=1)
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            for path in ("/v1/lists/deny?full=1", "/v1/lists/deny?have=1", "/v1/lists/trust"):
                assert c.get(path).status_code == 200, path
            assert c.get("/v1/lists/deny", headers={"If-None-Match": etag}).status_code == 304
        finally:
            writer.execute("ROLLBACK")
            writer.close()

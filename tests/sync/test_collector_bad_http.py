"""Malformed and oversized requests reach no route: a clear 4xx, the connection closed, the
collector serving the next client (issue 15: the server runs httptools, whose parser llhttp has
no bound of its own on header bytes).

A real ``pos collector serve`` on 127.0.0.1, raw sockets for the bytes no HTTP client would send.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sync.harness import CollectorProc, SchemeEnv

POST = b"POST /v1/batches HTTP/1.1\r\nHost: c\r\n"
MALFORMED = {
    "junk after the version": b"GET /healthz HTTP/1.1 junk\r\nHost: c\r\n\r\n",
    "space in the target": b"GET /heal thz HTTP/1.1\r\nHost: c\r\n\r\n",
    "space in a header name": b"GET /healthz HTTP/1.1\r\nHost: c\r\nBad Header: x\r\n\r\n",
    "NUL in a header value": b"GET /healthz HTTP/1.1\r\nHost: c\r\nX-A: a\x00b\r\n\r\n",
    "folded header line": b"GET /healthz HTTP/1.1\r\nHost: c\r\nX-A: a\r\n b\r\n\r\n",
    "bare LF line ends": b"GET /healthz HTTP/1.1\nHost: c\n\n",
    "TLS to the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(48),
    # request smuggling: two framings, two lengths, a bad chunk size
    "Content-Length and chunked": (
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: c\r\n\r\n"
    ),
    "two Content-Lengths": POST + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "negative Content-Length": POST + b"Content-Length: -1\r\n\r\n",
    "chunked not last": POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "bad chunk size": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
}

OVERSIZED = {
    "one long header": b"GET /healthz HTTP/1.1\r\nHost: c\r\nX-Big: " + b"a" * 300_000,
    "many headers": b"GET /healthz HTTP/1.1\r\nHost: c\r\n" + b"X-A: b\r\n" * 40_000,
    "long target": b"GET /healthz?" + b"a" * 300_000,
}


@pytest.fixture
def coll(env: SchemeEnv, tmp_path: Path) -> Iterator[CollectorProc]:
    proc = CollectorProc(env, f"sqlite:///{tmp_path / 'collector.db'}", tmp_path / "collector")
    yield proc.start()
    proc.stop()


def _answer(port: int, data: bytes, wait: float = 3.0) -> tuple[bytes, float]:
    """Everything the server sent until it closed the connection, and the seconds that took
    (``wait`` if it never closed)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it was read: the answer is still there to read
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            return out, wait
    return out, time.monotonic() - start


def _healthy(coll: CollectorProc) -> bool:
    return httpx.get(f"{coll.url}/healthz", timeout=5, trust_env=False).status_code == 200


def test_malformed_request_lines_and_headers_get_400_and_a_closed_connection(coll: CollectorProc) -> None:
    for name, data in MALFORMED.items():
        out, took = _answer(coll.port, data)
        assert out.startswith(b"HTTP/1.1 400 "), (name, out[:200])
        assert out.count(b"HTTP/1.1 ") == 1, (name, out)  # nothing smuggled behind it was answered
        assert took < 3, (name, took)
    assert _healthy(coll)


def test_headers_over_the_byte_cap_get_431_and_a_closed_connection(coll: CollectorProc) -> None:
    for name, data in OVERSIZED.items():
        out, took = _answer(coll.port, data)
        assert out.startswith(b"HTTP/1.1 431 "), (name, out[:200])
        assert took < 3, (name, took)  # at once, not at the header deadline
    assert _healthy(coll)

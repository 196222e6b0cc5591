"""Connection limits uvicorn lacks: a header deadline, a body deadline, a cap per client address.

uvicorn counts every open connection against ``limit_concurrency`` and has no header timeout,
so 256 connections that never finish their headers made every request 503 for as long as the
client held them (issue 11). Its options do not close such a connection: ``timeout_keep_alive``
is armed only after a first response. Serving through hypercorn or granian was weighed:
hypercorn re-arms its keep-alive timer after every read and its ``read_timeout`` bounds one read
(a client dripping a byte a second is never cut off); granian brings a Rust runtime that binds
its own sockets and owns its workers, which does not fit the parent-binds-then-forks design of
``collector.server``. So the httptools protocol class uvicorn already runs (on uvloop: a bare
304 costs 223 us of server CPU there, 550 us on h11 and asyncio, issue 15) is extended here
with four rules, judged from the parser's callbacks (a request begins, its headers are
complete, it is complete):

* headers: a request's headers must be complete within ``header_timeout_s`` of the
  connection's start (or of its first byte on a kept-alive connection; idle time before that is
  uvicorn's keep-alive timer). The deadline is absolute, so dripping bytes does not extend it.
* header bytes: at most ``MAX_HEAD_BYTES`` before the headers are complete (llhttp itself has no
  bound; h11 had 16 KiB), else ``431`` and the connection is closed.
* body: once the headers are in, the whole body must arrive within ``body_timeout_s`` plus a
  second of grace (the app's own read deadline answers 408 first when it reads the body).
* per client address (an IPv6 /64 counts as one), at most ``per_client`` open connections in
  this serving process; one more is reset at once (RST), so its socket and its slot are freed
  before it sends a byte.

A request the parser refuses (a bad request line, header or chunk) is answered ``400`` and the
connection closed by uvicorn; no byte of it reaches the app.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from collector.access import client_key

log = logging.getLogger("collector.http")
_client_key = functools.lru_cache(maxsize=4096)(client_key)  # parsed once per address, not per connection

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_PER_CLIENT = 32
MAX_HEAD_BYTES = 64 * 1024  # request line and headers of one request
_BODY_GRACE_S = 1.0
_TOO_LARGE_TEXT = b"request headers too large"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE_TEXT), _TOO_LARGE_TEXT)
)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    per_client: int = DEFAULT_PER_CLIENT  # 0: no cap (a reverse proxy in front enforces one)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """The rules above; ``guarded_protocol`` gives each server its limits and its own count."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    open_by_client: ClassVar[Counter[str]] = Counter()
    _timer: asyncio.TimerHandle | None = None
    _phase = ""
    _counted: str | None = None
    # the newest request the parser has seen: "idle" (none since the last answered one),
    # "head" (begun, headers incomplete), "body" (headers in), "done" (all of it in)
    _parsing = "idle"
    _head_bytes = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        host = _client_key(self.client[0]) if self.client else ""
        if self.limits.per_client and self.open_by_client[host] >= self.limits.per_client:
            log.warning("refused a connection from %s: %d already open", host, self.limits.per_client)
            transport.abort()
            return
        self.open_by_client[host] += 1
        self._counted = host
        self._arm("headers", self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted is not None:
            self.open_by_client[self._counted] -= 1
            if self.open_by_client[self._counted] <= 0:
                del self.open_by_client[self._counted]
            self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._counted is None or self.transport.is_closing():
            return  # refused, timed out or answered 400/431: nothing more is parsed
        if self._parsing in ("idle", "head"):
            self._head_bytes += len(data)
        super().data_received(data)
        if self._parsing in ("idle", "head") and self._head_bytes > MAX_HEAD_BYTES:
            log.info("closed a connection from %s: headers over %d bytes", self.client, MAX_HEAD_BYTES)
            if not self.transport.is_closing():
                self.transport.write(_TOO_LARGE)
                self.transport.close()
        self._follow()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsing = "head"

    def on_headers_complete(self) -> None:
        self._parsing, self._head_bytes = "body", 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._parsing = "done"
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._parsing == "done" and not self.pipeline:
            self._parsing = "idle"
            self._disarm()  # between requests the keep-alive timer rules
        else:
            self._follow()

    def _follow(self) -> None:
        if self._counted is None or self.transport.is_closing():
            return
        if self._parsing in ("idle", "head"):
            self._arm("headers", self.limits.header_timeout_s)
        elif self._parsing == "body":
            self._arm("body", self.limits.body_timeout_s + _BODY_GRACE_S)
        else:
            self._disarm()

    def _arm(self, phase: str, seconds: float) -> None:
        if self._phase == phase and self._timer is not None:
            return  # an absolute deadline: later bytes do not move it
        self._disarm()
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._phase = ""

    def _expire(self) -> None:
        phase, self._timer, self._phase = self._phase, None, ""
        if not self.transport.is_closing():
            log.info("closed a connection from %s: its %s did not arrive in time", self.client, phase)
            self.transport.abort()


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class with ``limits`` applied; give it as ``Config(http=...)``."""
    # one serving process's connections per address
    attrs = {"limits": limits, "open_by_client": Counter()}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attrs)

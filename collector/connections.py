"""Connection limits uvicorn lacks: a header deadline, a body deadline, a cap per client address.

uvicorn counts every open connection against ``limit_concurrency`` and has no header timeout,
so 256 connections that never finish their headers made every request 503 for as long as the
client held them (issue 11). Its options do not close such a connection: ``timeout_keep_alive``
is armed only after a first response, and ``h11_max_incomplete_event_size`` bounds bytes, not
time. Serving through hypercorn or granian was weighed: hypercorn re-arms its keep-alive timer
after every read and its ``read_timeout`` bounds one read (a client dripping a byte a second is
never cut off); granian brings a Rust runtime that binds its own sockets and owns its workers,
which does not fit the parent-binds-then-forks design of ``collector.server``. So the h11
protocol class uvicorn already runs is extended here with three rules, judged from h11's
public connection states:

* headers: a request's headers must be complete within ``header_timeout_s`` of the
  connection's start (or of its first byte on a kept-alive connection; idle time before that is
  uvicorn's keep-alive timer). The deadline is absolute, so dripping bytes does not extend it.
* body: once the headers are in, the whole body must arrive within ``body_timeout_s`` plus a
  second of grace (the app's own read deadline answers 408 first when it reads the body).
* per client address (an IPv6 /64 counts as one), at most ``per_client`` open connections in
  this serving process; one more is reset at once (RST), so its socket and its slot are freed
  before it sends a byte.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from collector.access import client_key

log = logging.getLogger("collector.http")

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_PER_CLIENT = 32
_BODY_GRACE_S = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    per_client: int = DEFAULT_PER_CLIENT  # 0: no cap (a reverse proxy in front enforces one)


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with ``limits`` applied; give it as ``Config(http=...)``."""
    open_by_client: Counter[str] = Counter()  # one serving process's connections per address

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _phase = ""
        _counted: str | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            host = client_key(self.client[0]) if self.client else ""
            if limits.per_client and open_by_client[host] >= limits.per_client:
                log.warning("refused a connection from %s: %d already open", host, limits.per_client)
                transport.abort()
                return
            open_by_client[host] += 1
            self._counted = host
            self._arm("headers", limits.header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                open_by_client[self._counted] -= 1
                if open_by_client[self._counted] <= 0:
                    del open_by_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._follow()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE:
                self._disarm()  # between requests the keep-alive timer rules
            else:
                self._follow()

        def _follow(self) -> None:
            if self._counted is None or self.transport.is_closing():
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                self._arm("headers", limits.header_timeout_s)
            elif state is h11.SEND_BODY:
                self._arm("body", limits.body_timeout_s + _BODY_GRACE_S)
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

    return GuardedH11Protocol

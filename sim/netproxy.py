"""A switchable, fault-injecting HTTP/1.1 proxy between terminals and the collector (a simulator).

It understands just enough HTTP to cut at message boundaries: each request (head + body by
Content-Length or chunked) gets one fault drawn from a seeded RNG:

    pass       forward both ways
    delay      sleep before forwarding (up to ``max_delay_s``)
    drop_req   close the client connection; the request never reaches the collector
    drop_resp  forward the request, read the whole answer, close without sending it
    duplicate  send the request twice (the second on a fresh upstream connection); the client
               gets one of the two answers, chosen by the RNG
    reset      send part of the answer, then reset the connection (RST)
    truncate   send part of the answer, then close cleanly (FIN)
    stall      forward the request, then send nothing for ``stall_s`` and close

The switch (``set_online``) cuts the network: while off, every new connection is reset as soon
as it is accepted and the connections in flight are aborted, which a terminal sees exactly as a
cable pulled out (a transport error, retried later). The port stays bound, so the link comes
back on the same address.

It runs its own asyncio event loop in a thread; ``reseed`` starts a new deterministic run. Used
by the demo (``sim.demo.network``) and by the sync tests.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter

FAULTS = ("pass", "delay", "drop_req", "drop_resp", "duplicate", "reset", "truncate", "stall")
DEFAULT_WEIGHTS = {
    "pass": 40,
    "delay": 10,
    "drop_req": 8,
    "drop_resp": 12,
    "duplicate": 10,
    "reset": 8,
    "truncate": 8,
    "stall": 4,
}
CLEAN = {"pass": 1}
READ_LIMIT = 1 << 24


class _Closed(Exception):
    pass


def check_weights(weights: dict[str, int]) -> dict[str, int]:
    unknown = sorted(set(weights) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    if any(type(w) is not int or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("fault weights must be non-negative integers with a positive sum")
    return dict(weights)


def _status_has_no_body(first: str) -> bool:
    parts = first.split(" ")
    code = parts[1] if len(parts) > 1 else ""
    return code in ("204", "304") or code.startswith("1")


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP message, raw; None at a clean EOF before it starts."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _Closed from None
    except (asyncio.LimitOverrunError, ConnectionError) as exc:
        raise _Closed from exc
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if lines[0].startswith("HTTP/") and _status_has_no_body(lines[0]):
        return head
    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                body += size_line
                size = int(size_line.split(b";")[0].strip(), 16)
                body += await reader.readexactly(size + 2)
                if size == 0:
                    break
            return head + bytes(body)
        n = int(headers.get("content-length", "0"))
        return head + (await reader.readexactly(n) if n else b"")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as exc:
        raise _Closed from exc


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class _Link:
    """One client connection and its upstream connection, once opened."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.up: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int = 0,
        weights: dict[str, int] | None = None,
        max_delay_s: float = 0.1,
        stall_s: float = 1.0,
        upstream_host: str = "127.0.0.1",
        online: bool = True,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.weights = check_weights(weights or DEFAULT_WEIGHTS)
        self.max_delay_s = max_delay_s
        self.stall_s = stall_s
        self.rng = random.Random(seed)
        self.applied: Counter[str] = Counter()
        self.refused = 0  # connections reset while the network was cut
        self.port = 0
        self._online = online
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._conns: set[asyncio.StreamWriter] = set()

    # -- control ----------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = fut.result(10)
        return self

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=READ_LIMIT)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def online(self) -> bool:
        return self._online

    def set_online(self, on: bool) -> None:
        """Cut (False) or restore (True) the network; cutting aborts the connections in flight."""
        self._online = on
        if not on and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._abort_all(), self._loop).result(5)

    async def _abort_all(self) -> None:
        for w in list(self._conns):
            _rst(w)

    def reseed(self, seed: int, weights: dict[str, int] | None = None) -> None:
        checked = check_weights(weights) if weights is not None else None

        def apply() -> None:
            self.rng = random.Random(seed)
            if checked is not None:
                self.weights = checked
            for w in list(self._conns):
                w.transport.abort()

        self._loop.call_soon_threadsafe(apply)

    def set_upstream_port(self, port: int) -> None:
        self.upstream = (self.upstream[0], port)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._conns):
                w.transport.abort()
            # The connections' handlers end here, not when the closed loop's tasks are collected
            # (a handler's cleanup then runs on a closed loop, after the test's output is gone).
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def _pick(self) -> str:
        names = list(self.weights)
        return self.rng.choices(names, [self.weights[n] for n in names])[0]

    # -- one client connection --------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._online:
            self.refused += 1
            _rst(writer)
            return
        self._conns.add(writer)
        link = _Link(writer)
        try:
            while True:
                try:
                    req = await _read_message(reader)
                except _Closed:
                    return
                if req is None:
                    return
                if not self._online:
                    self.refused += 1
                    _rst(writer)
                    return
                if await self._exchange(req, link):
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self._conns.discard(writer)
            if link.up is not None:
                link.up[1].close()
            if not writer.is_closing():
                writer.close()

    async def _exchange(self, req: bytes, link: _Link) -> bool:
        """One request with its fault; True when the client connection has ended."""
        writer = link.writer
        fault = self._pick()
        cut = self.rng.random()
        pick_second = self.rng.random() < 0.5
        delay = self.rng.uniform(0, self.max_delay_s)
        self.applied[fault] += 1
        if fault == "drop_req":
            _rst(writer)
            return True
        if fault == "delay":
            await asyncio.sleep(delay)
        try:
            if link.up is None:
                link.up = await asyncio.open_connection(*self.upstream, limit=READ_LIMIT)
            up = link.up
            up[1].write(req)
            await up[1].drain()
            resp = await _read_message(up[0])
            if resp is None:
                raise _Closed
            if fault == "duplicate":
                r2, w2 = await asyncio.open_connection(*self.upstream, limit=READ_LIMIT)
                w2.write(req)
                await w2.drain()
                resp2 = await _read_message(r2)
                w2.close()
                if pick_second and resp2 is not None:
                    resp = resp2
        except (OSError, _Closed):
            _rst(writer)  # the collector is down or cut us off: the client sees a reset
            return True
        if fault == "drop_resp":
            writer.close()
            return True
        if fault in ("reset", "truncate"):
            writer.write(resp[: max(1, int(len(resp) * cut))])
            await writer.drain()
            if fault == "reset":
                _rst(writer)
            else:
                writer.close()
            return True
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
            _rst(writer)
            return True
        writer.write(resp)
        await writer.drain()
        if b"\r\nconnection: close" in resp[:2048].lower():
            writer.close()
            return True
        return False

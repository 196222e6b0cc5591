"""What the simulated terminals send: enrollment, their day's batches, and their list polls.

Every request is real HTTP to a collector node (terminal ``i`` talks to node ``i % nodes``),
from a bounded pool of threads (``concurrency``), with the terminal's own Ed25519 key: the
enrollment proves the key, each batch is signed by it, each list poll carries the signed
headers a real terminal's refresher sends. The run stops taking new work at the deadline.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pos.errors import ListError
from pos.sigs import PublicKey
from pos.trust import DenyList, parse_deny_list
from pos.wire import denylist
from pos.wire import protocol as p
from sim.fleet.plan import TerminalDay

DENY_PATH = "/v1/lists/deny"


class DeadlinePassed(RuntimeError):
    """The run's deadline (``--deadline``) passed with terminals still waiting to be served."""


@dataclass
class Tally:
    """What the terminals saw, added up across threads."""

    answers: Counter[str] = field(default_factory=Counter)  # batch row results "status:verdict"
    http: Counter[str] = field(default_factory=Counter)
    batch_ms: list[float] = field(default_factory=list)
    polls: Counter[str] = field(default_factory=Counter)
    delta_bytes: list[int] = field(default_factory=list)
    full_bytes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, msg: str) -> None:
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append(msg)


class Clients:
    """One HTTP client per node, shared by the threads (httpx clients are thread-safe).

    No connection is kept alive: a real terminal syncs or polls once a minute, long after the
    server's keep-alive has closed its connection, so every request pays for its own connection
    (counted in the poll's CPU), and new connections spread over a node's serving processes as
    a fleet's do. Kept-alive connections made one process take 80 % of the work.
    """

    def __init__(self, urls: list[str], concurrency: int, *, keepalive: bool = False) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # "Connection: close" rather than a pool without keep-alive: httpcore's pool closing idle
        # connections under many threads once read from a closed descriptor (EBADF)
        headers = {} if keepalive else {"Connection": "close"}
        self.clients = [
            httpx.Client(base_url=u, trust_env=False, timeout=300, limits=limits, headers=headers)
            for u in urls
        ]

    def for_terminal(self, i: int) -> httpx.Client:
        return self.clients[i % len(self.clients)]

    def close(self) -> None:
        for c in self.clients:
            c.close()


def run_pool(jobs: Iterable[Any], work: Callable[[Any], None], concurrency: int, deadline: float) -> None:
    """``work`` over ``jobs`` on ``concurrency`` threads, at most twice that many queued."""
    gate = threading.Semaphore(2 * concurrency)
    failures: list[BaseException] = []

    def one(job: Any) -> None:
        try:
            if time.monotonic() > deadline:
                raise DeadlinePassed("the deadline passed before every terminal was served (--deadline)")
            work(job)
        except BaseException as exc:  # noqa: BLE001 - reported after the pool drains
            failures.append(exc)
        finally:
            gate.release()

    with ThreadPoolExecutor(concurrency) as pool:
        for job in jobs:
            gate.acquire()
            if failures:
                gate.release()
                break
            pool.submit(one, job)
    if failures:
        raise failures[0]


def enroll(client: httpx.Client, day: TerminalDay, token: str, tally: Tally) -> None:
    key = Ed25519PrivateKey.from_private_bytes(day.key)
    raw = key.public_key().public_bytes_raw()
    t = int(time.time())
    body = {
        "tid": day.tid,
        "key": raw.hex(),
        "time": t,
        "sig": key.sign(p.enroll_message(day.tid, raw, t)).hex(),
    }
    r = _retried(lambda: client.post("/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}))
    with tally.lock:
        tally.http[f"enroll {r.status_code}"] += 1
    if r.status_code not in (200, 201):
        raise RuntimeError(f"enrolling {day.tid}: {r.status_code} {r.text[:200]}")


def upload(client: httpx.Client, day: TerminalDay, tally: Tally) -> None:
    """Each batch on a connection of its own, through ``http.client``: the same bytes on the
    wire as httpx sends, at about half its CPU (the simulated terminals share the collector's
    cores here, a fleet's do not)."""
    host, port = client.base_url.host, client.base_url.port
    headers = {"Content-Type": p.CONTENT_TYPE, "Connection": "close"}
    for body in day.bodies:
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=300)
        try:
            conn.request("POST", "/v1/batches", body=body, headers=headers)
            resp = conn.getresponse()
            status, data = resp.status, resp.read()
        finally:
            conn.close()
        ms = 1000 * (time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"batch of {day.tid}: {status} {data[:200]!r}")
        results = json.loads(data)["results"]
        with tally.lock:
            tally.batch_ms.append(ms)
            tally.http["batch 200"] += 1
            for _seq, status, verdict in results:
                tally.answers[f"{status}:{verdict}"] += 1


def _signed(day: TerminalDay, path: str) -> dict[str, str]:
    key = Ed25519PrivateKey.from_private_bytes(day.key)
    now = int(time.time())
    sig = key.sign(p.list_request_message(day.tid, path, now))
    return {p.HDR_TERMINAL: day.tid, p.HDR_TIME: str(now), p.HDR_SIGNATURE: sig.hex()}


class ListHolder:
    """The deny lists the terminals end up holding: each distinct one verified once, by the root."""

    def __init__(self, root: PublicKey, start: DenyList) -> None:
        self.root = root
        self.start = start
        self._seen: dict[bytes, DenyList] = {}
        self._lock = threading.Lock()

    def install(self, body: bytes, ctype: str) -> DenyList:
        if ctype == p.DENY_DELTA_TYPE:
            delta = denylist.parse_delta(body)
            if delta.base != self.start.seq:
                raise ListError(f"delta from {delta.base}, the terminal holds {self.start.seq}")
            ids = self.start.ids
            body = denylist.rebuild(ids.buf if ids else b"", ids.count if ids else 0, delta)
        with self._lock:
            cached = self._seen.get(body)
        if cached is None:
            cached = parse_deny_list(body, self.root)
            with self._lock:
                self._seen[body] = cached
        return cached


def poll(client: httpx.Client, day: TerminalDay, holder: ListHolder, tally: Tally) -> DenyList:
    """A terminal's two polls: the news since the list it holds, then an unchanged one (304)."""
    accept = {"Accept": f"{p.DENY_DELTA_TYPE}, {p.COSE_TYPE}"}
    r = _retried(
        lambda: client.get(
            DENY_PATH, params={"have": str(holder.start.seq)}, headers={**accept, **_signed(day, DENY_PATH)}
        )
    )
    ctype = r.headers.get("content-type", "").split(";")[0]
    if r.status_code != 200:
        raise RuntimeError(f"{day.tid}: deny list poll answered {r.status_code}")
    held = holder.install(r.content, ctype)
    r2 = _retried(
        lambda: client.get(
            DENY_PATH,
            params={"have": str(held.seq)},
            headers={**accept, "If-None-Match": r.headers.get("etag", ""), **_signed(day, DENY_PATH)},
        )
    )
    with tally.lock:
        tally.polls["delta" if ctype == p.DENY_DELTA_TYPE else "full"] += 1
        (tally.delta_bytes if ctype == p.DENY_DELTA_TYPE else tally.full_bytes).append(len(r.content))
        tally.polls[str(r2.status_code)] += 1
    return held


def poll_unchanged(client: httpx.Client, day: TerminalDay, seq: int) -> int:
    """A steady poll of a terminal that holds list ``seq``: its status (304 when nothing changed)."""
    headers = {
        "Accept": f"{p.DENY_DELTA_TYPE}, {p.COSE_TYPE}",
        "If-None-Match": f'"deny-{seq}"',
        **_signed(day, DENY_PATH),
    }
    return _retried(lambda: client.get(DENY_PATH, params={"have": str(seq)}, headers=headers)).status_code


def _retried(request: Callable[[], httpx.Response], attempts: int = 3) -> httpx.Response:
    """An idempotent request (enrolment, a list poll) tried again after a transport error, as a
    terminal's next sync would; a batch is never re-sent (its nonce would be a replay)."""
    for attempt in range(attempts):
        try:
            return request()
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")

"""Assembling and serving the collector: ``pos collector serve``.

Several serving processes (``--processes``, default one per core) share one listening socket:
the parent binds it, imports the lists given on the command line, then forks the servers
before it has opened a database connection or started a thread; each server builds its own
collector (its own SQLite connection or PostgreSQL pool) and runs uvicorn on the shared
socket, the kernel spreading connections among them. Token verification runs in the request's
thread, so every core verifies and parses. The parent only supervises: it forwards SIGTERM and
SIGINT, replaces a server that dies, and its servers die with it (``PR_SET_PDEATHSIG``, and a
watchdog on the parent pid), so a kill -9 of the collector leaves nothing listening.

With ``--listen HOST:0`` the port is chosen by the kernel and printed. TLS: ``--tls-cert`` and
``--tls-key``; terminals then verify the certificate (``sync.ca_file`` or ``sync.pinned_cert``).
Listening on an address other than loopback without TLS prints a warning (terminals refuse plain
http except to localhost, and the operator token would cross the network in the clear).

Each server runs uvicorn's httptools protocol on uvloop and holds on its own against clients
that never finish (``collector.connections``): a header deadline, a cap on header bytes, a body
deadline and a cap on connections per client address.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector import fetches
from collector.app import DEFAULT_MAX_BODY, INGEST_THREADS, create_app
from collector.connections import ConnectionLimits, guarded_protocol
from collector.counters import RejectCounter
from collector.db import Database
from collector.list_cache import Republisher
from collector.lists import Lists, ListSigner
from collector.service import Collector, Settings
from pos import sigs
from pos.decision import Policy
from pos.lifeline import die_with_parent

log = logging.getLogger("collector")

_MAX_RESTARTS_PER_MIN = 10


@dataclass
class ServeOptions:
    db_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    scheme_dir: Path | None = None
    root_key: Path | None = None
    operator_token: str | None = None
    metrics_token: str | None = None
    trust_lists: tuple[Path, ...] = ()
    deny_lists: tuple[Path, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    tls_cert: Path | None = None
    tls_key: Path | None = None
    processes: int | None = None
    ingest_threads: int = INGEST_THREADS
    pool_size: int = 8
    batch_window_s: int = 86400
    limit_margin_s: int = 60
    skew_s: int = 30
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


def _keys(opts: ServeOptions) -> tuple[ListSigner | None, sigs.PublicKey | None]:
    signer = ListSigner.from_scheme_dir(opts.scheme_dir) if opts.scheme_dir else None
    root: sigs.PublicKey | None = None
    if opts.root_key is not None:
        root = sigs.load_pem_public_key(opts.root_key.read_bytes())
    elif opts.scheme_dir is not None:
        root = sigs.load_pem_public_key((opts.scheme_dir / "root.pem").read_bytes())
    if (
        signer is not None
        and root is not None
        and sigs.key_fingerprint(signer.public) != sigs.key_fingerprint(root)
    ):
        raise ValueError("the scheme's root key differs from --root-key")
    return signer, root


def prepare(opts: ServeOptions) -> None:
    """Once, before serving: the schema, the lists given on the command line, a due deny list."""
    signer, root = _keys(opts)
    db = Database(opts.db_url, pool_size=1)
    try:
        lists = Lists(db, root, signer, skew_s=opts.skew_s)
        for path in (*opts.trust_lists, *opts.deny_lists):
            pub = lists.import_list(path.read_bytes())
            log.info("imported list typ %d seq %d from %s", pub.typ, pub.seq, path)
        lists.publish_deny()  # wallets waiting from before a restart, or an ageing list
    finally:
        db.close()


def build(opts: ServeOptions, rejects: RejectCounter | None = None) -> Collector:
    """One serving process's collector (its own database connections)."""
    signer, root = _keys(opts)
    db = Database(opts.db_url, pool_size=opts.pool_size)
    settings = Settings(
        operator_token=opts.operator_token,
        batch_window_s=opts.batch_window_s,
        limit_margin_s=opts.limit_margin_s,
        policy=Policy(skew_s=opts.skew_s),
    )
    # A large batch is verified on threads only where processes leave cores idle: with a process
    # per core, a verify pool in each only adds GIL contention (measured: 57 us of CPU per payment).
    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, opts.processes if opts.processes is not None else cores))
    return Collector(
        db, Lists(db, root, signer, skew_s=opts.skew_s), settings, rejects=rejects, verify_threads=threads
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; with
    # proto 0 every answer waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    deadline = time.monotonic() + 10
    while True:
        try:
            sock.bind((host, port))
            break
        except OSError as exc:
            # Restarted right after a crash: the old servers may take a moment to go.
            if exc.errno != errno.EADDRINUSE or port == 0 or time.monotonic() > deadline:
                sock.close()
                raise
            time.sleep(0.1)
    sock.listen(512)
    return sock


def _run_server(opts: ServeOptions, sock: socket.socket, rejects: RejectCounter) -> None:
    import uvicorn

    collector = build(opts, rejects)
    config = uvicorn.Config(
        create_app(
            collector,
            max_body=opts.max_body,
            body_timeout_s=opts.limits.body_timeout_s,
            metrics_token=opts.metrics_token,
            ingest_threads=opts.ingest_threads,
        ),
        http=guarded_protocol(opts.limits),
        loop="uvloop",
        ws="none",  # an upgrade would hand the connection to a protocol without the guard
        log_level="warning",
        access_log=False,
        ssl_certfile=str(opts.tls_cert) if opts.tls_cert else None,
        ssl_keyfile=str(opts.tls_key) if opts.tls_key else None,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=10,
        # uvicorn answers 503 past this many open connections; the per-address cap and the
        # deadlines keep one client from reaching it, this bounds a crowd of them.
        limit_concurrency=1024,
        server_header=False,
    )
    republisher = Republisher(collector.lists).start()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        republisher.stop()
        collector.close()


def _fork_server(opts: ServeOptions, sock: socket.socket, rejects: RejectCounter) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        die_with_parent(parent)
        _run_server(opts, sock, rejects)
    except BaseException:
        log.exception("collector server process failed")
        code = 1
    finally:
        os._exit(code)
    return 0  # pragma: no cover


def _raise_fd_limit() -> None:
    """Every held connection is a descriptor: run out and accept() fails for honest clients too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (OSError, ValueError):
            log.warning("could not raise the open-file limit from %d", soft)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(host: str, tls: bool) -> str | None:
    """The warning printed when the collector would serve plain HTTP beyond this machine."""
    if tls or is_loopback(host):
        return None
    return (
        f"warning: listening on {host} without TLS: terminals refuse plain http except to localhost"
        " and the operator token would cross the network in the clear; give --tls-cert/--tls-key"
        " or put a TLS reverse proxy in front and listen on 127.0.0.1 (docs/sync.md)"
    )


def serve(opts: ServeOptions) -> int:
    prepare(opts)
    _raise_fd_limit()
    warning = plain_http_warning(opts.host, opts.tls_cert is not None)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    sock = _bind(opts.host, opts.port)
    port = sock.getsockname()[1]
    n = max(1, opts.processes if opts.processes is not None else (os.cpu_count() or 1))
    rejects = RejectCounter()
    scheme = "https" if opts.tls_cert else "http"
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    dialect = "postgres" if opts.db_url.startswith(("postgres://", "postgresql://")) else "sqlite"
    print(f"collector listening on {scheme}://{host}:{port} ({dialect}, {n} processes)", flush=True)
    if n == 1:
        _run_server(opts, sock, rejects)
        return 0
    fetches.share_between_processes()  # one fetch-time check per terminal per node, not per process
    return _supervise(opts, sock, rejects, n)


def _supervise(opts: ServeOptions, sock: socket.socket, rejects: RejectCounter, n: int) -> int:
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    children: set[int] = set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts: list[float] = []
    for _ in range(n):
        children.add(_fork_server(opts, sock, rejects))
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries wait() itself
            continue
        children.discard(pid)
        if stopping:
            continue
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < 60] + [now]
        if len(restarts) > _MAX_RESTARTS_PER_MIN:
            log.error("collector servers keep dying; giving up")
            stop(signal.SIGTERM, None)
            continue
        log.error("collector server %d exited (status %d); starting another", pid, status)
        children.add(_fork_server(opts, sock, rejects))
    sock.close()
    return 0

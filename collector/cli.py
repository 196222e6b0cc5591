"""``pos collector serve|export``: the reference collector's commands.

    pos collector serve --db URL --listen HOST:PORT [--scheme DIR] [--operator-token-file F]
                        [--metrics-token-file F] [--header-timeout S] [--body-timeout S]
                        [--max-connections-per-client N] [--tls-cert PEM --tls-key PEM]
    pos collector export --db URL [--since EPOCH] [--csv FILE] [--out FILE]
    pos collector archive --db URL --before YYYY-MM --out FILE | --restore FILE

Secrets come from a file or the environment (``$POS_OPERATOR_TOKEN``, ``$POS_METRICS_TOKEN``):
a command line is readable by every user of the machine (``ps``, ``/proc/PID/cmdline``), so
``--operator-token`` still works but warns. ``register(sub)`` adds the commands to ``pos``;
starlette, uvicorn and psycopg are imported inside the handlers only, so ``pos --help`` and the
terminal's own commands do not load them. Exit codes: 0 done, 2 usage or start-up failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from collector import cli_archive, cli_operator, cli_site, cli_users
from pos.errors import ConfigError

OPERATOR_TOKEN_ENV = "POS_OPERATOR_TOKEN"
METRICS_TOKEN_ENV = "POS_METRICS_TOKEN"
ARGV_TOKEN_WARNING = (
    "warning: --operator-token is visible to every user of this machine (ps, /proc);"
    f" use --operator-token-file or ${OPERATOR_TOKEN_ENV}"
)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 < seconds <= 3600")
    return value


def register(sub: Any) -> None:
    coll = sub.add_parser("collector", help="the reference collector server").add_subparsers(
        dest="collector_cmd", required=True
    )
    p = coll.add_parser("serve", help="serve the collector over HTTP(S)")
    p.add_argument("--db", required=True, help="sqlite:///PATH (default kind) or postgresql://...")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--scheme", type=Path, help="demo scheme dir: its root key verifies and signs lists")
    p.add_argument("--root-key", type=Path, help="the scheme root public key (PEM), to verify lists")
    p.add_argument(
        "--operator-token-file", type=Path, help=f"enrollment credential (or ${OPERATOR_TOKEN_ENV})"
    )
    p.add_argument("--operator-token", help="deprecated: visible in ps; use the file or the environment")
    p.add_argument(
        "--metrics-token-file", type=Path, help=f"bearer token for /metrics (or ${METRICS_TOKEN_ENV})"
    )
    p.add_argument("--trust-list", type=Path, action="append", default=[], help="import a signed trust list")
    p.add_argument("--deny-list", type=Path, action="append", default=[], help="import a signed deny list")
    p.add_argument("--max-body", type=_count, default=8 << 20, help="bytes")
    p.add_argument("--header-timeout", type=_seconds, default=10.0, help="seconds to send the headers (10)")
    p.add_argument("--body-timeout", type=_seconds, default=30.0, help="seconds to send the body (30)")
    p.add_argument(
        "--max-connections-per-client", type=_count, default=32,
        help="open connections per client address and serving process (32; 0: no cap, behind a proxy)",
    )  # fmt: skip
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--tls-key", type=Path, help="the private key of --tls-cert (PEM)")
    p.add_argument("--processes", type=_count, help="serving processes (default: one per core)")
    p.add_argument(
        "--ingest-threads", type=_count, help="batches each serving process ingests at once (2)",
    )  # fmt: skip
    p.add_argument("--limit-margin", type=_count, default=60, help="seconds")
    p.set_defaults(handler=run_serve)

    p = coll.add_parser("export", help="accepted payments and flagged events (JSON lines), settlement CSV")
    p.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://...")
    p.add_argument("--since", type=_count, default=0, help="epoch seconds (stored since)")
    p.add_argument("--csv", type=Path, help="write the settlement summary per terminal and currency here")
    p.add_argument("--out", type=Path, help="JSON lines to this file instead of stdout")
    p.set_defaults(handler=run_export)
    cli_archive.register(coll)  # archive, --restore (collector.archive)
    cli_operator.register(coll)  # deny, reinstate, audit
    cli_site.register_collector(coll)  # site add (docs/site.md)
    cli_users.register(coll)  # user add|remove|list|reset-totp (the console's accounts)


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ConfigError(f"--listen {text!r}: give HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def secret(path: Path | None, env: str, flag: str) -> str | None:
    """A token from its file (first line, trimmed) or else the environment; None when neither."""
    if path is not None:
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror}") from None
        if not text:
            raise ConfigError(f"{flag}: {path} is empty")
        return text
    return os.environ.get(env) or None


def operator_token(args: argparse.Namespace) -> str | None:
    if args.operator_token:
        print(ARGV_TOKEN_WARNING, file=sys.stderr, flush=True)
        return str(args.operator_token)
    return secret(args.operator_token_file, OPERATOR_TOKEN_ENV, "--operator-token-file")


def run_serve(args: argparse.Namespace) -> int:
    from collector.connections import ConnectionLimits
    from collector.routes import INGEST_THREADS
    from collector.server import ServeOptions, serve

    host, port = listen_address(args.listen)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if args.scheme is None and args.root_key is None and (args.trust_list or args.deny_list):
        raise ConfigError("importing lists needs --scheme or --root-key to verify them")
    opts = ServeOptions(
        db_url=args.db,
        host=host,
        port=port,
        scheme_dir=args.scheme,
        root_key=args.root_key,
        operator_token=operator_token(args),
        metrics_token=secret(args.metrics_token_file, METRICS_TOKEN_ENV, "--metrics-token-file"),
        trust_lists=tuple(args.trust_list),
        deny_lists=tuple(args.deny_list),
        max_body=args.max_body,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        processes=args.processes,
        ingest_threads=args.ingest_threads or INGEST_THREADS,
        limit_margin_s=args.limit_margin,
        limits=ConnectionLimits(args.header_timeout, args.body_timeout, args.max_connections_per_client),
    )
    try:
        return serve(opts)
    except (OSError, ValueError) as exc:
        print(f"pos collector serve: {exc}", file=sys.stderr)
        return 2


def run_export(args: argparse.Namespace) -> int:
    from collector import export
    from collector.db import Database

    try:
        db = Database(args.db)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--db: {exc}") from None
    try:
        if args.out:
            with args.out.open("w") as fh:
                n_pay, n_ev = export.write_jsonl(db, fh, args.since)
        else:
            n_pay, n_ev = export.write_jsonl(db, sys.stdout, args.since)
        if args.csv:
            with args.csv.open("w", newline="") as fh:
                export.write_csv(db, fh, args.since)
    finally:
        db.close()
    print(f"exported {n_pay} payments and {n_ev} events", file=sys.stderr)
    return 0

"""``pos sync``, ``pos enroll``, ``pos queue status`` and ``pos collector serve|export``.

    pos enroll --data-dir D --collector URL --operator-token T   (or POS_OPERATOR_TOKEN, or a file)
    pos sync --data-dir D [--collector URL] [--batch-size N] [--json]
    pos queue status --data-dir D [--json]
    pos collector serve --db URL --listen HOST:PORT [--scheme DIR] [--operator-token T]
    pos collector export --db URL [--since EPOCH] [--csv FILE]

Exit codes: 0 done; 1 something is left (a payment still pending, a list not refreshed, the
collector unreachable); 2 usage, configuration or a refusal that needs the operator.
The collector's modules (starlette, uvicorn, psycopg) are imported only by the collector
commands, so the terminal's commands start as fast as before.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pos.config import Config
from pos.errors import ConfigError
from ui.cli.phrasing import plural
from ui.runtime import provisioning

TOKEN_ENV = "POS_OPERATOR_TOKEN"


def register(sub: Any) -> None:
    p = sub.add_parser("sync", help="upload pending payments and refresh the lists (one pass)")
    _sync_args(p)
    p.set_defaults(handler=run_sync)

    p = sub.add_parser("enroll", help="register this terminal's key with the collector (once)")
    p.add_argument("--data-dir", type=Path, help="the terminal's data dir (default: terminal.data_dir)")
    p.add_argument("--config", type=Path, help="terminal TOML configuration")
    p.add_argument("--collector", required=True, help="https://HOST[:PORT] (http only to localhost)")
    p.add_argument(
        "--operator-token", help=f"operator credential (or ${TOKEN_ENV}, or --operator-token-file)"
    )
    p.add_argument("--operator-token-file", type=Path, help="read the operator credential from this file")
    p.add_argument("--terminal-id", help="defaults to terminal.id in --config, else one made from the key")
    _tls_args(p)
    p.set_defaults(handler=run_enroll)

    queue = sub.add_parser("queue", help="the upload queue").add_subparsers(dest="queue_cmd", required=True)
    p = queue.add_parser("status", help="pending payments, their age, last sync, list ages, exposure")
    p.add_argument("--data-dir", type=Path, help="the terminal's data dir (default: terminal.data_dir)")
    p.add_argument("--config", type=Path, help="terminal TOML configuration")
    p.add_argument("--now", type=provisioning.unsigned_int, help="replace the clock (epoch seconds)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p.set_defaults(handler=run_status)

    coll = sub.add_parser("collector", help="the reference collector server").add_subparsers(
        dest="collector_cmd", required=True
    )
    p = coll.add_parser("serve", help="serve the collector over HTTP(S)")
    p.add_argument("--db", required=True, help="sqlite:///PATH (default kind) or postgresql://...")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--scheme", type=Path, help="demo scheme dir: its root key verifies and signs lists")
    p.add_argument("--root-key", type=Path, help="the scheme root public key (PEM), to verify lists")
    p.add_argument("--operator-token", help=f"enrollment credential (or ${TOKEN_ENV})")
    p.add_argument("--trust-list", type=Path, action="append", default=[], help="import a signed trust list")
    p.add_argument("--deny-list", type=Path, action="append", default=[], help="import a signed deny list")
    p.add_argument("--max-body", type=provisioning.unsigned_int, default=8 << 20, help="bytes")
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument(
        "--processes", type=provisioning.unsigned_int, help="serving processes (default: one per core)"
    )
    p.add_argument("--limit-margin", type=provisioning.unsigned_int, default=60, help="seconds")
    p.set_defaults(handler=run_serve)

    p = coll.add_parser("export", help="accepted payments and flagged events (JSON lines), settlement CSV")
    p.add_argument("--db", required=True)
    p.add_argument("--since", type=provisioning.unsigned_int, default=0, help="epoch seconds (stored since)")
    p.add_argument("--csv", type=Path, help="write the settlement summary per terminal and currency here")
    p.add_argument("--out", type=Path, help="JSON lines to this file instead of stdout")
    p.set_defaults(handler=run_export)


def _tls_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ca-file", type=Path, help="verify the collector against this CA (PEM)")
    g.add_argument("--pinned-cert", type=Path, help="trust exactly this collector certificate (PEM)")


def _sync_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="the terminal's data dir (default: terminal.data_dir)")
    p.add_argument("--config", type=Path, help="terminal TOML configuration")
    p.add_argument("--collector", help="override the enrolled collector URL")
    _tls_args(p)
    p.add_argument("--batch-size", type=provisioning.unsigned_int, help="payments per upload batch (500)")
    p.add_argument("--timeout", type=float, help="seconds per request")
    p.add_argument("--max-attempts", type=provisioning.unsigned_int, help="attempts per batch (8)")
    p.add_argument("--retry-base", type=float, help="backoff base, seconds")
    p.add_argument("--retry-cap", type=float, help="backoff cap, seconds")
    p.add_argument(
        "--retention-days", type=provisioning.unsigned_int, help="keep acknowledged tokens this long"
    )
    p.add_argument("--deadline", type=float, help="stop retrying after this many seconds")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--no-lists", action="store_true", help="upload only")
    what.add_argument("--lists-only", action="store_true", help="refresh the lists only")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None, help="progress bar on stderr")
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", default=None, help="no progress bar"
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")


def _settings(args: argparse.Namespace, cfg: Config) -> Any:
    from pos.sync.settings import of_section

    base = of_section(cfg.section("sync"), cfg.source)
    return base.with_overrides(
        collector=getattr(args, "collector", None),
        ca_file=args.ca_file,
        pinned_cert=args.pinned_cert,
        batch_size=getattr(args, "batch_size", None),
        timeout_s=getattr(args, "timeout", None),
        max_attempts=getattr(args, "max_attempts", None),
        retry_base_s=getattr(args, "retry_base", None),
        retry_cap_s=getattr(args, "retry_cap", None),
        retention_days=getattr(args, "retention_days", None),
    )


class ProgressBar:
    """The upload's progress on stderr (rich, installed with Textual): rows sent of pending, time."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )  # fmt: skip

        self._progress = Progress(
            TextColumn("sync"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )  # fmt: skip
        self._task = self._progress.add_task("sync", total=None)
        self._progress.start()

    def __call__(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=max(total, done, 1))

    def close(self) -> None:
        self._progress.stop()


def run_sync(args: argparse.Namespace) -> int:
    from pos.sync.service import sync_once
    from pos.sync.status import queue_status
    from pos.sync.transport import SyncError

    cfg = provisioning.load_config(args)
    data_dir = provisioning.data_dir_of(args, cfg)
    settings = _settings(args, cfg)
    show = args.progress
    if show is None and sys.stderr.isatty():
        journal = queue_status(data_dir, cfg.policy)["journal"]
        show = journal is not None and journal["pending_count"] >= 1000
    bar = ProgressBar() if show else None
    try:
        report = sync_once(
            data_dir,
            settings,
            lists=not args.no_lists,
            upload=not args.lists_only,
            deadline_s=args.deadline,
            on_progress=bar,
        )
    except SyncError as exc:
        if bar:
            bar.close()
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), "code": exc.code}))
        print(f"pos sync: {exc}", file=sys.stderr)
        return 2 if exc.code in ("not_enrolled", "key_changed", "no_journal") else 1
    if bar:
        bar.close()
    upload = report.get("upload") or {}
    lists = report.get("lists") or {}
    ok = upload.get("ok", True) and not upload.get("pending") and not lists.get("errors")
    if args.json:
        print(json.dumps({"ok": bool(ok), **report}))
    else:
        if upload:
            print(
                f"uploaded: {upload['acknowledged']} acknowledged ({upload['stored']} new,"
                f" {upload['duplicates']} already held) in {plural(upload['batches'], 'batch', 'batches')},"
                f" {plural(upload['attempts'], 'attempt')}; {upload['pending']} pending"
            )
            if upload.get("verdicts"):
                print(
                    "collector verdicts: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(upload["verdicts"].items()))
                )
            if upload.get("error"):
                print(f"upload error: {upload['error']}")
            if upload.get("chain_error"):
                print(f"collector flagged the chain: {upload['chain_error']}")
        if lists:
            print(f"trust list: {lists['trust']}; deny list: {lists['deny']}")
            for err in lists.get("errors", []):
                print(f"list error: {err}")
    if upload.get("chain_error"):
        return 2
    return 0 if ok else 1


def _operator_token(args: argparse.Namespace) -> str:
    if args.operator_token:
        return str(args.operator_token)
    if args.operator_token_file:
        try:
            return args.operator_token_file.read_text().strip()
        except OSError as exc:
            raise provisioning.UsageError(f"cannot read {args.operator_token_file}: {exc.strerror}") from None
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise provisioning.UsageError(f"give --operator-token, --operator-token-file or ${TOKEN_ENV}")
    return token


def run_enroll(args: argparse.Namespace) -> int:
    from pos.config import check_terminal_id
    from pos.identity import Identity
    from pos.sync.enroll import enroll
    from pos.sync.transport import SyncError

    cfg = provisioning.load_config(args)
    data_dir = provisioning.data_dir_of(args, cfg)
    settings = _settings(args, cfg)
    tid = args.terminal_id or cfg.terminal_id or Identity(data_dir).default_terminal_id()
    check_terminal_id(tid, "--terminal-id")
    try:
        doc = enroll(data_dir, args.collector, _operator_token(args), tid, settings)
    except SyncError as exc:
        print(f"pos enroll: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(doc))
    return 0


def run_status(args: argparse.Namespace) -> int:
    from pos.sync.status import format_status, queue_status

    cfg = provisioning.load_config(args)
    data_dir = args.data_dir or cfg.data_dir
    if data_dir is None:
        raise provisioning.UsageError("--data-dir is required (or terminal.data_dir in --config)")
    doc = queue_status(Path(data_dir), cfg.policy, now=args.now)
    print(json.dumps(doc) if args.json else format_status(doc))
    return 0


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise provisioning.UsageError(f"--listen {text!r}: give HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def run_serve(args: argparse.Namespace) -> int:
    from collector.server import ServeOptions, serve

    host, port = _listen(args.listen)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise provisioning.UsageError("--tls-cert and --tls-key go together")
    if args.scheme is None and args.root_key is None and (args.trust_list or args.deny_list):
        raise ConfigError("importing lists needs --scheme or --root-key to verify them")
    opts = ServeOptions(
        db_url=args.db,
        host=host,
        port=port,
        scheme_dir=args.scheme,
        root_key=args.root_key,
        operator_token=args.operator_token or os.environ.get(TOKEN_ENV) or None,
        trust_lists=tuple(args.trust_list),
        deny_lists=tuple(args.deny_list),
        max_body=args.max_body,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        processes=args.processes,
        limit_margin_s=args.limit_margin,
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
        raise provisioning.UsageError(f"--db: {exc}") from None
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

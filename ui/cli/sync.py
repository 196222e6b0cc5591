"""``pos sync``, ``pos enroll`` and ``pos queue status`` (the collector's commands: collector/cli.py).

    pos enroll --data-dir D --collector URL --operator-token-file F   (or $POS_OPERATOR_TOKEN)
    pos enroll --data-dir D --collector URL --code CODE   (one-time code from the console)
    pos sync --data-dir D [--collector URL] [--batch-size N] [--json]
    pos queue status --data-dir D [--json]

Exit codes: 0 done; 1 something is left (a payment still pending, a list not refreshed, the
collector unreachable); 2 usage, configuration or a refusal that needs the operator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pos.config import Config
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
    p.add_argument("--code", help="a one-time enrollment code minted in the console (instead of the token)")
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
        print(
            "warning: --operator-token is visible to every user of this machine (ps, /proc);"
            f" use --operator-token-file or ${TOKEN_ENV}",
            file=sys.stderr,
        )
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
    tid = args.terminal_id or Identity(data_dir).resolve_terminal_id(cfg.terminal_id)
    check_terminal_id(tid, "--terminal-id")
    try:
        if args.code is not None:
            doc = enroll(data_dir, args.collector, None, tid, settings, code=args.code)
        else:
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

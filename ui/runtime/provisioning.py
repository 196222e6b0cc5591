"""Shared CLI plumbing: argument types, the config file, opening a provisioned terminal.

``open_terminal`` installs the lists given on the command line exactly as ``pos keys install``
does, so a refused list is exit 2 and the cached list stays in force.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pos import config as configuration
from pos import sigs, velocity
from pos.config import Config
from pos.errors import ConfigError, ListError, StorageError
from pos.fsutil import ensure_dir
from pos.keystore import KeyStore
from pos.terminal import Terminal

log = logging.getLogger("pos.cli")


class UsageError(ConfigError):
    """Bad arguments found after parsing (exit 2)."""


def unsigned_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0 or value > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range")
    return value


def positive_int(text: str) -> int:
    value = unsigned_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1 minor unit")
    return value


def challenge_hex(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("challenge must be hex") from None
    if len(raw) != 16:
        raise argparse.ArgumentTypeError("challenge must be 16 bytes (32 hex digits)")
    return raw


def add_terminal_args(p: argparse.ArgumentParser, *, lists_required: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, help="terminal state (created when missing)")
    p.add_argument("--config", type=Path, help="terminal TOML configuration")
    p.add_argument("--root-key", type=Path, help="pinned scheme root key, PEM SubjectPublicKeyInfo")
    p.add_argument("--trust-list", type=Path, required=lists_required, help="signed trust list (COSE)")
    p.add_argument("--deny-list", type=Path, help="signed deny list (COSE)")
    p.add_argument("--currency", help="the terminal's currency, ISO 4217 (EUR)")
    p.add_argument("--terminal-id", help="this terminal's id (NFC label 15)")


def load_config(args: argparse.Namespace) -> Config:
    return configuration.load(args.config) if args.config else Config()


def data_dir_of(args: argparse.Namespace, cfg: Config) -> Path:
    path = args.data_dir or cfg.data_dir
    if path is None:
        raise UsageError("--data-dir is required (or terminal.data_dir in --config)")
    try:
        return ensure_dir(path)
    except OSError as exc:
        raise UsageError(f"cannot create the data dir {path}: {exc.strerror}") from None


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None


def keystore_of(root_key: Path | None, cfg: Config, data_dir: Path) -> KeyStore:
    """The key store, its root from ``--root-key`` (``root_key``), else the config, else pinned."""
    root_path = root_key or cfg.root_key
    if root_path is None:
        return KeyStore.pinned(data_dir)
    try:
        root = sigs.load_pem_public_key(read_file(root_path, "root key"))
    except sigs.KeyFormatError as exc:
        raise ListError(f"root key {root_path}: {exc}") from None
    return KeyStore(data_dir, root)


def install_lists(args: argparse.Namespace, store: KeyStore, terminal: Terminal | None) -> list[str]:
    """Install the lists named on the command line; return what changed, in words."""
    done = []
    if args.trust_list is not None:
        tl, changed = store.install_trust_list(read_file(args.trust_list, "trust list"))
        done.append(f"trust list seq {tl.seq}: {'installed' if changed else 'already in force'}")
    if args.deny_list is not None:
        dl, changed = store.install_deny_list(read_file(args.deny_list, "deny list"))
        done.append(
            f"deny list seq {dl.seq} ({len(dl)} ids): {'installed' if changed else 'already in force'}"
        )
        if changed and terminal is not None:
            # The collector decides on the deny list; a new one supersedes local velocity locks.
            velocity.clear(terminal.journal.db, f"deny list seq {dl.seq}")
    for line in done:
        log.info(line)
    return done


def open_terminal(args: argparse.Namespace, cfg: Config) -> Terminal:
    """Open the data dir's terminal and install the given lists; disk trouble is StorageError."""
    data_dir = data_dir_of(args, cfg)
    store = keystore_of(args.root_key, cfg, data_dir)
    try:
        store.load()  # pins the root on first use, refuses another root later
        terminal = Terminal(data_dir, store, policy=cfg.policy, head_every=cfg.head_every)
    except OSError as exc:
        raise StorageError(f"cannot write to {data_dir}: {exc}") from exc
    try:
        install_lists(args, store, terminal)
    except OSError as exc:
        terminal.close()
        raise StorageError(f"cannot install lists in {data_dir}: {exc}") from exc
    except BaseException:
        terminal.close()
        raise
    return terminal

"""The terminal's TOML configuration (tomllib), validated: every error names the key and file.

Example (every key optional but ``terminal.id`` and ``terminal.currency``)::

    [terminal]
    id = "T-0001"
    currency = "EUR"
    data_dir = "/var/lib/pos"
    root_key = "/etc/pos/root.pem"

    [limits]                # SPEC 3.3 terminal caps on un-uploaded payments
    per_payment_max = 20000
    offline_count_max = 500
    offline_total_max = 500000

    [clock]
    skew_s = 30

    [lists]
    grace_s = 604800        # SPEC 3.1 default: 7 days

    [velocity]
    failures = 3            # at least 3 (SPEC 3.3)
    window_s = 600
    lock_s = 600            # at most 600 (SPEC 3.3)

    [journal]
    head_every = 16
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pos.decision import Policy
from pos.errors import ConfigError

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TERMINAL_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_MAX_INT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Config:
    terminal_id: str | None = None
    currency: str | None = None
    data_dir: Path | None = None
    root_key: Path | None = None
    policy: Policy = field(default_factory=Policy)
    head_every: int = 16
    source: str = "<defaults>"
    extra: dict[str, Any] = field(default_factory=dict)  # sections owned by drivers, sync, ui


_SCHEMA: dict[str, dict[str, type]] = {
    "terminal": {"id": str, "currency": str, "data_dir": str, "root_key": str},
    "limits": {"per_payment_max": int, "offline_count_max": int, "offline_total_max": int},
    "clock": {"skew_s": int},
    "lists": {"grace_s": int},
    "velocity": {"failures": int, "window_s": int, "lock_s": int},
    "journal": {"head_every": int},
}
_OTHER_SECTIONS = frozenset({"devices", "sync", "ui", "gate", "vending", "receipts", "counter"})


def check_terminal_id(value: str, where: str = "terminal id") -> str:
    if not _TERMINAL_ID.match(value):
        raise ConfigError(f"{where}: {value!r} must be 1-128 printable characters")
    return value


def check_currency(value: str, where: str = "currency") -> str:
    if not _CURRENCY.match(value):
        raise ConfigError(f"{where}: {value!r} is not an ISO 4217 alpha code such as EUR")
    return value


def load(path: Path) -> Config:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path}: not valid TOML: nested too deep") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return from_mapping(doc, str(path))


def from_mapping(doc: dict[str, Any], source: str) -> Config:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for section, table in doc.items():
        if section in _OTHER_SECTIONS:
            extra[section] = table
            continue
        keys = _SCHEMA.get(section)
        if keys is None or not isinstance(table, dict):
            raise ConfigError(f"{source}: unknown section [{section}]")
        for key, value in table.items():
            want = keys.get(key)
            name = f"{section}.{key}"
            if want is None:
                raise ConfigError(f"{source}: unknown key {name}")
            if type(value) is not want:
                raise ConfigError(f"{source}: {name} must be a {want.__name__}, not {value!r}")
            if isinstance(value, int) and not 0 <= value <= _MAX_INT:
                raise ConfigError(f"{source}: {name} must be between 0 and {_MAX_INT}")
            if isinstance(value, str) and "\x00" in value:  # a path with NUL fails its first open
                raise ConfigError(f"{source}: {name} must not contain a NUL character")
            values[name] = value
    return _build(values, extra, source)


def _build(v: dict[str, Any], extra: dict[str, Any], source: str) -> Config:
    defaults = Policy()
    tid = v.get("terminal.id")
    cur = v.get("terminal.currency")
    failures = v.get("velocity.failures", defaults.velocity_failures)
    lock_s = v.get("velocity.lock_s", defaults.velocity_lock_s)
    if failures < 3:
        raise ConfigError(f"{source}: velocity.failures must be at least 3 (SPEC 3.3)")
    if lock_s > 600:
        raise ConfigError(f"{source}: velocity.lock_s must be at most 600 (SPEC 3.3)")
    head_every = v.get("journal.head_every", 16)
    if head_every < 1:
        raise ConfigError(f"{source}: journal.head_every must be at least 1")
    policy = Policy(
        skew_s=v.get("clock.skew_s", defaults.skew_s),
        grace_s=v.get("lists.grace_s", defaults.grace_s),
        per_payment_max=v.get("limits.per_payment_max"),
        offline_count_max=v.get("limits.offline_count_max", defaults.offline_count_max),
        offline_total_max=v.get("limits.offline_total_max", defaults.offline_total_max),
        velocity_failures=failures,
        velocity_window_s=v.get("velocity.window_s", defaults.velocity_window_s),
        velocity_lock_s=lock_s,
    )
    return Config(
        terminal_id=check_terminal_id(tid, f"{source}: terminal.id") if tid is not None else None,
        currency=check_currency(cur, f"{source}: terminal.currency") if cur is not None else None,
        data_dir=Path(v["terminal.data_dir"]) if "terminal.data_dir" in v else None,
        root_key=Path(v["terminal.root_key"]) if "terminal.root_key" in v else None,
        policy=policy,
        head_every=head_every,
        source=source,
        extra=extra,
    )

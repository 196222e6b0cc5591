"""The terminal's TOML configuration (tomllib), validated against ``pos.config_model``: every
error names the key and the file, and unknown sections or keys are errors. ``docs/config.md``
lists every section and key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pos import config_model as model
from pos.decision import Policy
from pos.errors import ConfigError
from pos.identity import TERMINAL_ID_RULE, valid_terminal_id

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Config:
    terminal_id: str | None = None
    currency: str | None = None
    data_dir: Path | None = None
    root_key: Path | None = None
    policy: Policy = field(default_factory=Policy)
    head_every: int = 16
    source: str = "<defaults>"
    # the other sections, checked and with defaults filled in (pos.config_model)
    sections: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    given: frozenset[str] = frozenset()  # the sections the file has (e.g. [sync] turns sync on)

    def section(self, name: str) -> Any:
        """A section's dataclass (``pos.config_model.SECTIONS``), defaults where the file has none."""
        found = self.sections.get(name)
        return found if found is not None else model.read_section(name, {}, self.source)


def check_terminal_id(value: str, where: str = "terminal id") -> str:
    if not valid_terminal_id(value):
        raise ConfigError(f"{where}: {value!r} must be {TERMINAL_ID_RULE}")
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
    sections: dict[str, Any] = {}
    devices: dict[str, str] = {}
    for name, table in doc.items():
        if name == "devices":
            devices = model.read_devices(table, source)
        elif name in model.SECTIONS:
            sections[name] = model.read_section(name, table, source)
        else:
            raise ConfigError(f"{source}: unknown section [{name}]")
    given = frozenset(doc)
    for name in model.SECTIONS:
        sections.setdefault(name, model.read_section(name, {}, source))
    return _build(sections, devices, given, source)


def _build(s: dict[str, Any], devices: dict[str, str], given: frozenset[str], source: str) -> Config:
    terminal, velocity, limits = s["terminal"], s["velocity"], s["limits"]
    if velocity.failures < 3:
        raise ConfigError(f"{source}: velocity.failures must be at least 3 (SPEC 3.3)")
    if velocity.lock_s > 600:
        raise ConfigError(f"{source}: velocity.lock_s must be at most 600 (SPEC 3.3)")
    if s["journal"].head_every < 1:
        raise ConfigError(f"{source}: journal.head_every must be at least 1")
    policy = Policy(
        skew_s=s["clock"].skew_s,
        grace_s=s["lists"].grace_s,
        per_payment_max=limits.per_payment_max,
        offline_count_max=limits.offline_count_max,
        offline_total_max=limits.offline_total_max,
        velocity_failures=velocity.failures,
        velocity_window_s=velocity.window_s,
        velocity_lock_s=velocity.lock_s,
    )
    tid, cur = terminal.id, terminal.currency
    return Config(
        terminal_id=check_terminal_id(tid, f"{source}: terminal.id") if tid is not None else None,
        currency=check_currency(cur, f"{source}: terminal.currency") if cur is not None else None,
        data_dir=terminal.data_dir,
        root_key=terminal.root_key,
        policy=policy,
        head_every=s["journal"].head_every,
        source=source,
        sections=s,
        devices=devices,
        given=given,
    )

"""The ``[sync]`` section of the terminal configuration, validated like the rest of it.

[sync]
collector = "https://collector.example:8443"
ca_file = "/etc/pos/collector-ca.pem"     # verify the collector against this CA, or
pinned_cert = "/etc/pos/collector.pem"    # trust exactly this certificate
batch_size = 500
interval_s = 30          # background mode: seconds between upload passes
list_interval_s = 3600   # background mode: seconds between list refreshes
timeout_s = 30
retry_base_s = 0.5       # backoff: full jitter over base * 2^attempt, capped
retry_cap_s = 60
max_attempts = 8         # per batch within one pass
retention_days = 30      # acknowledged rows keep their sealed token this long
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pos.errors import ConfigError

DAY = 86400


@dataclass(frozen=True, slots=True)
class SyncSettings:
    collector: str | None = None
    ca_file: Path | None = None
    pinned_cert: Path | None = None
    batch_size: int = 500
    interval_s: float = 30.0
    list_interval_s: float = 3600.0
    connect_timeout_s: float = 5.0
    timeout_s: float = 30.0
    retry_base_s: float = 0.5
    retry_cap_s: float = 60.0
    max_attempts: int = 8
    retention_days: int = 30
    max_response_bytes: int = 16 << 20

    @property
    def retention_s(self) -> int:
        return self.retention_days * DAY

    def with_overrides(self, **kw: Any) -> SyncSettings:
        """Command-line values win over the file; ``None`` means "not given"."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None}).checked("command line")

    def checked(self, source: str) -> SyncSettings:
        if not 1 <= self.batch_size <= 5000:
            raise ConfigError(f"{source}: sync.batch_size must be 1..5000")
        for name in ("interval_s", "list_interval_s", "connect_timeout_s", "timeout_s", "retry_cap_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{source}: sync.{name} must be positive")
        if self.retry_base_s < 0 or self.max_attempts < 1 or self.retention_days < 0:
            raise ConfigError(f"{source}: sync.retry_base_s, max_attempts, retention_days out of range")
        if self.ca_file is not None and self.pinned_cert is not None:
            raise ConfigError(f"{source}: give sync.ca_file or sync.pinned_cert, not both")
        return self


_TYPES: dict[str, tuple[type, ...]] = {
    "collector": (str,),
    "ca_file": (str,),
    "pinned_cert": (str,),
    "batch_size": (int,),
    "interval_s": (int, float),
    "list_interval_s": (int, float),
    "connect_timeout_s": (int, float),
    "timeout_s": (int, float),
    "retry_base_s": (int, float),
    "retry_cap_s": (int, float),
    "max_attempts": (int,),
    "retention_days": (int,),
    "max_response_bytes": (int,),
}


def from_mapping(table: Any, source: str = "<config>") -> SyncSettings:
    if table is None:
        return SyncSettings()
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [sync] must be a table")
    known = {f.name for f in fields(SyncSettings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key sync.{key}")
        if type(value) not in _TYPES[key]:
            raise ConfigError(f"{source}: sync.{key} has the wrong type ({value!r})")
        # TOML has nan and inf, and no range check below refuses nan (nan <= 0 is False)
        if type(value) is float and not math.isfinite(value):
            raise ConfigError(f"{source}: sync.{key} must be a finite number, not {value!r}")
        if type(value) is str and "\x00" in value:
            raise ConfigError(f"{source}: sync.{key} must not contain a NUL character")
        values[key] = Path(value) if key in ("ca_file", "pinned_cert") else value
    return SyncSettings(**values).checked(source)

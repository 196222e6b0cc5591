"""The ``[sync]`` section as the sync code reads it: ``pos.config_model.SyncSection`` (where
every key is declared and documented) plus the checks across keys and the command-line overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any

from pos import config_model as model
from pos.errors import ConfigError

DAY = 86400


@dataclass(frozen=True)
class SyncSettings(model.SyncSection):
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


def of_section(section: model.SyncSection, source: str) -> SyncSettings:
    values = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    return SyncSettings(**values).checked(source)


def from_mapping(table: Any, source: str = "<config>") -> SyncSettings:
    """A ``[sync]`` table (``None``: not configured) checked against the declaration."""
    return of_section(model.read_section("sync", {} if table is None else table, source), source)

"""The UI's part of the configuration: ``[ui]``, ``[counter]``, ``[gate]``, ``[vending]`` and
``[devices]``, declared (types, defaults, meaning) in ``pos.config_model`` and flattened here into
the one settings object the screens and ``pos run`` read. Reference: docs/config.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pos import config_model as model
from pos.config import Config
from pos.errors import ConfigError

MODES = model.MODES
DEVICE_ROLES = model.DEVICE_ROLES
_SECTIONS = ("ui", "counter", "gate", "vending")


@dataclass(frozen=True)
class UiSettings(model.VendingSection, model.GateSection, model.CounterSection, model.UiSection):
    devices: dict[str, str] = field(default_factory=dict)

    @property
    def source_urls(self) -> dict[str, str]:
        return {k: v for k, v in self.devices.items() if k not in DEVICE_ROLES}


def from_config(cfg: Config, **overrides: Any) -> UiSettings:
    values: dict[str, Any] = {}
    for name in _SECTIONS:
        section = cfg.section(name)
        values.update({f.name: getattr(section, f.name) for f in dataclasses.fields(section)})
    values["devices"] = dict(cfg.devices)
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = UiSettings(**values)
    where = cfg.source
    if settings.mode not in MODES:
        raise ConfigError(f"{where}: ui.mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
    if settings.language not in model.LANGUAGES:
        raise ConfigError(f"{where}: ui.language must be one of {', '.join(model.LANGUAGES)}")
    if settings.mode == "gate" and settings.fare <= 0:
        raise ConfigError(f"{where}: gate.fare (minor units) is required in gate mode")
    if settings.read_slice_s <= 0:
        raise ConfigError(f"{where}: ui.read_slice_s must be above 0")
    return settings

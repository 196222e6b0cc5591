"""The UI's part of the terminal configuration: sections ``[ui]``, ``[counter]``, ``[gate]``,
``[vending]`` and ``[devices]`` (``pos.config`` passes them through in ``Config.extra``).

    [ui]
    mode = "counter"          # counter | vending | gate
    language = "en"           # en | zh (switchable at run time with a key)
    result_s = 3              # how long APPROVED / DECLINED stays up
    wedge = true              # keyboard-wedge scanner on the keyboard input
    wedge_gap_ms = 30         # keys closer than this are a scanner, not a person

    [counter]
    wait_s = 60               # give up waiting for a tap or a QR code
    void_window_s = 120       # the last payment can be voided this long after it

    [gate]
    fare = 250                # minor units, fixed
    open_s = 3                # relay pulse
    passback_s = 60           # same wallet at this gate again within this: refused

    [vending]
    session_s = 30            # a selection waits this long for a payment

    [devices]                 # name = URL (STYLE: pyserial-like URLs; drivers.sources.open_source)
    nfc = "udp:127.0.0.1:50000"
    camera = "file:frames/"
    scanner = "/dev/ttyACM0"
    relay = "log:"            # gate relay; "log:" only logs (dry run)
    printer = "/dev/ttyUSB0"  # receipts: file:, text:PATH, socket://HOST:9100, usb:VID:PID
    vend = "sim:"             # "sim:" simulator; "/dev/ttyACM0" OWT-MDB/1; "qibixx:/dev/ttyACM0" Qibixx

Money is an integer of minor units; times are seconds (int or float).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pos.config import Config
from pos.errors import ConfigError
from ui.i18n import LANGUAGES

MODES = ("counter", "vending", "gate")
DEVICE_ROLES = ("relay", "vend", "printer")  # [devices] keys that are not token sources

_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "ui": {
        "mode": (str,),
        "language": (str,),
        "result_s": (int, float),
        "wedge": (bool,),
        "wedge_gap_ms": (int,),
        "read_slice_s": (int, float),
    },
    "counter": {"wait_s": (int, float), "void_window_s": (int,)},
    "gate": {"fare": (int,), "open_s": (int, float), "passback_s": (int,)},
    "vending": {"session_s": (int, float)},
}


@dataclass(frozen=True)
class UiSettings:
    mode: str = "counter"
    language: str = "en"
    result_s: float = 3
    wedge: bool = True
    wedge_gap_ms: int = 30
    read_slice_s: float = 0.25
    wait_s: float = 60
    void_window_s: int = 120
    fare: int = 0
    open_s: float = 3
    passback_s: int = 60
    session_s: float = 30
    devices: dict[str, str] = field(default_factory=dict)

    @property
    def source_urls(self) -> dict[str, str]:
        return {k: v for k, v in self.devices.items() if k not in DEVICE_ROLES}


def from_config(cfg: Config, **overrides: Any) -> UiSettings:
    values: dict[str, Any] = {}
    where = cfg.source
    for section, keys in _KEYS.items():
        table = cfg.extra.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key, value in table.items():
            want = keys.get(key)
            if want is None:
                raise ConfigError(f"{where}: unknown key {section}.{key}")
            if type(value) not in want:
                names = " or ".join(t.__name__ for t in want)
                raise ConfigError(f"{where}: {section}.{key} must be a {names}, not {value!r}")
            # TOML has nan and inf; nan passes every comparison below (nan < 0 is False)
            if type(value) is float and not math.isfinite(value):
                raise ConfigError(f"{where}: {section}.{key} must be a finite number, not {value!r}")
            if not isinstance(value, (bool, str)) and value < 0:
                raise ConfigError(f"{where}: {section}.{key} must not be negative")
            values[key] = value
    devices = cfg.extra.get("devices", {})
    if not isinstance(devices, dict) or not all(isinstance(v, str) for v in devices.values()):
        raise ConfigError(f"{where}: [devices] maps names to URL strings")
    values["devices"] = dict(devices)
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = UiSettings(**values)
    if settings.mode not in MODES:
        raise ConfigError(f"{where}: ui.mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
    if settings.language not in LANGUAGES:
        raise ConfigError(f"{where}: ui.language must be one of {', '.join(LANGUAGES)}")
    if settings.mode == "gate" and settings.fare <= 0:
        raise ConfigError(f"{where}: gate.fare (minor units) is required in gate mode")
    if settings.read_slice_s <= 0:
        raise ConfigError(f"{where}: ui.read_slice_s must be above 0")
    return settings

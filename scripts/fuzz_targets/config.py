"""``config``: the terminal's TOML file, through the loaders ``pos run`` calls on it.

The input is written to a file and read by ``pos.config.load``; the ``[sync]`` table goes to
``pos.sync.settings.from_mapping`` and the UI's sections to ``ui.runtime.settings.from_config``.

Invariants: a bad file is a ``ConfigError`` (its message names the file), never another
exception; what a loader accepts is usable: numbers are finite, paths hold no NUL byte (the
first ``open`` would raise ``ValueError``), identifiers pass their own checks.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

SEEDS = (
    """[terminal]
id = "T-0001"
currency = "EUR"
data_dir = "/var/lib/pos"
root_key = "/etc/pos/root.pem"

[limits]
per_payment_max = 20000
offline_count_max = 500
offline_total_max = 500000

[clock]
skew_s = 30

[lists]
grace_s = 604800

[velocity]
failures = 3
window_s = 600
lock_s = 600

[journal]
head_every = 16
""",
    """[terminal]
id = "GATE-7"
currency = "CNY"

[sync]
collector = "https://collector.example:8443"
ca_file = "/etc/pos/ca.pem"
batch_size = 500
interval_s = 30
list_interval_s = 3600.0
connect_timeout_s = 5
timeout_s = 30.5
retry_base_s = 0.5
retry_cap_s = 60
max_attempts = 8
retention_days = 30
max_response_bytes = 16777216
""",
    """[ui]
mode = "gate"
language = "zh"
result_s = 3
wedge = true
wedge_gap_ms = 30
read_slice_s = 0.25

[counter]
wait_s = 60
void_window_s = 120

[gate]
fare = 250
open_s = 3
passback_s = 60

[vending]
session_s = 30

[devices]
nfc = "udp:127.0.0.1:50000"
camera = "file:frames/"
scanner = "/dev/ttyACM0"
relay = "log:"
printer = "/dev/ttyUSB0"
vend = "qibixx:/dev/ttyACM0?decimals=3"
""",
)


class ConfigHarness:
    def __init__(self) -> None:
        from pos import config
        from pos.errors import ConfigError
        from pos.sync import settings
        from ui.runtime import settings as uiconfig

        self.config, self.settings, self.uiconfig, self.ConfigError = config, settings, uiconfig, ConfigError
        self.dir = Path(tempfile.mkdtemp(prefix="owt-fuzz-config-"))
        self.path = self.dir / "pos.toml"

    def seeds(self) -> list[bytes]:
        return [s.encode() for s in SEEDS]

    def check(self, data: bytes) -> None:
        self.path.write_bytes(data)
        for load in (self._core, self._sync, self._ui):
            try:
                load()
            except self.ConfigError as exc:
                if str(self.path) not in str(exc):
                    raise AssertionError(f"config error does not name the file: {exc}") from None

    def _core(self) -> None:
        cfg = self.config.load(self.path)
        if cfg.terminal_id is not None:
            self.config.check_terminal_id(cfg.terminal_id)
        if cfg.currency is not None:
            self.config.check_currency(cfg.currency)
        for p in (cfg.data_dir, cfg.root_key):
            if p is not None:
                _usable_path(p)
        _finite(cfg.policy, "policy")

    def _sync(self) -> None:
        cfg = self.config.load(self.path)
        s = self.settings.of_section(cfg.section("sync"), cfg.source)
        _finite(s, "sync")
        for p in (s.ca_file, s.pinned_cert):
            if p is not None:
                _usable_path(p)

    def _ui(self) -> None:
        cfg = self.config.load(self.path)
        ui = self.uiconfig.from_config(cfg)
        _finite(ui, "ui")


def _finite(obj: Any, what: str) -> None:
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise AssertionError(f"{what}.{f.name} = {v} accepted")


def _usable_path(p: Path) -> None:
    try:
        p.exists()
    except ValueError as exc:
        raise AssertionError(f"path {str(p)[:40]!r} accepted but unusable: {exc}") from None
    except OSError:
        pass  # too long a name is refused by the file system, as a missing file would be

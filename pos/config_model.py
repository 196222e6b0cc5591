"""The terminal's TOML configuration, declared once: every section and key with its type, default
and meaning. ``pos.config`` loads through it, ``pos doctor`` checks through it, the UI and the
sync read the sections it returns, and ``docs/config.md`` is generated from it
(``python -m pos.config_model``; a test fails when the two differ).

A section is a frozen dataclass; a key is a field whose ``metadata["doc"]`` says what it means.
The field's annotation is the TOML type it takes: ``float`` accepts an integer too, ``Path`` is
a string, ``X | None`` means "not set" by default. Unknown sections and unknown keys are errors
everywhere, so a typo never silently turns a feature off.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pos.decision import Policy
from pos.errors import ConfigError

_MAX_INT = 2**63 - 1
_POLICY = Policy()
MODES = ("counter", "vending", "gate")
LANGUAGES = ("en", "zh")
DEVICE_ROLES = ("relay", "vend", "printer")  # [devices] keys that are not token sources
_DEVICE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def key(default: Any, doc: str) -> Any:
    """A configuration key: its default and one line a reader of ``docs/config.md`` needs."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class TerminalSection:
    """Who the terminal is and where it keeps its state."""

    id: str | None = key(None, "terminal id (1-64 of A-Z a-z 0-9 . _ -); fixed at enrollment")
    currency: str | None = key(None, "ISO 4217 alpha code of every amount, e.g. EUR (required)")
    data_dir: Path | None = key(None, "journal, keys and logs (default: --data-dir or ./pos-data)")
    root_key: Path | None = key(None, "the scheme root public key (PEM) pinned on first use")


@dataclass(frozen=True)
class LimitsSection:
    """SPEC 3.3 terminal caps on payments not yet uploaded (minor units)."""

    per_payment_max: int | None = key(_POLICY.per_payment_max, "largest single payment; unset: no cap")
    offline_count_max: int = key(_POLICY.offline_count_max, "most payments held un-uploaded")
    offline_total_max: int = key(_POLICY.offline_total_max, "largest total held un-uploaded")


@dataclass(frozen=True)
class ClockSection:
    """Clock tolerance."""

    skew_s: int = key(_POLICY.skew_s, "seconds of clock difference tolerated with wallets (SPEC 3.2)")


@dataclass(frozen=True)
class ListsSection:
    """Trust and deny list freshness."""

    grace_s: int = key(_POLICY.grace_s, "seconds a list stays usable past its next_update (SPEC 3.1)")


@dataclass(frozen=True)
class VelocitySection:
    """SPEC 3.3 velocity rule: a wallet that fails verification repeatedly is locked out."""

    failures: int = key(_POLICY.velocity_failures, "failures within window_s that lock a wallet (>= 3)")
    window_s: int = key(_POLICY.velocity_window_s, "the window the failures are counted in")
    lock_s: int = key(_POLICY.velocity_lock_s, "how long a wallet stays locked (<= 600)")


@dataclass(frozen=True)
class JournalSection:
    """The durable local queue."""

    head_every: int = key(16, "commits between two signed head records")


@dataclass(frozen=True)
class SyncSection:
    """Store-and-forward to the collector (``pos sync``, ``pos run``'s background sync)."""

    collector: str | None = key(None, "https://HOST[:PORT] of the collector (http only to localhost)")
    ca_file: Path | None = key(None, "verify the collector against this CA (PEM)")
    pinned_cert: Path | None = key(None, "or trust exactly this collector certificate (PEM)")
    batch_size: int = key(500, "payments per upload batch (1-5000)")
    interval_s: float = key(30.0, "seconds between background upload passes")
    list_interval_s: float = key(3600.0, "seconds between background list refreshes")
    connect_timeout_s: float = key(5.0, "TCP/TLS connect timeout")
    timeout_s: float = key(30.0, "whole-request timeout")
    retry_base_s: float = key(0.5, "backoff: full jitter over base * 2^attempt")
    retry_cap_s: float = key(60.0, "backoff cap")
    max_attempts: int = key(8, "attempts per batch within one pass")
    retention_days: int = key(30, "acknowledged rows keep their sealed token this long")
    max_response_bytes: int = key(16 << 20, "largest collector answer read")


@dataclass(frozen=True)
class UiSection:
    """The screen (``pos run``)."""

    mode: str = key("counter", "counter | vending | gate")
    language: str = key("en", "en | zh (switchable at run time)")
    result_s: float = key(3.0, "seconds APPROVED / DECLINED stays up")
    wedge: bool = key(True, "a keyboard-wedge scanner types into the keyboard input")
    wedge_gap_ms: int = key(30, "keys closer than this are a scanner, not a person")
    read_slice_s: float = key(0.25, "longest single wait on one token source")


@dataclass(frozen=True)
class CounterSection:
    """Cashier mode."""

    wait_s: float = key(60.0, "give up waiting for a tap or a QR code after this")
    void_window_s: int = key(120, "the last payment can be voided this long after it")


@dataclass(frozen=True)
class GateSection:
    """Transit gate mode."""

    fare: int = key(0, "fixed fare in minor units (required in gate mode)")
    open_s: float = key(3.0, "relay pulse length")
    passback_s: int = key(60, "the same wallet at this gate again within this is refused")


@dataclass(frozen=True)
class SiteSection:
    """Terminals of one site share spent tokens over the LAN (docs/site.md). Off unless ``id`` is set."""

    id: str | None = key(None, "site id; must equal the membership list's (1-64 of A-Z a-z 0-9 . _ -)")
    listen: str | None = key(None, "HOST:PORT this terminal receives announcements on (UDP)")
    peers: tuple[str, ...] = key((), "HOST:PORT of each other terminal, sent to by unicast UDP")
    multicast: str | None = key(None, "GROUP:PORT: also send to (and join) this multicast group")
    members: Path | None = key(None, "local membership file (JSON); unset: the collector's signed list")
    group: str | None = key(None, "gate group: gates of one group also share passback")
    peer_rate: float = key(200.0, "announcements per second taken from one member; more are dropped")


@dataclass(frozen=True)
class VendingSection:
    """Vending mode (price from the machine over MDB)."""

    session_s: float = key(30.0, "a selection waits this long for a payment")


SECTIONS: dict[str, type] = {
    "terminal": TerminalSection,
    "limits": LimitsSection,
    "clock": ClockSection,
    "lists": ListsSection,
    "velocity": VelocitySection,
    "journal": JournalSection,
    "sync": SyncSection,
    "ui": UiSection,
    "counter": CounterSection,
    "gate": GateSection,
    "vending": VendingSection,
    "site": SiteSection,
}
DEVICES_DOC = {
    "relay": "gate relay: log: (dry run) or an LCUS board's serial URL",
    "vend": "vending machine: /dev/ttyACM0 (OWT-MDB/1) or qibixx:/dev/ttyACM0",
    "printer": "receipt printer: file:PATH, text:PATH, /dev/ttyUSB0, socket://HOST:9100, usb:VID:PID",
    "(any other name)": "a token source; its URL picks the driver: udp:HOST:PORT / usb (NFC), "
    "/dev/videoN / file:PATH / rtsp:// (camera), /dev/ttyACM0 / socket:// (serial scanner)",
}


_KIND_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_TOML_TYPES: dict[type, tuple[type, ...]] = {
    int: (int,),
    float: (int, float),
    str: (str,),
    bool: (bool,),
    Path: (str,),
}


def base_type(annotation: Any) -> tuple[type, bool]:
    """A field's Python type, and whether it may be unset (``X | None``)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    base: type = next(a for a in args if a is not type(None))
    return base, type(None) in args


def _hints(section: type) -> dict[str, Any]:
    return typing.get_type_hints(section, vars(sys.modules[__name__]))


def _is_list(base: Any) -> bool:
    """``tuple[str, ...]``: a TOML array of strings (kept as a tuple: sections are frozen)."""
    return typing.get_origin(base) is tuple


def check_value(name: str, value: Any, annotation: Any, source: str) -> Any:
    base, _optional = base_type(annotation)
    if _is_list(base):
        if type(value) is not list or any(type(v) is not str for v in value):
            raise ConfigError(f"{source}: {name} must be a list of strings, not {value!r}")
        return tuple(value)
    want = _TOML_TYPES[base]
    if type(value) not in want:
        kinds = "a number" if float in want else " or ".join(_KIND_WORDS.get(t, t.__name__) for t in want)
        raise ConfigError(f"{source}: {name} must be {kinds}, not {value!r}")
    # TOML has nan and inf, and nan passes every range check (nan < 0 is False)
    if type(value) is float and not math.isfinite(value):
        raise ConfigError(f"{source}: {name} must be a finite number, not {value!r}")
    if isinstance(value, str) and "\x00" in value:  # a path with NUL fails its first open
        raise ConfigError(f"{source}: {name} must not contain a NUL character")
    if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= _MAX_INT:
        raise ConfigError(f"{source}: {name} must be between 0 and {_MAX_INT}")
    return Path(value) if base is Path else value


def read_section(name: str, table: Any, source: str) -> Any:
    """One section's dataclass from its TOML table; every key checked against the declaration."""
    cls = SECTIONS[name]
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for k, value in table.items():
        if k not in hints:
            raise ConfigError(f"{source}: unknown key {name}.{k}")
        values[k] = check_value(f"{name}.{k}", value, hints[k], source)
    return cls(**values)


def read_devices(table: Any, source: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [devices] must be a table")
    for k, value in table.items():
        if not _DEVICE_NAME.fullmatch(k):
            raise ConfigError(f"{source}: devices.{k}: a device name is a-z, 0-9 and _, up to 32")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{source}: devices.{k} must be a device URL string, not {value!r}")
    return dict(table)


def markdown() -> str:
    """``docs/config.md``: every section and key with type, default and meaning."""
    out = [
        "# Configuration reference",
        "",
        "Generated from `pos/config_model.py` (`python -m pos.config_model > docs/config.md`);",
        "a test fails when the two differ. Unknown sections and keys are errors.",
        "",
    ]
    for name, cls in SECTIONS.items():
        out += [f"## [{name}]", "", (cls.__doc__ or "").strip(), "", "| key | type | default | meaning |",
                "|---|---|---|---|"]  # fmt: skip
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            base, optional = base_type(hints[f.name])
            kind = {float: "number", Path: "path"}.get(base, getattr(base, "__name__", "?"))
            kind = "list of strings" if _is_list(base) else kind
            shown = list(f.default) if isinstance(f.default, tuple) else f.default
            default = "unset" if f.default is None else f"`{shown!r}`".replace("'", '"')
            out.append(f"| `{f.name}` | {kind}{' (optional)' if optional else ''} | {default} | "
                       f"{f.metadata['doc']} |")  # fmt: skip
        out.append("")
    out += ["## [devices]", "", "Each key names a device by a URL-like string (docs/devices.md).", "",
            "| key | meaning |", "|---|---|"]  # fmt: skip
    out += [f"| `{k}` | {v} |" for k, v in DEVICES_DOC.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())

"""Fuzz targets for every parser that takes bytes across a trust boundary (run by ``scripts/fuzz``).

Each target builds a *harness* (a deterministic fixture: fixed keys, a fixed clock, a temporary
directory) and feeds every input to the same function production calls on such bytes. The
harness's ``check`` raises only when an invariant breaks: an exception other than the documented
one (a ``Decline``, a ``ListError``, a ``ProtocolError``, a 4xx ``Reject``, a ``ConfigError``...),
or a buffer past its cap. A hang is caught by libFuzzer's per-input ``-timeout``, unbounded
memory by ``-rss_limit_mb``.

``packages`` are instrumented for atheris' coverage feedback; ``modules`` are the files whose line
coverage ``python scripts/fuzz_targets coverage TARGET CORPUS`` reports (coverage.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Harness(Protocol):
    def seeds(self) -> list[bytes]: ...

    def check(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    factory: str  # "module:callable" inside this package, imported lazily (under instrumentation)
    arg: str | None  # passed to the factory when given
    max_len: int
    packages: tuple[str, ...]
    modules: tuple[str, ...]  # source files (relative to the repository) measured for coverage
    about: str

    def make(self) -> Harness:
        mod_name, _, attr = self.factory.partition(":")
        factory: Callable[..., Harness] = getattr(importlib.import_module(f"fuzz_targets.{mod_name}"), attr)
        return factory(self.arg) if self.arg is not None else factory()


_CORE = ("pos/cbor.py", "pos/cose.py", "pos/tokens.py", "pos/presentation.py", "pos/trust.py")
_CORE += ("pos/verify.py",)

TARGETS: dict[str, Target] = {}


def register(*targets: Target) -> None:
    for t in targets:
        TARGETS[t.name] = t


register(
    Target(
        "token", "core:CoreHarness", "token", 2300, ("pos",), _CORE,
        "pos.tokens.parse_token + pos.verify.check_token: only Decline",
    ),
    Target(
        "text", "core:CoreHarness", "text", 3200, ("pos",), _CORE,
        "pos.presentation.decode_text, then the token path: only Decline",
    ),
    Target(
        "lists", "core:CoreHarness", "lists", 4096, ("pos",), ("pos/cbor.py", "pos/cose.py", "pos/trust.py"),
        "pos.trust.parse_trust_list / parse_deny_list: only ListError",
    ),
    Target(
        "apdu", "phone:ApduHarness", None, 4096, ("drivers.nfc", "pos"),
        ("drivers/nfc/reader.py", "drivers/nfc/isodep.py", "drivers/nfc/apdu.py"),
        "a hostile phone's ATS, ISO-DEP blocks and R-APDUs through NfcSource._transact",
    ),
    Target(
        "scanner", "scanner:ScannerHarness", None, 4096, ("drivers.serial", "pos"),
        ("drivers/serial/lines.py", "drivers/serial/wedge.py", "pos/presentation.py"),
        "serial scanner bytes and keyboard-wedge keys: only Decline, buffers capped",
    ),
    Target(
        "mdb", "mdb:MdbHarness", None, 4096, ("drivers.mdb",),
        ("drivers/mdb/adapter.py", "drivers/mdb/cashless.py", "drivers/mdb/qibixx_lines.py"),
        "OWT-MDB/1 lines into the cashless state machine; Qibixx adapter lines",
    ),
    Target(
        "config", "config:ConfigHarness", None, 4096,
        # tomllib: coverage feedback inside the TOML parser too
        ("pos.config", "pos.config_model", "pos.sync.settings", "ui.runtime.settings", "tomllib"),
        ("pos/config.py", "pos/config_model.py", "pos/sync/settings.py", "ui/runtime/settings.py"),
        "the TOML config: pos.config.load, [sync] settings, [ui] settings: only ConfigError",
    ),
    Target(
        "receipt", "receipt:ReceiptHarness", None, 8192, ("pos", "ui.cli.receipt", "drivers.camera"),
        ("pos/receipt.py", "ui/cli/receipt.py", "drivers/camera/images.py"),
        "pos receipt verify @FILE: OWR1 text, COSE bytes, PNG/JPEG pictures: exit 0 or 1",
    ),
    Target(
        "delta", "network:DeltaHarness", None, 4096, ("pos",),
        ("pos/sync/lists.py", "pos/wire/denylist.py", "pos/wire/protocol.py", "pos/sync/uploader.py",
         "pos/keystore.py", "pos/trust.py"),
        "the network's answers to a terminal: deny deltas, list bodies, batch answers",
    ),
    Target(
        "batch", "upload:BatchHarness", None, 8192, ("collector", "pos"),
        ("pos/wire/protocol.py", "collector/service.py", "collector/ingest.py", "collector/app.py",
         "collector/payments.py", "collector/reverify.py"),
        "the collector: batch bodies, enrollment bodies, deny-list query strings",
    ),
)  # fmt: skip

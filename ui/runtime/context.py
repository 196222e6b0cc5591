"""Everything the App is given: the core, the devices, the seams, the settings.

``pos run`` builds one from the configuration and real drivers; ``pos demo`` and the tests build
one from simulators (``sim.demo.interactive``). The App never opens a device or a file itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pos.decision import Policy
from pos.ports import Actuator, DeviceHealth, HasHealth, TokenSource
from pos.terminal import Terminal
from ui.runtime import readiness
from ui.runtime.acceptance import Gate, Metrics
from ui.runtime.devices import LogRelay, QueueSource, SyncProbe, VendSession, VoidFn
from ui.runtime.operator import OperatorLog, OperatorPin
from ui.runtime.settings import UiSettings
from ui.runtime.wedge import KeyBurstDetector
from ui.runtime.worker import Core

if TYPE_CHECKING:
    from drivers.printer import ReceiptPrinter
    from ui.runtime.site_link import SiteLink  # sockets only when a [site] section opens one

Hints = tuple[tuple[str, str], ...]  # (key, label) pairs for a screen's hint bar


class ExtraKeys(Protocol):
    """More keys a screen offers beside its own (``pos demo``: the simulated customers)."""

    def hints(self, mode: str) -> Hints: ...

    def menu(self, mode: str, currency: str) -> str:
        """What the idle screen lists beside its prompt (the demo machine's products), or ""."""
        ...


def wall_clock() -> int:
    return int(time.time())


def source_health(source: object) -> DeviceHealth | None:
    """A driver's own health where it reports one (``pos.ports.HasHealth``)."""
    if not isinstance(source, HasHealth):
        return None
    try:
        return source.health()
    except Exception as exc:  # noqa: BLE001 - a health probe must not break the bar
        return DeviceHealth(getattr(source, "url", "?"), False, str(exc))


@dataclass
class UiContext:
    settings: UiSettings
    core: Core
    policy: Policy
    currency: str
    terminal_id: str
    data_dir: Path
    sources: list[TokenSource]
    pin: OperatorPin
    audit: OperatorLog
    clock: Callable[[], int] = wall_clock
    sync_probe: SyncProbe | None = None
    relay: Actuator | None = None
    vend: VendSession | None = None
    printer: ReceiptPrinter | None = None  # the customer's signed receipt after an approval
    void: VoidFn | None = None
    wedge: KeyBurstDetector[object] | None = None
    wedge_source: QueueSource | None = None
    extra_keys: ExtraKeys | None = None  # pos demo: the simulated customers (sim.demo.interactive)
    tz: tzinfo | None = None  # history times; None is the machine's local zone
    metrics: Metrics | None = None
    status_every_s: float = 1.0
    site: SiteLink | None = None  # [site]: spent tokens shared with the site's other terminals
    background: list[Callable[[Terminal], None]] = field(default_factory=list)  # core thread, per tick
    _health: dict[str, DeviceHealth] = field(default_factory=dict)
    _health_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def all_sources(self) -> list[TokenSource]:
        extra: list[TokenSource] = [self.wedge_source] if self.wedge_source is not None else []
        return [*self.sources, *extra]

    def note_device(self, url: str, ok: bool, detail: str = "") -> None:
        """Record a source's latest health (from its read outcomes), from any thread."""
        with self._health_lock:
            self._health[url] = DeviceHealth(url, ok, detail)

    def device_health(self) -> list[DeviceHealth]:
        with self._health_lock:
            seen = dict(self._health)
        out = [source_health(s) or seen.get(s.url, DeviceHealth(s.url, True)) for s in self.sources]
        for name, dev in (("relay", self.relay), ("vend", self.vend), ("printer", self.printer)):
            if dev is not None and isinstance(dev, HasHealth):
                try:
                    out.append(dev.health())
                except Exception as exc:  # noqa: BLE001 - a health probe must not break the bar
                    out.append(DeviceHealth(name, False, str(exc)))
        return out

    def device_reasons(self) -> list[str]:
        """Why the devices keep this terminal from taking a payment now (``readiness``)."""
        roles = readiness.role_reasons(self.settings.mode, self.relay, self.vend)
        return [*readiness.sources_reasons(self.all_sources), *roles]

    def out_of_service(self) -> list[str]:
        """Every reason this terminal cannot take a payment now; empty when it can (not on the core
        thread: it waits for it)."""
        grace = self.policy.grace_s
        state = self.core.call(lambda: readiness.state_reasons(self.core.terminal, self.clock(), grace))
        return [*self.device_reasons(), *state]

    def gate(self) -> Gate:
        """The gate's accept-and-open path with this terminal's fare, relay and policies."""
        s = self.settings
        return Gate(
            self.core,
            self.relay or LogRelay(),
            fare=s.fare,
            currency=self.currency,
            terminal_id=self.terminal_id,
            open_s=s.open_s,
            passback_s=s.passback_s,
            clock=self.clock,
            metrics=self.metrics,
            site=self.site,
        )

    def close(self) -> None:
        for source in [*self.all_sources, *([self.printer] if self.printer is not None else [])]:
            try:
                source.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort on the way out
                pass
        self.core.close(self.clock())
        if self.site is not None:
            self.site.close()

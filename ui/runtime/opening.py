"""Opening the ``[devices]`` of ``pos run`` by URL through ``drivers.sources`` (the one place
device strings are resolved): token sources, the gate relay, the vending machine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from drivers import sources
from pos.decision import PaymentRequest
from pos.errors import ConfigError
from pos.ports import (
    DEVICE_ERROR,
    Actuator,
    DeviceHealth,
    HasHealth,
    Presentation,
    SourceFailure,
    TokenSource,
)
from ui.runtime.devices import LogRelay, VendSession
from ui.runtime.reopening import ReopeningRelay, ReopeningVend

log = logging.getLogger("pos.run")


class LateSource:
    """A device that failed to open at start: reads report ``device_error`` (the status bar shows
    the fault) and retry the opening at most every ``retry_s``, so an unplugged reader does not
    stop the terminal and starts working once it is back."""

    def __init__(
        self, url: str, opener: Callable[[str], TokenSource], error: Exception, retry_s: float = 5.0
    ):
        self.url = url
        self._opener = opener
        self._error = f"{type(error).__name__}: {error}"
        self._retry_s = retry_s
        self._next = time.monotonic() + retry_s
        self._inner: TokenSource | None = None
        self._since = time.time()

    def health(self) -> DeviceHealth:
        """``unavailable`` with the port and the reason until the device opens; then its own."""
        inner = self._inner
        if inner is not None:
            return inner.health() if isinstance(inner, HasHealth) else DeviceHealth(self.url, True)
        left = max(0.0, self._next - time.monotonic())
        return DeviceHealth(self.url, False, f"{self.url}: {self._error}", "unavailable", self._error,
                            round(left, 1), self._since)  # fmt: skip

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        if self._inner is None and time.monotonic() >= self._next:
            self._next = time.monotonic() + self._retry_s
            try:
                self._inner = self._opener(self.url)
                log.info("device opened late", extra={"fields": {"url": self.url}})
            except Exception as exc:  # noqa: BLE001 - any driver failure is a device error
                self._error = f"{type(exc).__name__}: {exc}"
        if self._inner is None:
            raise SourceFailure(DEVICE_ERROR, self._error)
        return self._inner.read(request, timeout)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


def open_sources(urls: dict[str, str]) -> list[TokenSource]:
    """Every ``[devices]`` token source; a bad URL is a configuration error, a device that does
    not open yet is a ``LateSource`` (a fault on the status bar, retried)."""
    if not urls:
        return []
    open_source = sources.open_source
    opened: list[TokenSource] = []
    for name, url in urls.items():
        fields = {"device": name, "url": url}
        try:
            opened.append(open_source(url))
            log.info("device opened", extra={"fields": fields})
        except ValueError as exc:
            for source in opened:
                source.close()
            raise ConfigError(f"devices.{name}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a missing reader must not stop the terminal
            log.error("device did not open; retrying", extra={"fields": {**fields, "error": str(exc)}})
            opened.append(LateSource(url, open_source, exc))
    return opened


def open_relay(url: str | None) -> Actuator | None:
    """The gate relay; a board that is missing or fails later is ``unavailable``, reopened with
    backoff (``ReopeningRelay``), and the gate takes no payment meanwhile."""
    if url is None:
        return None
    if url == "log:":
        return LogRelay()
    try:
        return ReopeningRelay("relay", url, sources.open_actuator)
    except ValueError as exc:
        raise ConfigError(f"devices.relay: {exc}") from None


def open_vend(url: str | None) -> VendSession | None:
    """The vending machine's MDB link, reopened with backoff like the relay."""
    if url is None:
        return None
    try:
        return ReopeningVend("vend", url, sources.open_vend_session)
    except ValueError as exc:
        raise ConfigError(f"devices.vend: {exc}") from None

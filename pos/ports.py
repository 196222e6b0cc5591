"""The few seams the core needs from the outside world (STYLE: httpx's transports).

Drivers implement these; the core and the UI depend only on the protocols. A token source turns a
device into one presentation: token *text* (QR camera, serial scanner, keyboard wedge) or token
*bytes* (NFC GENERATE TOKEN response). When a device yields no token, it raises
``SourceFailure`` with a driver outcome code (below); these are not SPEC 3.5 codes, because no
token was ever presented, and they are reported beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from pos.decision import PaymentRequest
from pos.errors import PosError

# Driver outcomes: no token reached the verifier.
SOURCE_TIMEOUT = "source_timeout"  # nothing presented before the timeout
CARD_REMOVED = "card_removed"  # NFC: the phone left the field mid-exchange
NOT_A_WALLET = "not_a_wallet"  # NFC: SELECT answered 6A 82, or a tag that is not ISO-DEP
WALLET_REFUSED = "wallet_refused"  # NFC: 69 85 (locked, over its own limit)
DEVICE_ERROR = "device_error"  # the device failed or protocol broke (6D 00, bad framing)
SOURCE_OUTCOMES = frozenset({SOURCE_TIMEOUT, CARD_REMOVED, NOT_A_WALLET, WALLET_REFUSED, DEVICE_ERROR})


@dataclass(frozen=True, slots=True)
class Presentation:
    kind: Literal["text", "bytes"]
    data: bytes
    source: str  # the device URL it came from, for logs


class SourceFailure(PosError):
    def __init__(self, outcome: str, detail: str = "") -> None:
        super().__init__(f"{outcome}: {detail}" if detail else outcome)
        self.outcome = outcome
        self.detail = detail


class TokenSource(Protocol):
    url: str

    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        """Wait up to ``timeout`` seconds for one presentation; raise ``SourceFailure`` otherwise.

        NFC sources use ``request`` (amount, currency, challenge, terminal id, now) to build
        GENERATE TOKEN; text sources ignore it.
        """
        ...

    def close(self) -> None: ...


HealthState = Literal["ok", "reconnecting", "unavailable", "closed"]


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """How a device is, as every driver reports it (status bar, JSON log, ``pos doctor``).

    ``state`` defaults from ``ok`` and ``detail``: ``ok``, ``closed`` (closed on purpose), else
    ``unavailable`` (missing or failed, with the reason in ``detail``); a driver that retries
    says ``reconnecting`` itself, with its backoff step in ``retry_in_s``.
    """

    name: str
    ok: bool
    detail: str = ""
    state: HealthState | None = None
    last_error: str | None = None
    retry_in_s: float | None = None
    since: float = 0.0  # time.time() of the last change of state, where the driver tracks it
    reconnects: int = 0

    def __post_init__(self) -> None:
        if self.state is None:
            state = "ok" if self.ok else "closed" if self.detail == "closed" else "unavailable"
            object.__setattr__(self, "state", state)


@runtime_checkable
class HasHealth(Protocol):
    def health(self) -> DeviceHealth: ...


@dataclass(frozen=True, slots=True)
class VendRequest:
    """A selection on a vending machine: the machine owns the price (minor units)."""

    price: int
    item: str = ""


class Actuator(Protocol):
    """Something the terminal switches after a durable commit: a gate relay, a vend approval."""

    def open(self, seconds: float) -> None: ...

"""The values that flow through acceptance: a request in, a decision out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pos.frozen import quick_init
from pos.tokens import MODE_NFC, MODE_QR


@quick_init
@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """What the terminal asks for. With ``challenge`` it is an NFC request (SPEC 3.2)."""

    amount: int
    currency: str
    now: int
    terminal_id: str
    challenge: bytes | None = None

    @property
    def mode(self) -> str:
        return MODE_NFC if self.challenge is not None else MODE_QR


@dataclass(frozen=True, slots=True)
class Policy:
    """Terminal settings the rules read (from the TOML config; SPEC defaults)."""

    skew_s: int = 30
    grace_s: int = 7 * 24 * 3600
    per_payment_max: int | None = None
    offline_count_max: int = 500
    offline_total_max: int = 500_000
    velocity_failures: int = 3
    velocity_window_s: int = 600
    velocity_lock_s: int = 600


@dataclass(frozen=True, slots=True)
class TerminalState:
    """Journal facts read before a decision, so the verifier stays pure."""

    newest_time: int | None = None
    locked_wallets: frozenset[bytes] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    reason: str | None
    amount: int
    wallet_id: bytes | None = None
    counter: int | None = None
    seq: int | None = None
    mode: str | None = None

    @classmethod
    def declined(
        cls, reason: str, amount: int, wallet_id: bytes | None = None, counter: int | None = None
    ) -> Decision:
        return cls(False, reason, amount, wallet_id, counter)

    def as_json(self) -> dict[str, Any]:
        """The headless contract's last line (issue: ``pos accept``)."""
        return {
            "decision": "approved" if self.approved else "declined",
            "reason": self.reason,
            "amount": self.amount,
            "wallet_id": self.wallet_id.hex() if self.wallet_id is not None else None,
            "counter": self.counter,
            "seq": self.seq,
        }

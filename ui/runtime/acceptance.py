"""From token sources to decisions, without Textual: what the screens' workers and the headless
gate loop share.

- ``listen``: one source read in a loop until it presents a token (and wins its round) or the
  round ends. Driver outcomes other than a timeout are reported, not fatal.
- ``Round``: one payment attempt with several sources listening; the first presentation wins.
- ``Gate``: the gate's fast path, run on the core thread: anti-passback check, accept (durable
  commit), then the relay, in that order, before anything is drawn.

Anti-passback lives in memory on the fast path and is reloaded from the journal (the durable
record: no second file) when a Gate starts, so a gate restarted after a crash, a kill -9 or an
update still refuses whoever passed it within the window.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pos.decision import Decision, PaymentRequest
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, Actuator, Presentation, SourceFailure, TokenSource
from pos.presentation import decode_text
from pos.terminal import Terminal
from pos.tokens import parse_token
from ui.runtime.readiness import OUT_OF_SERVICE, device_down
from ui.runtime.worker import Core, accept_on

if TYPE_CHECKING:
    from ui.runtime.site_link import SiteLink

log = logging.getLogger("pos.ui.accept")

PASSBACK = "passback"  # gate policy code, beside SPEC 3.5's: same wallet, same gate, too soon
ACTUATOR_FAILED = "actuator_failed"  # approved and stored, but the relay did not answer
DEVICE_RETRY_S = 1.0  # a failing device is retried at this pace, never in a tight loop

OutcomeFn = Callable[[str, str, str], None]  # (source url, outcome, detail)


class Metrics:
    """Latency samples for scripts/bench_ui.py (seconds, perf_counter differences)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.events: dict[str, threading.Event] = defaultdict(threading.Event)

    def record(self, name: str, seconds: float) -> None:
        with self._lock:
            self.samples[name].append(seconds)
            self.events[name].set()

    def mark(self, name: str) -> None:
        self.events[name].set()


@dataclass(frozen=True)
class Attempt:
    """One presentation and what came of it (a decision, or a driver outcome without one)."""

    source: str
    decision: Decision | None
    outcome: str | None = None
    presented: float = 0.0  # perf_counter when the source returned the presentation
    decided: float = 0.0
    actuated: float | None = None
    detail: str = ""

    @property
    def code(self) -> str | None:
        """The wording code: None for approved, else the decline reason or driver outcome."""
        if self.decision is not None:
            if self.decision.approved:
                return ACTUATOR_FAILED if self.outcome == ACTUATOR_FAILED else None
            return self.decision.reason
        return self.outcome


class Round:
    """One payment attempt: every source listens, the first presentation wins."""

    def __init__(self, number: int = 0, amount: int = 0) -> None:
        self.number = number
        self.amount = amount
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.winner: str | None = None

    @property
    def active(self) -> bool:
        return not self._stop.is_set()

    def claim(self, url: str) -> bool:
        with self._lock:
            if self._stop.is_set():
                return False
            self.winner = url
            self._stop.set()
            return True

    def stop(self) -> None:
        self._stop.set()

    def wait(self, seconds: float) -> None:
        self._stop.wait(seconds)


def listen(
    source: TokenSource,
    active: Callable[[], bool],
    claim: Callable[[str], bool],
    new_request: Callable[[], PaymentRequest],
    slice_s: float,
    on_outcome: OutcomeFn,
    pause: Callable[[float], object] = time.sleep,
) -> tuple[Presentation, PaymentRequest, float] | None:
    """Read ``source`` in slices of ``slice_s`` until it presents and wins, or ``active()`` ends.

    Returns (presentation, the request it answered, perf_counter when it arrived), or None.
    """
    while active():
        request = new_request()
        try:
            presented = source.read(request, slice_s)
        except SourceFailure as failure:
            if failure.outcome == SOURCE_TIMEOUT:
                continue
            on_outcome(source.url, failure.outcome, failure.detail)
            if failure.outcome == DEVICE_ERROR:
                pause(DEVICE_RETRY_S)
            continue
        except Exception as exc:  # noqa: BLE001 - a driver bug is a device error, not a crash
            on_outcome(source.url, DEVICE_ERROR, f"{type(exc).__name__}: {exc}")
            pause(DEVICE_RETRY_S)
            continue
        arrived = time.perf_counter()
        if claim(source.url):
            return presented, request, arrived
        return None
    return None


def decide(
    core: Core, presented: Presentation, request: PaymentRequest, arrived: float, clock: Callable[[], int]
) -> Attempt:
    """Accept one presentation (from a worker thread); ``now`` is taken when deciding."""
    decision = core.accept(presented, replace(request, now=clock()))
    return Attempt(presented.source, decision, None, arrived, time.perf_counter())


def claimed_wallets(presented: Presentation) -> frozenset[bytes]:
    """The wallet ids a presentation *claims* (parsed, not verified); empty when unparseable."""
    try:
        raw = decode_text(presented.data) if presented.kind == "text" else presented.data
        token = parse_token(raw)
    except Exception:  # noqa: BLE001 - the terminal gives the real reason when it decides
        return frozenset()
    return frozenset({token.wallet_id, token.cert.wallet_id})


@dataclass
class Passback:
    """Anti-passback: wallet id -> when it last opened this gate (epoch seconds, in memory).

    Only approved, committed payments are recorded, so a forged token naming someone's wallet
    cannot lock that wallet out; it can only get itself refused, which it would be anyway.
    ``seed`` reloads the window from the journal at start, the same facts ``record`` keeps.
    """

    window_s: int
    last_open: dict[bytes, int] = field(default_factory=dict)

    def refused(self, wallets: frozenset[bytes], now: int) -> bytes | None:
        if self.window_s <= 0:
            return None
        for wid in wallets:
            when = self.last_open.get(wid)
            if when is not None and 0 <= now - when < self.window_s:
                return wid
        return None

    def record(self, wallet_id: bytes, now: int) -> None:
        self.last_open[wallet_id] = now
        if len(self.last_open) > 10_000:  # forget wallets past the window
            cutoff = now - self.window_s
            self.last_open = {w: t for w, t in self.last_open.items() if t >= cutoff}

    def seed(self, recent: dict[bytes, int]) -> None:
        """Wallets the journal shows passing recently; a newer in-memory time wins."""
        for wid, when in recent.items():
            if when > self.last_open.get(wid, when - 1):
                self.last_open[wid] = when


def seed_from_journal(passback: Passback, terminal: Terminal, now: int) -> int:
    """On the core thread: load the payments of the last ``window_s`` into ``passback``."""
    if passback.window_s <= 0:
        return 0
    recent = terminal.journal.recent_payments(now - passback.window_s + 1)  # as ``refused`` counts
    passback.seed(recent)
    return len(recent)


class Gate:
    """The gate's accept-and-open path (transit: fixed fare, no confirmation, fastest path)."""

    def __init__(
        self,
        core: Core,
        relay: Actuator,
        *,
        fare: int,
        currency: str,
        terminal_id: str,
        open_s: float,
        passback_s: int,
        clock: Callable[[], int],
        metrics: Metrics | None = None,
        site: SiteLink | None = None,
    ) -> None:
        self.core = core
        self.site = site
        self.relay = relay
        self.fare = fare
        self.currency = currency
        self.terminal_id = terminal_id
        self.open_s = open_s
        self.passback = Passback(passback_s)
        self.clock = clock
        self.metrics = metrics
        # Queued on the core thread before any presentation can be: the first decision already
        # sees who passed before a restart, and the caller (a screen's mount) never waits for it.
        self.seeded: Future[int] = core.submit(self._seed)

    def _seed(self) -> int:
        try:
            n = seed_from_journal(self.passback, self.core.terminal, self.clock())
        except Exception as exc:  # noqa: BLE001 - an unreadable journal must not stop the gate
            log.error("anti-passback not reloaded from the journal: %s", exc)
            return 0
        if n:
            window = self.passback.window_s
            log.info("anti-passback: %d wallet(s) of the last %d s reloaded from the journal", n, window)
        return n

    def new_request(self) -> PaymentRequest:
        """A fresh challenge per read: each presentation is its own payment."""
        return PaymentRequest(self.fare, self.currency, self.clock(), self.terminal_id, os.urandom(16))

    def serve(self, presented: Presentation, request: PaymentRequest, arrived: float) -> Attempt:
        """From a worker thread: decide and open on the core thread, then return the attempt."""
        attempt = self.core.call(self._decide_and_open, presented, request, arrived)
        if self.metrics is not None and attempt.actuated is not None:
            self.metrics.record("gate_tap_to_relay", attempt.actuated - arrived)
        return attempt

    def refuse(
        self, presented: Presentation, request: PaymentRequest, arrived: float, reasons: list[str]
    ) -> Attempt:
        """Out of service: the presentation is answered ``out_of_service`` and nothing is committed."""
        decision = Decision.declined(OUT_OF_SERVICE, request.amount)
        return Attempt(
            presented.source, decision, None, arrived, time.perf_counter(), None, "; ".join(reasons)
        )

    def _decide_and_open(self, presented: Presentation, request: PaymentRequest, arrived: float) -> Attempt:
        now = self.clock()
        request = replace(request, now=now)
        down = device_down(self.relay)
        if down is not None:  # charging without opening is the worst outcome: commit nothing
            decision = Decision.declined(OUT_OF_SERVICE, request.amount)
            return Attempt(presented.source, decision, None, arrived, time.perf_counter(), None, down.detail)
        claimed = claimed_wallets(presented)
        blocked = self.passback.refused(claimed, now)
        if blocked is None and self.site is not None:  # passed another gate of this gate's group
            blocked = self.site.passed(claimed, now, self.passback.window_s)
        if blocked is not None:
            # Refused before the core sees it: nothing is committed, the token is not consumed.
            decision = Decision.declined(PASSBACK, request.amount, blocked)
            return Attempt(presented.source, decision, None, arrived, time.perf_counter())
        decision = accept_on(self.core.terminal, presented, request)
        decided = time.perf_counter()
        if not decision.approved:
            return Attempt(presented.source, decision, None, arrived, decided)
        assert decision.wallet_id is not None
        self.passback.record(decision.wallet_id, now)
        try:
            self.relay.open(self.open_s)  # only now: accept returned approved = durably committed
        except Exception as exc:  # noqa: BLE001 - the payment stands; say the gate did not open
            log.error("payment seq %s approved but the relay failed: %s", decision.seq, exc)
            return Attempt(presented.source, decision, ACTUATOR_FAILED, arrived, decided, None, str(exc))
        actuated = time.perf_counter()
        return Attempt(presented.source, decision, None, arrived, decided, actuated)

"""The headless demo's second part: a day offline, a flaky link, and a wallet that paid twice.

Issue 5's scenario with real processes (``sim.demo.network``): the project's collector on
127.0.0.1, the seeded fault proxy in front of it, terminal DEMO-SHOP-1 (its own data dir) and
the second shop DEMO-SHOP-2, both enrolled and synced by the background sync service.

1. The network is cut. DEMO-SHOP-1 approves N payments, spread over the last 23 hours, from many
   wallets (each within its offline limit); the queue's status shows what waits.
2. One of those QR codes is shown again at DEMO-SHOP-2, offline too: it cannot know, it approves.
3. The network comes back through the flaky link; the queue drains, every row acknowledged, and
   the collector holds each payment once.
4. The collector flags the double spend, signs a deny list, DEMO-SHOP-1 installs it on its next
   refresh and declines the wallet's next code.

Payment times are set back (the terminal's clock is the request's ``now``) so "offline for a
day" takes seconds; the trust list in force was issued two days ago, as a real one would be.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pos import reasons
from pos.decision import Decision, PaymentRequest, Policy
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from pos.wire.signing import alg_of
from sim.demo.network import FLAKY, SHOP_2, DemoNetwork
from sim.scheme import DAY, Scheme
from sim.wallet import Wallet
from ui.i18n.money import format_money
from ui.i18n.wording import explain

TERMINAL_ID = "DEMO-SHOP-1"
CURRENCY = "EUR"
PER_WALLET = 20  # at most 20 x EUR 9.99 per wallet: inside its EUR 500 offline limit
OFFLINE_FOR_S = 23 * 3600
SEED = 5
Say = Callable[[str], None]


@dataclass
class Plan:
    wallets: list[Wallet]
    payments: list[tuple[str, int, int]]  # (QR text, amount, time), oldest first
    cheat: Wallet
    shared: tuple[str, int, int]  # the cheat's code that is shown at both shops


def _plan(scheme: Scheme, n: int, now: int, rng: random.Random) -> Plan:
    issuers = scheme.issuers()
    limits = {"payment_limit": 5_000, "offline_limit": 50_000, "iat": now - 2 * DAY}
    wallets = []
    for i in range(max(1, -(-n // PER_WALLET))):
        issuer = issuers[i % len(issuers)]
        wallets.append(Wallet.issue(issuer, alg_of(issuer.key), **limits))
    times = sorted(rng.randint(now - OFFLINE_FOR_S, now - 120) for _ in range(n))
    owners = [wallets[i % len(wallets)] for i in range(n)]
    payments = []
    for who, t in zip(owners, times, strict=True):
        amount = rng.randint(100, 999)
        payments.append((encode_text(who.token(max_amount=amount, now=t)), amount, t))
    cheat = wallets[0]
    return Plan(wallets, payments, cheat, payments[0])


def _provision(base: Path, scheme: Scheme, now: int) -> KeyStore:
    store = KeyStore(base / "shop-1", load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list(iat=now - 2 * DAY))  # in force for the whole day
    store.install_deny_list(scheme.deny_list(iat=now - 60))
    return store


def run_story(
    base: Path, scheme: Scheme, n: int, say: Say = print, seed: int = SEED, *, linger: bool = False
) -> int:
    """Tell the story; 0 when every step held, 1 when one did not (it says which). ``seed``
    draws the link's faults and the day's payments: a failing seed replays exactly. ``linger``
    keeps the collector and its operator console up afterwards, until Ctrl-C or SIGTERM."""
    started = time.monotonic()
    now = int(time.time())
    say("\n--- A day offline, then a flaky link (real collector and sync on 127.0.0.1) ---")
    store = _provision(base, scheme, now)
    policy = Policy(offline_count_max=n + 100, offline_total_max=1_000 * (n + 100))
    terminal = Terminal(base / "shop-1", store, policy=policy)
    net = DemoNetwork(
        base, scheme, base / "shop-1", store, TERMINAL_ID, currency=CURRENCY, faults=FLAKY, seed=seed
    )
    try:
        net.start()
        _echo(net, say)
        told = _tell(net, terminal, scheme, n, now, say, started, seed)
        if linger:
            _linger(net, say)
        return told
    finally:
        net.close()
        terminal.close()


def _tell(
    net: DemoNetwork, terminal: Terminal, scheme: Scheme, n: int, now: int, say: Say, t0: float, seed: int
) -> int:
    plan = _plan(scheme, n, now, random.Random(seed))
    say(
        f"{TERMINAL_ID} is offline for a day: {n} payments from {len(plan.wallets)} wallets "
        f"(offline caps raised to {terminal.policy.offline_count_max} payments for the demo)"
    )
    approved = declined = 0
    accept_started = time.monotonic()
    for text, amount, t in plan.payments:
        d = terminal.accept_text(text, PaymentRequest(amount, CURRENCY, t, TERMINAL_ID))
        approved += d.approved
        declined += not d.approved
    took = time.monotonic() - accept_started
    say(f"offline: {approved} approved, {declined} declined ({took:.1f} s, {1000 * took / n:.2f} ms each)")
    text, amount, t = plan.shared
    cheat = plan.cheat.wallet_id.hex()[:8]
    _echo(net, say)
    say(
        f"wallet {cheat} shows its {format_money(amount, CURRENCY)} QR code, already paid at {TERMINAL_ID}, "
        f"again at {SHOP_2}, which is offline too:"
    )
    elsewhere = net.spend_elsewhere(text, amount, now=t + 30)  # within the code's 60 s
    _echo(net, say)
    if not elsewhere.approved:
        return 1
    q = net.queue()["journal"]
    say(
        f"queue: {q['pending_count']} pending, {format_money(q['pending_amount'], CURRENCY)}, "
        f"oldest {q['oldest_pending_age_s']} s ({q['oldest_pending_age_s'] / 3600:.1f} h)"
    )
    net.toggle()
    say(f"network back through a flaky link (seeded fault proxy, seed {seed}: drops, resets, duplicates)")
    if not _drain(net, n, say):
        return 1
    ok = _exactly_once(net, n, say)
    ok = _caught(net, terminal, plan.cheat, say) and ok
    say(f"story {'done' if ok else 'FAILED'} in {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


def _linger(net: DemoNetwork, say: Say) -> None:
    """Keep the collector (and so the operator console) up until Ctrl-C or SIGTERM."""
    for line in net.console_lines():
        say(line)
    say("the collector and its operator console stay up: Ctrl-C to stop")
    sys.stdout.flush()

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a demo started from a script in the background inherits SIGINT ignored, and
    # Python then raises no KeyboardInterrupt for it; the promise above is Ctrl-C
    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping the demo's collector")
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _verdict(d: Decision) -> str:
    return "APPROVED" if d.approved else f"DECLINED ({d.reason}): {explain(d.reason)}"


def _echo(net: DemoNetwork, say: Say) -> list[str]:
    lines = net.events()
    for line in lines:
        say(f"  [network] {line}")
    return lines


def _pending(net: DemoNetwork) -> int:
    return int(net.queue()["journal"]["pending_count"])


def _drain(net: DemoNetwork, n: int, say: Say) -> bool:
    started = time.monotonic()
    deadline = started + max(60.0, n / 100)
    shown = -1
    while time.monotonic() < deadline:
        _echo(net, say)
        left = _pending(net)
        if left != shown:
            say(f"uploading: {n - left}/{n} acknowledged ({time.monotonic() - started:.1f} s)")
            shown = left
        if left == 0:
            say(f"drained in {time.monotonic() - started:.1f} s: every row acknowledged, 0 pending")
            return True
        time.sleep(0.25)
    say(f"the queue did not drain in time: {_pending(net)} still pending")
    return False


def _exactly_once(net: DemoNetwork, n: int, say: Say) -> bool:
    assert net.collector is not None and net.proxy is not None
    head = net.collector.get_json(f"/v1/terminals/{TERMINAL_ID}")["last_seq"]
    faults = ", ".join(f"{k} {v}" for k, v in sorted(net.proxy.applied.items()) if k != "pass")
    say(f"link faults survived: {faults or 'none drawn'}")
    ok = head == n
    say(f"collector: {TERMINAL_ID}'s chain stands at seq {head} of {n}" + ("" if ok else " (MISMATCH)"))
    return ok


def _caught(net: DemoNetwork, terminal: Terminal, cheat: Wallet, say: Say) -> bool:
    # Wait for what the story asserts: the terminal's deny list naming the wallet. The narration
    # is not the fact: a batch whose answer was dropped and retried comes back "duplicate", and
    # the pass that flagged the double spend may never say so in words.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _echo(net, say)
        deny = terminal.keys.load().deny
        if deny is not None and deny.contains(cheat.wallet_id):
            break
        time.sleep(0.25)
    else:
        say("the deny list naming the wallet did not arrive in 30 s")
        return False
    time.sleep(0.3)  # the pass that installed it reports just after: let its words come first
    _echo(net, say)
    assert net.collector is not None
    metrics = net.collector.metrics()
    flagged = int(metrics.get("owt_collector_double_spends_total", 0))
    say(
        f"collector: {int(metrics.get('owt_collector_payments_ingested_total', 0))} payments held once "
        f"each, {flagged} double spend flagged"
    )
    t = int(time.time())
    d = terminal.accept_text(
        encode_text(cheat.token(max_amount=300, now=t)), PaymentRequest(300, CURRENCY, t, TERMINAL_ID)
    )
    say(f"wallet {cheat.wallet_id.hex()[:8]} shows a new QR code at {TERMINAL_ID}: {_verdict(d)}")
    return flagged == 1 and d.reason == reasons.WALLET_DENIED

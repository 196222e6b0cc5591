"""``pos demo --headless``: the whole acceptance core on an embedded default, no hardware.

Makes a demo scheme (root, an Ed25519 and an ES256 issuer, signed trust and deny lists), a few
wallets, and runs a stream of payments through the real terminal: QR and NFC tokens, a replay, a
forged token, a denied wallet and an over-limit one. Prints each decision in plain words, then
the journal summary and its verification.

Then two gates of one station with the WAN off (``sim.demo.site_story``): a copied QR code is
declined ``replayed`` at the second gate from what the first told it over the LAN.

Then the network's story (``sim.demo.offline_day``, real collector and sync processes): a day
offline with ``--payments N`` payments (default 1,000; 0 skips it), a flaky link, the queue
draining, and a wallet that paid at two shops declined after the collector's deny list arrives.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pos.decision import PaymentRequest
from pos.errors import PosError
from pos.journal_check import verify_journal
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import ALG_EDDSA, ALG_ES256, load_pem_public_key
from pos.terminal import Terminal
from sim.demo.offline_day import SEED, run_story
from sim.demo.site_story import run_site_story
from sim.scheme import Scheme
from sim.wallet import Wallet
from ui.cli.demo import DEFAULT_PAYMENTS
from ui.i18n.wording import explain

TERMINAL_ID = "DEMO-COUNTER-1"


def _money(minor: int) -> str:
    return f"EUR {minor // 100}.{minor % 100:02d}"


def run(args: argparse.Namespace) -> int:
    base = args.dir or Path(tempfile.mkdtemp(prefix="pos-demo-"))
    if (base / "scheme" / "scheme.json").exists():
        # A new scheme root would not match the one the terminals pinned, and the story's
        # day-old payments would be older than the journal's newest: start from a clean dir.
        raise PosError(f"{base} already holds a headless demo; give a new or empty --dir")
    base.mkdir(parents=True, exist_ok=True)
    print(f"demo scheme and terminal data in {base} (all keys are DEMO keys)\n")
    scheme = Scheme.init(base / "scheme")
    ed = scheme.add_issuer("Demo Bank (Ed25519)", ALG_EDDSA)
    es = scheme.add_issuer("Demo Card Co (ES256)", ALG_ES256)
    alice = Wallet.issue(ed, ALG_EDDSA, payment_limit=5_000, offline_limit=20_000)
    bob = Wallet.issue(es, ALG_ES256, payment_limit=5_000, offline_limit=20_000)
    mallory = Wallet.issue(ed, ALG_EDDSA)
    scheme.deny(mallory.wallet_id)
    root = load_pem_public_key(scheme.root_pem_path.read_bytes())
    store = KeyStore(base / "terminal", root)
    store.install_trust_list(scheme.trust_list())
    store.install_deny_list(scheme.deny_list())
    terminal = Terminal(base / "terminal", store)
    now = int(time.time())

    def qr(who: Wallet, charge: int, **kw: Any) -> tuple[str, bytes | str, PaymentRequest]:
        return "QR", encode_text(who.token(**kw)), PaymentRequest(charge, "EUR", now, TERMINAL_ID)

    def nfc(who: Wallet, amount: int) -> tuple[str, bytes | str, PaymentRequest]:
        ch = os.urandom(16)
        tok = who.token(amount=amount, challenge=ch, terminal_id=TERMINAL_ID)
        return "NFC", tok, PaymentRequest(amount, "EUR", now, TERMINAL_ID, ch)

    first = qr(alice, 1_250, max_amount=2_000)
    forged = bytearray(bob.token(max_amount=900))
    forged[-1] ^= 1
    stream = [
        ("Alice shows a QR code for a coffee", first),
        ("Bob taps his phone (ES256 wallet)", nfc(bob, 3_480)),
        ("Someone replays Alice's QR code", first),
        ("A forged token (signature altered)", ("QR", encode_text(bytes(forged)), first[2])),
        ("Mallory's wallet is on the deny list", qr(mallory, 500, max_amount=500)),
        ("Bob's code is over his per-payment limit", qr(bob, 6_000, max_amount=6_000)),
        ("Alice charged more than she authorised", qr(alice, 2_500, max_amount=2_000)),
        ("Alice taps for lunch", nfc(alice, 4_990)),
    ]
    for title, (mode, presented, request) in stream:
        if isinstance(presented, bytes) and mode == "NFC":
            decision = terminal.accept_bytes(presented, request)
        else:
            decision = terminal.accept_text(presented, request)
        verdict = "APPROVED" if decision.approved else f"DECLINED ({decision.reason})"
        seq = f" seq {decision.seq}" if decision.seq else ""
        print(f"{mode:>3}  {_money(request.amount):>12}  {verdict}{seq}")
        print(f"     {title}: {explain(decision.reason)}")
    terminal.close(now)
    summary = terminal.journal.summary()
    checked = verify_journal(terminal.journal)
    print(
        f"\njournal: {summary['payments']} payments, {_money(summary['total'])}; "
        f"{summary['pending_count']} waiting for upload ({_money(summary['pending_total'])})"
    )
    print(f"journal verify: {checked} rows, hash chain and signed heads hold")
    terminal.journal.close()
    run_site_story(base / "station", scheme, Wallet.issue(ed, ALG_EDDSA))
    n = getattr(args, "payments", DEFAULT_PAYMENTS)
    seed = getattr(args, "seed", None)
    linger = bool(getattr(args, "linger", False))
    return run_story(base, scheme, n, seed=SEED if seed is None else seed, linger=linger) if n else 0

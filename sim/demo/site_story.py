"""The headless demo's site step (issue 14): two gates of one station, the WAN off, a copied QR
code. Both gates are real terminals (their own journals) with real site links on 127.0.0.1 UDP:
gate 1 approves the code and announces it; gate 2, shown the same code a moment later, declines
it ``replayed`` from what gate 1 told it. Without the site link it would have approved it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pos.decision import Decision, PaymentRequest
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from pos.site import Membership
from pos.site_store import SiteStore
from pos.terminal import Terminal
from sim.scheme import Scheme
from sim.wallet import Wallet
from ui.i18n.wording import explain
from ui.runtime.site_link import SiteLink

SITE = "DEMO-STATION"
GATES = ("DEMO-GATE-1", "DEMO-GATE-2")
FARE = 250


def _gate(base: Path, scheme: Scheme, name: str) -> Terminal:
    store = KeyStore(base / name, load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list())
    store.install_deny_list(scheme.deny_list())
    return Terminal(base / name, store)


def run_site_story(base: Path, scheme: Scheme, wallet: Wallet, say: Callable[[str], None] = print) -> bool:
    """Print the step; True when the copy was declined at the second gate."""
    say("\nTwo gates of one station share spent tokens over the LAN (the WAN is off)")
    gates = [_gate(base, scheme, name) for name in GATES]
    members = Membership(SITE, {n: g.journal.identity.public_key for n, g in zip(GATES, gates, strict=True)})
    links = [
        SiteLink(SiteStore(members, name), g.journal.identity.sign, listen=("127.0.0.1", 0), peers=[])
        for name, g in zip(GATES, gates, strict=True)
    ]
    links[0].peers, links[1].peers = [links[1].listening[0]], [links[0].listening[0]]
    for g, link in zip(gates, links, strict=True):
        g.site = link
    try:
        copy = encode_text(wallet.token(max_amount=FARE))
        decisions: list[Decision] = []
        for i, (name, gate) in enumerate(zip(GATES, gates, strict=True)):
            if i:
                time.sleep(0.1)  # someone behind shows the photographed code at the next gate
            d = gate.accept_text(copy, PaymentRequest(FARE, "EUR", int(time.time()), name))
            decisions.append(d)
            verdict = "APPROVED, gate opens" if d.approved else f"DECLINED ({d.reason}), gate stays shut"
            say(f"{name}: the same QR code -> {verdict}")
            if not d.approved:
                say(f"     {explain(d.reason)}")
        ok = decisions[0].approved and decisions[1].reason == "replayed"
        say("site: the copy was refused at the second gate within milliseconds, with no server" if ok else
            "site: the copy was NOT refused (announcement lost); the collector will flag it")  # fmt: skip
        return ok
    finally:
        for g, link in zip(gates, links, strict=True):
            g.close()
            link.close()

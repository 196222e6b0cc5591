"""The site link's sockets (ui/runtime/site_link.py), real UDP on this host: a multicast group
reaches every member and a sender ignores its own looped-back datagrams; committed tokens are
signed and sent by the sender thread."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos.site import Announcement, Membership
from pos.site_store import SiteStore
from pos.tokens import parse_token
from tests.conftest import Demo
from tests.procs.site_gates import free_udp_port
from ui.runtime.site_link import SiteLink

pytestmark = pytest.mark.timeout(30)


def _wait(pred, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_a_multicast_group_reaches_every_member_and_the_sender_drops_its_own_echo() -> None:
    keys = {t: ed25519.Ed25519PrivateKey.generate() for t in ("A", "B", "C")}
    members = Membership("S", {t: k.public_key() for t, k in keys.items()})
    group = ("239.255.14.14", free_udp_port())
    links = {t: SiteLink(SiteStore(members, t), k.sign, listen=None, peers=[], multicast=group)
             for t, k in keys.items()}  # fmt: skip
    try:
        now = int(time.time())
        links["A"]._out.put(Announcement("S", "A", 1, b"W" * 8, 7, bytes(32), now + 60, now * 1000))
        assert _wait(lambda: all(links[t].store.spent_by(b"W" * 8, 7, now) for t in ("B", "C")))
        assert _wait(lambda: links["A"].store.counts.get("self") == 1)
        assert links["A"].store.spent_by(b"W" * 8, 7, now) is None
    finally:
        for link in links.values():
            link.close()


def test_committed_tokens_are_signed_and_sent_off_the_callers_thread(demo: Demo) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    members = Membership("S", {"A": key.public_key(), "B": key.public_key()})
    receiver = SiteLink(SiteStore(members, "B", peer_burst=1000), key.sign, listen=("127.0.0.1", 0), peers=[])
    link = SiteLink(SiteStore(members, "A"), key.sign, listen=None, peers=[receiver.listening[0]])
    wallet = demo.wallet()
    now = int(time.time())
    tokens = [parse_token(wallet.token(max_amount=100, now=now)) for _ in range(200)]
    try:
        for seq, token in enumerate(tokens, 1):
            link.committed(token, seq, now)  # a queue put: the caller (the core thread) goes on
        assert _wait(lambda: link.sent == 200, 20)
        assert _wait(lambda: receiver.store.counts.get("accepted") == 200)
        assert receiver.store.spent_by(wallet.wallet_id, tokens[-1].counter, now) == ("A", 200)
    finally:
        link.close()
        receiver.close()

"""Issue 14 with real processes: gates of one site share spent tokens over UDP on 127.0.0.1.

Four ``pos run --headless`` gates (tests/procs/site_gates.py): A and C form gate group "north",
B has no group, D has no ``[site]`` at all (the control). Each reads a ``file:DIR?watch`` camera
and drives a ``log:`` relay. The test is a site member too (``GATE-X``) to send its own datagrams:
forged, unknown, replayed and a flood.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.procs.site_gates import (
    Member,
    SiteGate,
    make_gates,
    qr,
    start,
    wait_ready,
    write_config,
    write_members,
)
from tests.sync.harness import SchemeEnv, make_scheme

pytestmark = pytest.mark.timeout(120)


@dataclass
class Site:
    env: SchemeEnv
    a: SiteGate
    b: SiteGate
    c: SiteGate
    d: SiteGate
    x: Member
    configs: dict[str, Path]

    def send(self, gate: SiteGate, datagrams: list[bytes], per_s: float | None = None) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            start_t = time.perf_counter()
            for i, d in enumerate(datagrams):
                s.sendto(d, ("127.0.0.1", gate.port))
                if per_s is not None:
                    lag = start_t + (i + 1) / per_s - time.perf_counter()
                    if lag > 0:
                        time.sleep(lag)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    env = make_scheme(root)
    (a, b, c, d), keys = make_gates(env, root, ["GATE-A", "GATE-B", "GATE-C", "GATE-D"])
    x = Member()
    members = write_members(root / "members.json", {**{k: v for k, v in keys.items() if k != "GATE-D"},
                                                      x.terminal_id: x.public_raw})  # fmt: skip
    configs = {
        "A": write_config(a, [b, c], members, "north"),
        "B": write_config(b, [a, c], members, None, passback_s=0),  # replays, not passback, after a kill
        "C": write_config(c, [a, b], members, "north"),
        "D": write_config(d, None, members, None),
    }
    for g, name in ((a, "A"), (b, "B"), (c, "C"), (d, "D")):
        start(g, configs[name])
    try:
        wait_ready([a, b, c, d])
        yield Site(env, a, b, c, d, x, configs)
    finally:
        for g in (a, b, c, d):
            g.kill()


def last(gate: SiteGate, n: int) -> dict[str, object]:
    return gate.decisions(n)[n - 1]


def test_a_copied_code_is_declined_replayed_at_the_next_gate_and_approved_without_a_site(site: Site) -> None:
    wallet = site.env.wallet()
    text = qr(wallet)
    na, nb, nd = (len(g.decisions(0)) for g in (site.a, site.b, site.d))
    opens_b = site.b.relay_opens()
    site.a.drop(text)
    time.sleep(0.1)
    site.b.drop(text)
    site.d.drop(text)  # the control: a gate of the same station without [site]
    at_a, at_b, at_d = last(site.a, na + 1), last(site.b, nb + 1), last(site.d, nd + 1)
    assert at_a["decision"] == "approved" and at_a["wallet_id"] == wallet.wallet_id.hex()
    assert "tap_to_relay_ms" in at_a  # A opened
    assert at_b["decision"] == "declined" and at_b["reason"] == "replayed", at_b
    assert at_b["wallet_id"] == wallet.wallet_id.hex() and at_b["counter"] == at_a["counter"]
    assert at_b["seq"] is None and "tap_to_relay_ms" not in at_b
    time.sleep(0.3)
    assert site.b.relay_opens() == opens_b  # B stayed shut
    assert at_d["decision"] == "approved"  # without the site, the copy passes: today's hole


def test_a_wallet_that_passed_one_gate_of_a_group_is_refused_passback_at_another(site: Site) -> None:
    wallet = site.env.wallet()
    nc, na = len(site.c.decisions(0)), len(site.a.decisions(0))
    site.c.drop(qr(wallet))
    assert last(site.c, nc + 1)["decision"] == "approved"
    time.sleep(0.1)
    site.a.drop(qr(wallet))  # a fresh code, the same wallet, the other gate of "north"
    at_a = last(site.a, na + 1)
    assert at_a["decision"] == "declined" and at_a["reason"] == "passback", at_a


def test_forged_unknown_stale_and_replayed_announcements_are_dropped(site: Site) -> None:
    """Each names a wallet's next counter; if any were taken, that payment would be declined."""
    x, env = site.x, site.env
    forged_w, unknown_w, stale_w, replay_w = (env.wallet() for _ in range(4))
    mallory = ed25519.Ed25519PrivateKey.generate()
    genuine = x.announce(replay_w.wallet_id, 1)
    genuine_seq = x.seq
    datagrams = [
        x.announce(forged_w.wallet_id, 1, key=mallory),  # GATE-X's name, someone else's key
        x.announce(unknown_w.wallet_id, 1, key=mallory, tid="GATE-Z"),  # not on the list
        x.announce(stale_w.wallet_id, 1, exp=int(time.time()) - 120),  # its token is long expired
        genuine,
        genuine,  # the same datagram again (the second copy is a replay)
        x.announce(replay_w.wallet_id, 2, seq=genuine_seq),  # a used seq, new content
    ]
    na = len(site.a.decisions(0))
    site.send(site.a, datagrams)
    time.sleep(0.2)
    for i, w in enumerate((forged_w, unknown_w, stale_w)):
        site.a.drop(qr(w))  # counter 1 of each: the named one
        assert last(site.a, na + i + 1)["decision"] == "approved"
    site.a.drop(qr(replay_w))  # counter 1: the genuine announcement did name it
    assert last(site.a, na + 4)["reason"] == "replayed"
    site.a.drop(qr(replay_w))  # counter 2: only the datagram that re-used a seq named it
    assert last(site.a, na + 5)["decision"] == "approved"


def test_a_flood_of_10000_per_second_is_dropped_and_the_gate_still_decides(site: Site) -> None:
    x, env = site.x, site.env
    flood = [x.announce(b"\xff" * 8, i) for i in range(10_000)]
    victim = env.wallet()
    victim_named = x.announce(victim.wallet_id, 1)  # sent after the flood: the cap must not forget it
    nc = len(site.c.decisions(0))
    import threading

    sender = threading.Thread(target=site.send, args=(site.c, flood, 10_000.0))
    sender.start()
    time.sleep(0.3)
    other = env.wallet()
    site.c.drop(qr(other))  # decided while the flood is on
    assert last(site.c, nc + 1)["decision"] == "approved"
    sender.join(10)
    time.sleep(1.0)  # the bucket refills
    site.send(site.c, [victim_named])
    time.sleep(0.2)
    site.c.drop(qr(victim))
    assert last(site.c, nc + 2)["reason"] == "replayed"


def test_kill_9_and_restart_rejoins_and_the_own_journal_refuses_its_own_replays(site: Site) -> None:
    wallet = site.env.wallet()
    first = qr(wallet)
    nb = len(site.b.decisions(0))
    site.b.drop(first)
    assert last(site.b, nb + 1)["decision"] == "approved"
    site.b.kill()  # SIGKILL
    start(site.b, site.configs["B"])
    wait_ready([site.b])
    site.b.drop(first)  # its own payment again, after the restart
    again = last(site.b, 1)
    assert again["decision"] == "declined" and again["reason"] == "replayed"
    fresh = qr(site.env.wallet())
    site.b.drop(fresh)
    assert last(site.b, 2)["decision"] == "approved"
    time.sleep(0.1)
    nc = len(site.c.decisions(0))
    site.c.drop(fresh)  # B's announcement after the restart is still taken (seq continues)
    assert last(site.c, nc + 1)["reason"] == "replayed"


def test_the_site_counters_show_what_was_dropped(site: Site) -> None:
    counts = site.c.stop()  # C saw the flood
    assert counts["flood"] >= 5_000, counts
    assert counts["accepted"] >= 2, counts
    counts_a = site.a.stop()  # A saw the forged, unknown, stale and replayed ones
    assert counts_a.get("forged", 0) >= 1 and counts_a.get("unknown", 0) >= 1, counts_a
    assert counts_a.get("stale", 0) >= 1 and counts_a.get("repeated", 0) >= 2, counts_a

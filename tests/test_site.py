"""Issue 14, the pure part: the announcement codec, the membership list, the spent set and the
checks a datagram passes (pos/site.py, pos/site_store.py). The attacks come first."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from pos import reasons
from pos.config import from_mapping
from pos.errors import ConfigError
from pos.site import Announcement, BadAnnouncement, decode, encode, load_membership, member_doc
from pos.site_store import (
    ACCEPTED,
    FLOOD,
    FORGED,
    MALFORMED,
    OTHER_SITE,
    REPEATED,
    SELF,
    STALE,
    UNKNOWN,
    SiteStore,
)
from tests.conftest import Demo

NOW = 1_800_000_000
SITE = "S1"


def raw(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture
def keys() -> dict[str, ed25519.Ed25519PrivateKey]:
    return {t: ed25519.Ed25519PrivateKey.generate() for t in ("A", "B", "ME")}


@pytest.fixture
def store(keys: dict[str, ed25519.Ed25519PrivateKey], tmp_path: Path) -> SiteStore:
    path = tmp_path / "members.json"
    path.write_text(json.dumps(member_doc(SITE, {t: raw(k) for t, k in keys.items()})))
    return SiteStore(load_membership(path), "ME", skew_s=30, group="north", peer_rate=10, peer_burst=20)


def ann(
    tid: str = "A", seq: int = 1, wallet: bytes = b"W" * 8, counter: int = 7, **kw: object
) -> Announcement:
    fields: dict[str, object] = dict(site=SITE, terminal_id=tid, seq=seq, wallet_id=wallet, counter=counter)
    fields.update(token_digest=bytes(32), token_exp=NOW + 60, at_ms=NOW * 1000)
    fields.update(kw)
    return Announcement(**fields)  # type: ignore[arg-type]


def test_an_announcement_round_trips_and_its_entry_is_usable(store: SiteStore, keys) -> None:
    a = ann(group="north", passed_at=NOW)
    datagram = encode(a, keys["A"].sign)
    assert decode(datagram)[0] == a and len(datagram) < 200
    assert store.receive(datagram, NOW, 0.0) == ACCEPTED
    assert store.spent_by(b"W" * 8, 7, NOW) == ("A", 1)
    assert store.spent_by(b"W" * 8, 8, NOW) is None
    assert store.passed({b"W" * 8}, NOW + 10, 60) == b"W" * 8


def test_a_forged_announcement_is_dropped(store: SiteStore) -> None:
    mallory = ed25519.Ed25519PrivateKey.generate()
    assert store.receive(encode(ann(), mallory.sign), NOW, 0.0) == FORGED
    assert store.spent_by(b"W" * 8, 7, NOW) is None


def test_a_tampered_announcement_is_dropped(store: SiteStore, keys) -> None:
    datagram = bytearray(encode(ann(counter=7), keys["A"].sign))
    datagram[-64 - 40] ^= 1  # one bit of the signed body
    assert store.receive(bytes(datagram), NOW, 0.0) in (FORGED, MALFORMED)


def test_an_announcement_from_an_unknown_terminal_is_dropped(store: SiteStore) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    assert store.receive(encode(ann(tid="Z"), stranger.sign), NOW, 0.0) == UNKNOWN
    assert len(store) == 0


def test_a_replayed_announcement_is_dropped(store: SiteStore, keys) -> None:
    datagram = encode(ann(seq=5), keys["A"].sign)
    assert store.receive(datagram, NOW, 0.0) == ACCEPTED
    assert store.receive(datagram, NOW, 0.0) == REPEATED
    reused = encode(ann(seq=5, counter=8), keys["A"].sign)  # a seq already used, other content
    assert store.receive(reused, NOW, 0.0) == REPEATED
    assert store.spent_by(b"W" * 8, 8, NOW) is None


def test_a_stale_announcement_is_dropped(store: SiteStore, keys) -> None:
    expired = encode(ann(token_exp=NOW - 31), keys["A"].sign)  # past exp + skew: nothing to protect
    future = encode(ann(seq=2, at_ms=(NOW + 300) * 1000), keys["A"].sign)
    assert store.receive(expired, NOW, 0.0) == STALE
    assert store.receive(future, NOW, 0.0) == STALE


def test_a_flood_is_capped_per_member_before_any_signature_check(store: SiteStore, keys) -> None:
    mallory = ed25519.Ed25519PrivateKey.generate()
    forged = [encode(ann(seq=i), mallory.sign) for i in range(1000)]
    verdicts = [store.receive(d, NOW, 0.001 * i) for i, d in enumerate(forged)]  # 1000 in one second
    assert verdicts.count(FORGED) <= 20 + 10 + 1  # the burst and one second of rate: verified
    assert verdicts.count(FLOOD) >= 960  # the rest cost a lookup
    ok = encode(ann(seq=5000), keys["A"].sign)
    assert store.receive(ok, NOW, 10.0) == ACCEPTED  # the honest member is back once it refills


def test_other_sites_own_echoes_and_garbage_are_dropped(store: SiteStore, keys) -> None:
    assert store.receive(encode(ann(site="S2"), keys["A"].sign), NOW, 0.0) == OTHER_SITE
    assert store.receive(encode(ann(tid="ME"), keys["ME"].sign), NOW, 0.0) == SELF
    assert store.receive(b"OWS1" + b"\xff" * 100, NOW, 0.0) == MALFORMED
    assert store.receive(b"", NOW, 0.0) == MALFORMED


def test_entries_live_until_token_expiry_plus_skew_and_memory_is_pruned(store: SiteStore, keys) -> None:
    for i in range(2048):
        store.add(ann(seq=i, counter=i, token_exp=NOW + 60), NOW)
    assert store.spent_by(b"W" * 8, 5, NOW + 90) == ("A", 5)
    assert store.spent_by(b"W" * 8, 5, NOW + 91) is None
    assert store.prune(NOW + 91) == 0


def test_passback_is_shared_only_within_the_gate_group(store: SiteStore) -> None:
    store.add(ann(group="south", passed_at=NOW, wallet=b"S" * 8), NOW)
    store.add(ann(seq=2, group="north", passed_at=NOW, wallet=b"N" * 8), NOW)
    assert store.passed({b"S" * 8}, NOW + 1, 60) is None
    assert store.passed({b"N" * 8}, NOW + 59, 60) == b"N" * 8
    assert store.passed({b"N" * 8}, NOW + 60, 60) is None


@given(st.binary(max_size=600))
def test_decoding_any_bytes_gives_an_announcement_or_bad_announcement(data: bytes) -> None:
    try:
        decode(data)
    except BadAnnouncement:
        pass


def test_membership_file_is_parsed_strictly(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    for doc in ({"site": SITE}, {"site": SITE, "members": [{"terminal_id": "A", "key": "00"}]},
                {"site": "a b", "members": []}):  # fmt: skip
        bad.write_text(json.dumps(doc))
        with pytest.raises(ConfigError):
            load_membership(bad)


def test_site_section_takes_a_list_of_peers() -> None:
    cfg = from_mapping({"site": {"id": SITE, "peers": ["127.0.0.1:1", "127.0.0.1:2"]}}, "t.toml")
    assert cfg.section("site").peers == ("127.0.0.1:1", "127.0.0.1:2")
    with pytest.raises(ConfigError, match="list of strings"):
        from_mapping({"site": {"peers": "127.0.0.1:1"}}, "t.toml")


def test_a_site_hit_declines_replayed_and_counts_for_velocity(demo: Demo, store: SiteStore) -> None:
    from pos.decision import PaymentRequest
    from pos.keystore import KeyStore
    from pos.presentation import encode_text
    from pos.sigs import load_pem_public_key
    from pos.terminal import Terminal

    keystore = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    keystore.install_trust_list(demo.trust_list.read_bytes())
    terminal = Terminal(demo.data_dir, keystore)

    class Link:
        def spent_by(self, wallet_id: bytes, counter: int, now: int) -> tuple[str, int] | None:
            return store.spent_by(wallet_id, counter, now)

        def committed(self, token: object, seq: int, now: int) -> None:
            raise OSError("the sender is gone")  # must not turn an approval into a decline

    terminal.site = Link()  # type: ignore[assignment]
    wallet = demo.wallet()
    now = int(time.time())
    request = PaymentRequest(100, "EUR", now, "ME")
    try:
        for counter in (1, 2, 3):
            store.add(ann(wallet=wallet.wallet_id, counter=counter, seq=counter, token_exp=now + 60), now)
            d = terminal.accept_text(encode_text(wallet.token(max_amount=100, now=now)), request)
            assert not d.approved and d.reason == reasons.REPLAYED
        (locked,) = terminal.journal.db.execute("SELECT count(*) FROM velocity_locks").fetchone()
        assert locked == 1  # three replays named the wallet: SPEC 3.3's velocity lock
        fresh = demo.wallet()
        assert terminal.accept_text(encode_text(fresh.token(max_amount=100, now=now)), request).approved
    finally:
        terminal.close()

"""SPEC 3.3 (replay and exposure): once per terminal, per-wallet and per-terminal offline caps,
and the velocity lock (at least 3 failures, at most 10 minutes)."""

from __future__ import annotations

from tests.spec.owt import DAY, Nfc
from tests.spec.terminal import Term, assert_approved, assert_declined

LOCK = 600  # SPEC 3.3: a velocity refusal lasts at most 10 minutes by default


def test_same_token_twice_is_replayed(term: Term) -> None:
    """SPEC 3.3: (wallet id, counter) is accepted at most once per terminal."""
    w = term.wallet()
    token = w.token(term.now)
    assert_approved(term.accept(token, 1000))
    r = term.accept(token, 1000)
    assert_declined(r, "replayed")
    assert r.doc is not None and r.doc["seq"] is None


def test_same_counter_in_a_new_token_is_replayed(term: Term) -> None:
    """SPEC 3.3: the pair (wallet id, counter) counts, not the token bytes: a fresh, validly signed
    token reusing a counter (other amount, other time, NFC instead of QR) is a replay."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, counter=7, amount=1000), 1000))
    assert_declined(
        term.accept(w.token(term.now + 5, counter=7, amount=50), 50, now=term.now + 5), "replayed"
    )
    nfc = Nfc(60)
    r = term.accept(w.token(term.now + 9, counter=7, nfc=nfc), 60, nfc=nfc, now=term.now + 9)
    assert_declined(r, "replayed")


def test_same_counter_from_another_wallet_is_not_a_replay(term: Term) -> None:
    """SPEC 3.3: the key is the pair; another wallet's counter 1 is its own."""
    a, b = term.wallet(), term.wallet("p256", "es")
    assert_approved(term.accept(a.token(term.now, counter=1), 1000))
    assert_approved(term.accept(b.token(term.now, counter=1), 1000))
    assert_approved(term.accept(a.token(term.now, counter=2), 1000))


def test_replay_is_remembered_across_calls_and_days(term: Term) -> None:
    """SPEC 3.3: at most once per terminal, forever (across restarts): each call is a new process
    state on the same data dir, a day later and with a new certificate for the same wallet."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, counter=3), 1000))
    later = term.now + DAY
    w.iat = later - 60  # a renewed certificate, same wallet id and key
    tl = term.scheme.trust_list(iat=later - 60, next_update=later + DAY, seq=2)
    dl = term.scheme.deny_list(iat=later - 60, next_update=later + DAY, seq=2)
    r = term.accept(w.token(later, counter=3), 1000, now=later, tl=tl, dl=dl)
    assert_declined(r, "replayed")


def test_replay_is_per_terminal(term: Term) -> None:
    """SPEC 3.3: across terminals double spending cannot be stopped offline; another terminal
    (data dir) approves the same token once."""
    w = term.wallet()
    token = w.token(term.now)
    assert_approved(term.accept(token, 1000))
    term.fresh()
    assert_approved(term.accept(token, 1000))
    assert_declined(term.accept(token, 1000), "replayed")


def test_cumulative_offline_limit_of_the_wallet(term: Term) -> None:
    """SPEC 3.3: accepted, un-acknowledged amounts plus the new one must not exceed label 10
    (3,000 here): exactly reaching it is fine, one unit more is `wallet_offline_limit`."""
    w = term.wallet(limit=2000, cumulative=3000)
    assert_approved(term.accept(w.token(term.now, amount=1000), 1000))
    assert_approved(term.accept(w.token(term.now, amount=1500), 1500))
    assert_declined(term.accept(w.token(term.now, amount=600), 600), "wallet_offline_limit")
    assert_approved(term.accept(w.token(term.now, amount=500), 500))
    assert_declined(term.accept(w.token(term.now, amount=1), 1), "wallet_offline_limit")
    assert_approved(term.accept(term.wallet(cumulative=3000).token(term.now, amount=1000), 1000))


def test_qr_exposure_counts_the_charged_amount_not_label_12(term: Term) -> None:
    """SPEC 3.3: "the sum of amounts accepted" is what was charged; a QR token authorising 2,000 but
    charged 1,000 adds 1,000."""
    w = term.wallet(limit=2000, cumulative=3000)
    for _ in range(3):
        assert_approved(term.accept(w.token(term.now, amount=2000), 1000))
    assert_declined(term.accept(w.token(term.now, amount=2000), 1), "wallet_offline_limit")


def test_nfc_payments_count_towards_the_same_exposure(term: Term) -> None:
    """SPEC 3.3: exposure is per wallet, whatever the transport."""
    w = term.wallet(limit=2000, cumulative=3000)
    assert_approved(term.accept(w.token(term.now, amount=2000), 2000))
    nfc = Nfc(1001)
    assert_declined(term.accept(w.token(term.now, nfc=nfc), 1001, nfc=nfc), "wallet_offline_limit")
    nfc = Nfc(1000)
    assert_approved(term.accept(w.token(term.now, nfc=nfc), 1000, nfc=nfc))


def test_declined_payments_do_not_count_towards_exposure(term: Term) -> None:
    """SPEC 3.3: only accepted amounts count."""
    w = term.wallet(limit=3000, cumulative=3000)
    assert_declined(term.accept(w.token(term.now, amount=2000), 2500), "amount_exceeds_authorised")
    assert_declined(term.accept(w.token(term.now, nfc=Nfc(2000)), 2000, nfc=Nfc(2000)), "challenge_mismatch")
    assert_approved(term.accept(w.token(term.now, amount=3000), 3000))


def test_exposure_is_per_wallet_id_across_certificates(term: Term) -> None:
    """SPEC 3.3: "accepted from one wallet". Ambiguity: a wallet holding two certificates (renewal,
    new key) is still one wallet id; the safest reading sums by wallet id, so a second certificate
    does not reset the exposure."""
    first = term.wallet(limit=3000, cumulative=3000)
    assert_approved(term.accept(first.token(term.now, counter=1, amount=2500), 2500))
    second = term.wallet(limit=3000, cumulative=3000, wallet_id=first.wallet_id)
    r = term.accept(second.token(term.now, counter=2, amount=600), 600)
    assert_declined(r, "wallet_offline_limit")


def test_terminal_default_cap_on_unuploaded_amount(term: Term) -> None:
    """SPEC 3.3: default terminal cap of 500,000 minor units un-uploaded: reaching it is fine, one
    unit more is `terminal_offline_limit`."""
    big = {"limit": 250_000, "cumulative": 1_000_000}
    a, b, c = term.wallet(**big), term.wallet(**big), term.wallet(**big)
    assert_approved(term.accept(a.token(term.now, amount=250_000), 250_000))
    assert_approved(term.accept(b.token(term.now, amount=250_000), 249_999))
    assert_declined(term.accept(c.token(term.now, amount=2), 2), "terminal_offline_limit")
    assert_approved(term.accept(c.token(term.now, amount=1), 1))
    assert_declined(term.accept(c.token(term.now, amount=1), 1), "terminal_offline_limit")


def test_terminal_default_cap_of_500_unuploaded_payments(term: Term) -> None:
    """SPEC 3.3: default terminal cap of 500 un-uploaded payments: the 500th is approved, the 501st
    (from a fresh wallet, far from its own limits) is `terminal_offline_limit`."""
    wallets = [term.wallet() for _ in range(5)]
    for i in range(500):
        w = wallets[i % 5]
        r = term.accept(w.token(term.now), 1)
        assert r.code == 0, f"payment {i + 1}: {r}"
    assert_declined(term.accept(term.wallet().token(term.now), 1), "terminal_offline_limit")


def _replay_three_times(term: Term, token: bytes, t0: int) -> int:
    for i in range(1, 4):
        r = term.accept(token, 1000, now=t0 + i)
        assert r.code == 1 and r.reason in ("replayed", "wallet_denied"), str(r)
    return t0 + 3


def test_three_replays_lock_the_wallet_for_at_most_ten_minutes(term: Term) -> None:
    """SPEC 3.3 velocity: 3 `replayed` declines naming one wallet lock it (`wallet_denied`), and the
    lock lasts at most 10 minutes: afterwards a fresh, honest token is approved."""
    w = term.wallet()
    token = w.token(term.now)
    assert_approved(term.accept(token, 1000))
    last = _replay_three_times(term, token, term.now)
    t = last + 1
    assert_declined(term.accept(w.token(t), 1000, now=t), "wallet_denied")
    assert_approved(term.accept(term.wallet().token(t), 1000, now=t))  # other wallets unaffected
    t = last + LOCK + 1
    assert_approved(term.accept(w.token(t), 1000, now=t))


def test_two_replays_do_not_lock_the_wallet(term: Term) -> None:
    """SPEC 3.3 velocity: a refusal needs at least 3 failures."""
    w = term.wallet()
    token = w.token(term.now)
    assert_approved(term.accept(token, 1000))
    for i in (1, 2):
        assert_declined(term.accept(token, 1000, now=term.now + i), "replayed")
    assert_approved(term.accept(w.token(term.now + 3), 1000, now=term.now + 3))


def test_three_bad_signatures_lock_the_wallet_for_at_most_ten_minutes(term: Term) -> None:
    """SPEC 3.3 velocity: 3 `bad_token_signature` declines naming a wallet (anyone holding its
    certificate can make them) lock it for at most 10 minutes."""
    w = term.wallet()
    for i in range(3):
        forged = w.token(term.now + i, cose={"signature": bytes(64)})
        assert_declined(term.accept(forged, 1000, now=term.now + i), "bad_token_signature")
    t = term.now + 3
    assert_declined(term.accept(w.token(t), 1000, now=t), "wallet_denied")
    t = term.now + 2 + LOCK + 1
    assert_approved(term.accept(w.token(t), 1000, now=t))


def test_failures_spread_over_more_than_ten_minutes_do_not_lock(term: Term) -> None:
    """SPEC 3.3 velocity (contract: 3 failures within 10 minutes): three replays 400 s apart never
    have three inside one 10-minute window, so the honest wallet still pays."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now, counter=1), 1000))
    for t in (term.now + 1, term.now + 401, term.now + 801):
        assert_declined(term.accept(w.token(t, counter=1), 1000, now=t), "replayed")
    t = term.now + 802
    assert_approved(term.accept(w.token(t, counter=2), 1000, now=t))

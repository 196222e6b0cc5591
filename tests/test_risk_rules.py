"""Terminal-side risk rules beyond a single token (issue: core, section 4; SPEC 3.3)."""

from __future__ import annotations

import pytest

from pos.decision import PaymentRequest, Policy
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from tests.conftest import Demo, run_pos


def terminal_of(demo: Demo, policy: Policy | None = None) -> Terminal:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    store.install_deny_list(demo.deny_list.read_bytes())
    return Terminal(demo.data_dir, store, policy=policy)


def qr(demo: Demo, wallet, amount: int, at: int | None = None) -> tuple[str, PaymentRequest]:
    now = demo.now if at is None else at
    return encode_text(wallet.token(max_amount=amount, now=now)), PaymentRequest(amount, "EUR", now, "T1")


def test_three_replays_lock_the_wallet_then_the_lock_expires(demo: Demo) -> None:
    """SPEC 3.3 velocity: >= 3 failures lock; a lock lasts at most 10 minutes."""
    term = terminal_of(demo)
    wallet = demo.wallet()
    text, req = qr(demo, wallet, 100)
    assert term.accept_text(text, req).approved
    assert [term.accept_text(text, req).reason for _ in range(3)] == ["replayed"] * 3
    fresh, req2 = qr(demo, wallet, 100)
    assert term.accept_text(fresh, req2).reason == "wallet_denied"
    later = PaymentRequest(100, "EUR", demo.now + 601, "T1")
    fresh_later = encode_text(wallet.token(max_amount=100, now=demo.now + 601))
    assert term.accept_text(fresh_later, later).approved


def test_two_failures_do_not_lock(demo: Demo) -> None:
    term = terminal_of(demo)
    wallet = demo.wallet()
    text, req = qr(demo, wallet, 100)
    assert term.accept_text(text, req).approved
    assert [term.accept_text(text, req).reason for _ in range(2)] == ["replayed"] * 2
    fresh, req2 = qr(demo, wallet, 100)
    assert term.accept_text(fresh, req2).approved


def test_lock_survives_restart_and_operator_unlock_clears_it(demo: Demo, capsys) -> None:
    term = terminal_of(demo)
    wallet = demo.wallet()
    text, req = qr(demo, wallet, 100)
    term.accept_text(text, req)
    for _ in range(3):
        term.accept_text(text, req)
    term.close(demo.now)
    term = terminal_of(demo)
    fresh, req2 = qr(demo, wallet, 100)
    assert term.accept_text(fresh, req2).reason == "wallet_denied"
    term.close(demo.now)
    code, _, _ = run_pos(["keys", "unlock", "--data-dir", str(demo.data_dir), wallet.wallet_id.hex()], capsys)
    assert code == 0
    term = terminal_of(demo)
    assert term.accept_text(fresh, req2).approved


def test_new_deny_list_clears_velocity_locks(demo: Demo, capsys) -> None:
    term = terminal_of(demo)
    wallet = demo.wallet()
    text, req = qr(demo, wallet, 100)
    for _ in range(4):
        term.accept_text(text, req)
    term.close(demo.now)
    demo.deny_list.write_bytes(demo.scheme.deny_list(iat=demo.now - 30))
    fresh = encode_text(wallet.token(max_amount=100, now=demo.now))
    code, doc, _ = run_pos(demo.accept_args(fresh, 100), capsys)
    assert code == 0, doc


def test_bad_issuer_signature_does_not_count_towards_a_lock(demo: Demo) -> None:
    """A certificate with a bad issuer signature can name any wallet: it must not lock one."""
    term = terminal_of(demo)
    wallet = demo.wallet()
    forged_cert = bytearray(wallet.cert)
    forged_cert[-1] ^= 1
    wallet.cert = bytes(forged_cert)
    for _ in range(5):
        text, req = qr(demo, wallet, 100)
        assert term.accept_text(text, req).reason == "bad_issuer_signature"
    honest = demo.wallet(wallet_id=wallet.wallet_id)
    text, req = qr(demo, honest, 100)
    assert term.accept_text(text, req).approved


def test_clock_set_back_before_newest_journal_entry_is_clock_unset(demo: Demo) -> None:
    """Issue: a clock more than the skew earlier than the newest journal entry is unset."""
    term = terminal_of(demo)
    wallet = demo.wallet()
    text, req = qr(demo, wallet, 100)
    assert term.accept_text(text, req).approved
    back = demo.now - 31
    text, req = qr(demo, wallet, 100, at=back)
    assert term.accept_text(text, req).reason == "clock_unset"
    within_skew = demo.now - 30
    text, req = qr(demo, wallet, 100, at=within_skew)
    assert term.accept_text(text, req).approved


@pytest.mark.parametrize(
    ("policy", "amounts", "last"),
    [
        (Policy(offline_count_max=2), [100, 100, 100], "terminal_offline_limit"),
        (Policy(offline_total_max=250), [100, 100, 100], "terminal_offline_limit"),
        (Policy(per_payment_max=150), [100, 200], "terminal_offline_limit"),
    ],
)
def test_terminal_caps_from_configuration(demo: Demo, policy: Policy, amounts: list[int], last: str) -> None:
    term = terminal_of(demo, policy)
    decisions = []
    for amount in amounts:
        text, req = qr(demo, demo.wallet(), amount)
        decisions.append(term.accept_text(text, req))
    assert all(d.approved for d in decisions[:-1])
    assert decisions[-1].reason == last


def test_acknowledged_payments_lower_wallet_exposure(demo: Demo) -> None:
    """SPEC 3.3: only payments not yet acknowledged by the collector count."""
    term = terminal_of(demo)
    wallet = demo.wallet(offline_limit=300)
    seqs = []
    for _ in range(3):
        text, req = qr(demo, wallet, 100)
        seqs.append(term.accept_text(text, req).seq)
    text, req = qr(demo, wallet, 100)
    assert term.accept_text(text, req).reason == "wallet_offline_limit"
    assert term.journal.acknowledge([seqs[0]]) == 1
    assert term.journal.acknowledge([seqs[0]]) == 0  # idempotent
    text, req = qr(demo, wallet, 100)
    assert term.accept_text(text, req).approved


def test_void_is_a_chained_reversal_row_never_a_deletion(demo: Demo) -> None:
    from pos.journal_check import verify_journal

    term = terminal_of(demo)
    text, req = qr(demo, demo.wallet(), 700)
    paid = term.accept_text(text, req)
    rev = term.journal.reverse(paid.seq, demo.now + 5)
    assert rev == paid.seq + 1
    rows = list(term.journal.rows())
    assert [(r["kind"], r["amount"], r["counter"]) for r in rows] == [
        ("payment", 700, 1),
        ("reversal", 700, 1),
    ]
    with pytest.raises(ValueError, match="already reversed"):
        term.journal.reverse(paid.seq, demo.now + 6)
    with pytest.raises(KeyError):
        term.journal.reverse(rev, demo.now + 6)
    assert term.journal.acknowledge([paid.seq, rev]) == 2
    assert term.journal.summary()["pending_total"] == 0
    term.close(demo.now + 7)
    assert verify_journal(term.journal) == 2

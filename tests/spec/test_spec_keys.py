"""SPEC 3.1 (keys): the pinned root, trust and deny lists, issuer entries, algorithm binding."""

from __future__ import annotations

import os

import pytest

from tests.spec.owt import DAY, Key, Scheme
from tests.spec.terminal import Term, assert_approved, assert_declined, assert_refused

GRACE = 7 * DAY  # SPEC 3.1: default grace after next_update


def test_certificate_kid_not_in_trust_list_is_unknown_issuer(term: Term) -> None:
    """SPEC 3.1: the certificate's kid must name an issuer key in the trust list."""
    w = term.wallet()
    token = w.token(term.now, cert=w.cert(cose={"kid": os.urandom(8)}))
    assert_declined(term.accept(token, 1000), "unknown_issuer")


def test_issuer_removed_by_a_newer_trust_list_is_unknown(term: Term) -> None:
    """SPEC 3.1: a newer trust list (higher seq) replaces the cached one; its issuers are the ones."""
    w_es = term.wallet("ed", "es")
    assert_approved(term.accept(w_es.token(term.now), 1000))
    term.tl = term.scheme.trust_list(seq=2, entries=[term.scheme.issuers["ed"].entry()])
    assert_declined(term.accept(w_es.token(term.now), 1000), "unknown_issuer")
    assert_approved(term.accept(term.wallet().token(term.now), 1000))


@pytest.mark.parametrize(("issuer", "alg"), [("ed", -7), ("es", -8)])
def test_certificate_alg_must_equal_issuer_entry_alg(term: Term, issuer: str, alg: int) -> None:
    """SPEC 3.1: the certificate's protected alg must equal the trust-list entry's (no switching);
    the signature itself is the issuer's real one."""
    w = term.wallet("ed", issuer)
    token = w.token(term.now, cert=w.cert(cose={"alg": alg}))
    assert_declined(term.accept(token, 1000), "alg_mismatch")


def test_certificate_alg_is_checked_against_the_entry_named_by_kid(term: Term) -> None:
    """SPEC 3.1: the entry named by the kid decides the alg. Here the trust list says that kid is a
    P-256 (-7) key while the certificate claims -8 and carries a real Ed25519 signature."""
    ed = term.scheme.issuers["ed"]
    entry = ed.entry({2: -7, 3: Key("p256").public_raw})
    term.tl = term.scheme.trust_list(entries=[entry, term.scheme.issuers["es"].entry()])
    assert_declined(term.accept(term.wallet().token(term.now), 1000), "alg_mismatch")


@pytest.mark.parametrize(("kind", "alg"), [("ed", -7), ("p256", -8)])
def test_token_alg_must_fit_wallet_key_type(term: Term, kind: str, alg: int) -> None:
    """SPEC 3.1: Ed25519 wallet key -> token alg -8, P-256 key -> -7."""
    w = term.wallet(kind)
    assert_declined(term.accept(w.token(term.now, cose={"alg": alg}), 1000), "alg_mismatch")


@pytest.mark.parametrize(
    ("nbf", "exp", "ok"),
    [(0, 1000, True), (1, 1000, False), (-1000, 0, True), (-1000, -1, False)],
    ids=["nbf=now", "nbf=now+1", "exp=now", "exp=now-1"],
)
def test_issuer_key_validity_window_is_exact(term: Term, nbf: int, exp: int, ok: bool) -> None:
    """SPEC 3.1 / 3.5 `issuer_key_expired`: the issuer entry must be valid (nbf..exp, inclusive) at
    now. SPEC puts the skew on certificate and token times only, so none here."""
    term.scheme.add_issuer("x", "ed", nbf=term.now + nbf, exp=term.now + exp)
    term.tl = term.scheme.trust_list()
    w = term.wallet("ed", "x")
    r = term.accept(w.token(term.now), 1000)
    if ok:
        assert_approved(r)
    else:
        assert_declined(r, "issuer_key_expired")


@pytest.mark.parametrize(("late", "ok"), [(0, True), (1, False)])
def test_trust_list_stale_after_next_update_plus_default_grace(term: Term, late: int, ok: bool) -> None:
    """SPEC 3.1 / 3.5: stale when now > next_update + grace; default grace 7 days."""
    term.tl = term.scheme.trust_list(iat=term.now - 30 * DAY, next_update=term.now - GRACE - late)
    r = term.accept(term.wallet().token(term.now), 1000)
    if ok:
        assert_approved(r)
    else:
        assert_declined(r, "trust_list_stale")


@pytest.mark.parametrize(("late", "ok"), [(0, True), (1, False)])
def test_stale_deny_list_declines_trust_list_stale(term: Term, late: int, ok: bool) -> None:
    """SPEC 3.1: an installed deny list goes stale like the trust list and declines `trust_list_stale`."""
    term.dl = term.scheme.deny_list(iat=term.now - 30 * DAY, next_update=term.now - GRACE - late)
    r = term.accept(term.wallet().token(term.now), 1000)
    if ok:
        assert_approved(r)
    else:
        assert_declined(r, "trust_list_stale")


def test_no_deny_list_is_fine(term: Term) -> None:
    """SPEC 3.1: the deny list is optional."""
    assert_approved(term.accept(term.wallet().token(term.now), 1000, dl=None))


def test_cached_deny_list_goes_stale_even_when_not_presented_again(term: Term) -> None:
    """SPEC 3.1: once a deny list is installed it goes stale like the trust list."""
    term.dl = term.scheme.deny_list(iat=term.now - 60, next_update=term.now + DAY)
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    later = term.now + DAY + GRACE + 1
    tl = term.scheme.trust_list(iat=later - 60, next_update=later + DAY, seq=2)
    w = term.wallet()
    assert_declined(term.accept(w.token(later), 1000, now=later, tl=tl, dl=None), "trust_list_stale")


def test_cached_deny_list_stays_in_force_when_not_presented_again(term: Term) -> None:
    """SPEC 3.1: lists are cached by the terminal; a call without --deny-list keeps the cached one."""
    denied = term.wallet()
    term.dl = term.scheme.deny_list(denied=[denied.wallet_id])
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    assert_declined(term.accept(denied.token(term.now), 1000, dl=None), "wallet_denied")


@pytest.mark.parametrize("position", [0, 1, 50, 98, 99])
def test_deny_list_lookup_finds_every_position(term: Term, position: int) -> None:
    """SPEC 3.2 / 3.5 `wallet_denied`: any id on the sorted deny list, first, middle or last."""
    ids = sorted(os.urandom(8) for _ in range(100))
    term.dl = term.scheme.deny_list(denied=ids)
    w = term.wallet(wallet_id=ids[position])
    assert_declined(term.accept(w.token(term.now), 1000), "wallet_denied")


def test_wallet_not_on_deny_list_is_approved_even_between_listed_ids(term: Term) -> None:
    """SPEC 3.2: only the listed ids are denied (neighbours of listed ids are not)."""
    mid = int.from_bytes(os.urandom(8), "big") | 1
    ids = [(mid - 1).to_bytes(8, "big"), (mid + 1).to_bytes(8, "big")]
    term.dl = term.scheme.deny_list(denied=ids)
    w = term.wallet(wallet_id=mid.to_bytes(8, "big"))
    assert_approved(term.accept(w.token(term.now), 1000))


def test_clock_earlier_than_trust_list_iat_is_clock_unset(term: Term) -> None:
    """SPEC 3.5 `clock_unset`: the clock is earlier than the cached trust list's iat (one second)."""
    term.tl = term.scheme.trust_list(iat=term.now + 1, next_update=term.now + DAY)
    assert_declined(term.accept(term.wallet().token(term.now), 1000), "clock_unset")


def test_clock_equal_to_trust_list_iat_is_set(term: Term) -> None:
    """SPEC 3.5 `clock_unset` is strictly earlier: now == iat is a set clock."""
    term.tl = term.scheme.trust_list(iat=term.now, next_update=term.now + DAY)
    assert_approved(term.accept(term.wallet().token(term.now), 1000))


def test_clock_going_back_before_cached_trust_list_is_clock_unset(term: Term) -> None:
    """SPEC 3.5 `clock_unset`: compared with the cached list, also on a later call."""
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    back = term.now - 61  # the list's iat is now - 60
    assert_declined(term.accept(term.wallet().token(back), 1000, now=back), "clock_unset")


def test_trust_list_with_bad_signature_is_refused_and_cache_stays(term: Term) -> None:
    """SPEC 3.1 / 3.5 last paragraph: a list failing its signature check is refused (exit 2); the
    cached list stays in force, and nothing is accepted on the refused call."""
    good = term.scheme.trust_list(seq=2)
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now), 1000, tl=good))
    token = w.token(term.now)
    bad = term.scheme.trust_list(seq=3, cose={"signature": lambda s: bytes([s[0] ^ 1]) + s[1:]})
    assert_refused(term.accept(token, 1000, tl=bad))
    # seq 2 is still the cached list: reinstalling it byte for byte is accepted (seq 3 would refuse it)
    assert_approved(term.accept(token, 1000, tl=good))


@pytest.mark.parametrize("root_kind", ["ed", "p256"])
def test_trust_list_signed_by_another_key_is_refused(term: Term, root_kind: str) -> None:
    """SPEC 3.1: only the pinned root key verifies trust lists (here: signed by another key of the
    same type, then by the scheme's own issuer key)."""
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    forged = term.scheme.trust_list(seq=2, cose={"key": Key(root_kind)})
    assert_refused(term.accept(term.wallet().token(term.now), 1000, tl=forged))
    by_issuer = term.scheme.trust_list(seq=3, cose={"key": term.scheme.issuers["ed"].key})
    assert_refused(term.accept(term.wallet().token(term.now), 1000, tl=by_issuer))


def test_trust_list_with_lower_seq_is_refused_rollback(term: Term) -> None:
    """SPEC 3.1: a list whose seq is lower than the cached one is refused (no rollback)."""
    tl5 = term.scheme.trust_list(seq=5, entries=[term.scheme.issuers["ed"].entry()])
    assert_approved(term.accept(term.wallet().token(term.now), 1000, tl=tl5))
    # the rollback would bring back an issuer (es) that the newer list dropped
    tl4 = term.scheme.trust_list(seq=4)
    w_es = term.wallet("ed", "es")
    assert_refused(term.accept(w_es.token(term.now), 1000, tl=tl4))
    assert_declined(term.accept(w_es.token(term.now), 1000, tl=tl5), "unknown_issuer")
    assert_approved(term.accept(term.wallet().token(term.now), 1000, tl=tl5))


def test_trust_list_same_seq_different_bytes_is_refused(term: Term) -> None:
    """SPEC 3.1: same seq as the cached one is accepted only when byte-identical."""
    tl = term.scheme.trust_list(seq=3)
    assert_approved(term.accept(term.wallet().token(term.now), 1000, tl=tl))
    other = term.scheme.trust_list(seq=3, iat=term.now - 59)
    assert_refused(term.accept(term.wallet().token(term.now), 1000, tl=other))
    # same payload, different protected header bytes: still different bytes
    twin = term.scheme.trust_list(seq=3, cose={"tag": True})
    assert_refused(term.accept(term.wallet().token(term.now), 1000, tl=twin))
    assert_approved(term.accept(term.wallet().token(term.now), 1000, tl=tl))


def test_trust_list_higher_seq_is_installed(term: Term) -> None:
    """SPEC 3.1: seq strictly increasing: a higher seq replaces the cached list."""
    for seq in (1, 2, 10):
        tl = term.scheme.trust_list(seq=seq)
        assert_approved(term.accept(term.wallet().token(term.now), 1000, tl=tl))


def test_deny_list_refusals_keep_cached_deny_list_in_force(term: Term) -> None:
    """SPEC 3.1: deny lists are refused on bad signature, lower seq, or same seq with other bytes;
    the cached deny list (which denies W) stays in force each time."""
    w = term.wallet()
    dl2 = term.scheme.deny_list(seq=2, denied=[w.wallet_id])
    assert_declined(term.accept(w.token(term.now), 1000, dl=dl2), "wallet_denied")
    forged = term.scheme.deny_list(seq=3, cose={"key": Key("ed")})
    bad_sig = term.scheme.deny_list(seq=3, cose={"signature": bytes(64)})
    rollback = term.scheme.deny_list(seq=1)
    same_seq = term.scheme.deny_list(seq=2)
    for dl in (forged, bad_sig, rollback, same_seq):
        assert_refused(term.accept(term.wallet().token(term.now), 1000, dl=dl))
        assert_declined(term.accept(w.token(term.now), 1000, dl=None), "wallet_denied")
    assert_declined(term.accept(w.token(term.now), 1000, dl=dl2), "wallet_denied")


def test_deny_list_and_trust_list_seqs_are_independent(term: Term) -> None:
    """SPEC 1: seq is strictly increasing per document type."""
    term.tl = term.scheme.trust_list(seq=7)
    term.dl = term.scheme.deny_list(seq=1)
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    term.dl = term.scheme.deny_list(seq=2)
    assert_approved(term.accept(term.wallet().token(term.now), 1000))


def test_refused_list_call_does_not_accept_the_payment(term: Term) -> None:
    """SPEC 3.1: a refused list is an operator error: nothing is accepted on that call (the same
    token is later approved, not replayed)."""
    w = term.wallet()
    token = w.token(term.now)
    bad = term.scheme.trust_list(cose={"signature": bytes(64)})
    r = term.accept(token, 1000, tl=bad)
    assert_refused(r)
    assert_approved(term.accept(token, 1000))


def test_deny_list_offered_as_trust_list_is_refused(term: Term) -> None:
    """SPEC 1 / 3.1: a trust list is a typ-1 document. Ambiguity: SPEC names only signature and seq
    as refusal causes; the safest reading refuses a root-signed typ-2 document as a trust list."""
    assert_refused(term.accept(term.wallet().token(term.now), 1000, tl=term.scheme.deny_list(seq=9)))


def test_root_key_first_seen_is_pinned(term: Term) -> None:
    """SPEC 1: the root key is pinned, never downloaded: a data dir keeps its first root, so a list
    from another root (with its own PEM) is refused."""
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    rogue = Scheme(term.now, Key("ed"))
    rogue.issuers = term.scheme.issuers
    pem = term.write_root(rogue.root)
    r = term.accept(term.wallet().token(term.now), 1000, root=pem, tl=rogue.trust_list(seq=50), dl=None)
    assert_refused(r)


@pytest.mark.parametrize("root_kind", ["ed", "p256"])
def test_p256_or_ed25519_root_signs_lists(term: Term, root_kind: str) -> None:
    """SPEC 1: lists are signed by the scheme root key (ROOT.pem: Ed25519 or P-256 SPKI)."""
    term.scheme.root = Key(root_kind)
    term.root_pem = term.write_root(term.scheme.root)
    term.tl = term.scheme.trust_list()
    term.dl = term.scheme.deny_list()
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    bad = term.scheme.trust_list(seq=2, cose={"signature": lambda s: s[:-1] + bytes([s[-1] ^ 1])})
    assert_refused(term.accept(term.wallet().token(term.now), 1000, tl=bad))


def test_unsorted_deny_list_never_lets_a_listed_wallet_pay(term: Term) -> None:
    """SPEC 1: denied ids are sorted ascending. Ambiguity: a root-signed list breaking that order may
    be refused (exit 2) or used as given; the safest reading never approves a listed wallet (a
    binary search over an unsorted list would miss it)."""
    w = term.wallet()
    ids = sorted([os.urandom(8) for _ in range(40)] + [w.wallet_id])
    unsorted = ids[::-1]
    r = term.accept(w.token(term.now), 1000, dl=term.scheme.deny_list(changes={5: unsorted}))
    assert r.code == 2 or (r.code == 1 and r.reason == "wallet_denied"), str(r)


def test_lists_with_unknown_integer_labels_are_installed(term: Term) -> None:
    """SPEC 3.2: unknown integer payload labels are ignored (forward compatibility), lists included."""
    entries = [i.entry({7: "future", 99: [1]}) for i in term.scheme.issuers.values()]
    term.tl = term.scheme.trust_list(entries=entries, changes={99: {"x": 1}, 6: 0})
    term.dl = term.scheme.deny_list(changes={99: b"future"})
    assert_approved(term.accept(term.wallet().token(term.now), 1000))
    assert_approved(term.accept(term.wallet("p256", "es").token(term.now), 1000))


def test_newer_deny_list_adds_and_removes_wallets(term: Term) -> None:
    """SPEC 3.1 / 3.3: the collector alone decides the deny list; each newer list replaces the last."""
    w = term.wallet()
    assert_approved(term.accept(w.token(term.now), 1000))
    term.dl = term.scheme.deny_list(seq=2, denied=[w.wallet_id])
    assert_declined(term.accept(w.token(term.now), 1000), "wallet_denied")
    term.dl = term.scheme.deny_list(seq=3)
    assert_approved(term.accept(w.token(term.now), 1000))


# The same certificate bytes presented again must be judged against the keys, lists and clock of
# that moment (a verifier may remember results, but only as long as they still hold).


def test_same_certificate_after_its_issuer_is_dropped_is_unknown_issuer(term: Term) -> None:
    """SPEC 3.1: the kid must name an issuer in the (current) trust list."""
    w = term.wallet("ed", "es")
    cert = w.cert()
    assert_approved(term.accept(w.token(term.now, cert=cert), 1000))
    term.tl = term.scheme.trust_list(seq=2, entries=[term.scheme.issuers["ed"].entry()])
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "unknown_issuer")


def test_same_certificate_after_kid_is_rebound_to_another_key_is_bad_issuer_signature(term: Term) -> None:
    """SPEC 3.1: the certificate is verified with the key the current trust list gives its kid."""
    w = term.wallet()
    cert = w.cert()
    assert_approved(term.accept(w.token(term.now, cert=cert), 1000))
    ed = term.scheme.issuers["ed"]
    rebound = ed.entry({3: Key("ed").public_raw})
    term.tl = term.scheme.trust_list(seq=2, entries=[rebound, term.scheme.issuers["es"].entry()])
    assert_declined(term.accept(w.token(term.now, cert=cert), 1000), "bad_issuer_signature")


def test_same_certificate_after_issuer_entry_expires_is_issuer_key_expired(term: Term) -> None:
    """SPEC 3.1: the issuer entry must be valid at the current time, not when first seen."""
    ed = term.scheme.issuers["ed"]
    ed.exp = term.now + 100
    term.tl = term.scheme.trust_list()
    w = term.wallet()
    cert = w.cert()
    assert_approved(term.accept(w.token(term.now, cert=cert), 1000))
    later = term.now + 101
    assert_declined(term.accept(w.token(later, cert=cert), 1000, now=later), "issuer_key_expired")


def test_same_certificate_after_it_expires_is_certificate_expired(term: Term) -> None:
    """SPEC 3.2: certificate `now <= exp` at the current time."""
    w = term.wallet(exp=term.now + 100)
    cert = w.cert()
    assert_approved(term.accept(w.token(term.now, cert=cert), 1000))
    later = term.now + 101
    assert_declined(term.accept(w.token(later, cert=cert), 1000, now=later), "certificate_expired")


def test_same_certificate_on_another_terminal_with_other_trust_uses_that_trust(term: Term) -> None:
    """SPEC 3.1: each terminal trusts its own pinned root and lists. A second terminal (data dir,
    root key) whose trust list binds the kid to another key must not inherit the first one's
    verdict on the certificate (this suite runs many terminals in one process)."""
    w = term.wallet()
    cert = w.cert()
    assert_approved(term.accept(w.token(term.now, cert=cert), 1000))
    other = Scheme(term.now)
    other.add_issuer("ed", "ed", kid=term.scheme.issuers["ed"].kid)
    pem = term.write_root(other.root)
    term.fresh()
    r = term.accept(w.token(term.now, cert=cert), 1000, root=pem, tl=other.trust_list(), dl=None)
    assert_declined(r, "bad_issuer_signature")
    term.fresh()
    empty = other.trust_list(entries=[])
    r = term.accept(w.token(term.now, cert=cert), 1000, root=pem, tl=empty, dl=None)
    assert_declined(r, "unknown_issuer")

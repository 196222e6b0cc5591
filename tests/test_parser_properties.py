"""Parsers never fail open or crash (SPEC 3.2 parsing rules, SPEC 3.1 lists, issue: fuzzing).

Whatever the bytes: ``parse_token`` + ``check_token`` raise only ``Decline``; the terminal's
``accept_text`` / ``accept_bytes`` return a ``Decision`` and log no internal error; the list
parsers raise only ``ListError``. Inputs are random bytes, and valid documents mutated three
ways: bytes (bit flips, truncations, insertions, deletions), CBOR items (an item replaced by one
from another document, dropped or duplicated), and payload fields set to any CBOR value and
re-signed with the right key, so the rules behind the signatures are reached too.
``scripts/fuzz`` runs the same invariants coverage-guided for minutes; these are the quick ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos import reasons
from pos.decision import Decision, PaymentRequest, Policy, TerminalState
from pos.errors import Decline, ListError
from pos.keystore import KeySnapshot, KeyStore
from pos.presentation import BASE45_ALPHABET, PREFIX, decode_text, encode_text
from pos.sigs import ALG_EDDSA, ALG_ES256, load_pem_public_key
from pos.terminal import Terminal
from pos.tokens import parse_token
from pos.trust import parse_deny_list, parse_trust_list
from pos.verify import check_token
from pos.wire.signing import sign1
from sim.scheme import DAY, Scheme
from sim.wallet import Wallet

TERMINAL_ID = "T-PROPERTIES"
CHALLENGE = bytes(range(16))
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the suite is reproducible; scripts/fuzz is where new inputs are searched
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class World:
    now: int
    scheme: Scheme
    root: Any
    wallets: list[Wallet]
    tokens: list[bytes]
    trust_raw: bytes
    deny_raw: bytes
    keys: KeySnapshot
    terminal: Terminal

    def request(self, *, nfc: bool, amount: int = 500) -> PaymentRequest:
        return PaymentRequest(amount, "EUR", self.now, TERMINAL_ID, CHALLENGE if nfc else None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("properties")
    now = int(time.time())
    scheme = Scheme.init(base / "scheme")
    scheme.add_issuer("ed", ALG_EDDSA)
    scheme.add_issuer("es", ALG_ES256)
    wallets = [
        Wallet.issue(scheme.issuer(issuer), alg, iat=now - 3600)
        for issuer, alg in (("ed", ALG_EDDSA), ("es", ALG_ES256), ("ed", ALG_ES256))
    ]
    scheme.deny(wallets[2].wallet_id)
    tokens = []
    for w in wallets:
        tokens.append(w.token(max_amount=1000, now=now))
        tokens.append(w.token(amount=500, challenge=CHALLENGE, terminal_id=TERMINAL_ID, now=now))
    root = load_pem_public_key(scheme.root_pem_path.read_bytes())
    trust_raw, deny_raw = scheme.trust_list(iat=now - 60), scheme.deny_list(iat=now - 60)
    keys = KeySnapshot(parse_trust_list(trust_raw, root), parse_deny_list(deny_raw, root))
    store = KeyStore(base / "data", root)
    store.install_trust_list(trust_raw)
    store.install_deny_list(deny_raw)
    terminal = Terminal(base / "data", store, policy=Policy(offline_count_max=100_000))
    yield World(now, scheme, root, wallets, tokens, trust_raw, deny_raw, keys, terminal)
    terminal.close()


# -- mutations ------------------------------------------------------------------------------------
def cbor_item_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every CBOR item in well-formed ``data`` (not inside byte strings)."""
    spans: list[tuple[int, int]] = []

    def item(pos: int) -> int:
        start, ib = pos, data[pos]
        mt, ai = ib >> 5, ib & 0x1F
        pos += 1
        arg = ai
        if 24 <= ai < 28:
            n = 1 << (ai - 24)
            arg = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        if mt in (2, 3):
            pos += arg
        elif mt in (4, 5):
            for _ in range(arg * (2 if mt == 5 else 1)):
                pos = item(pos)
        elif mt == 6:
            pos = item(pos)
        elif mt == 7 and ai >= 24:
            pos = start + 1 + (1 << (ai - 24))
        spans.append((start, pos))
        return pos

    item(0)
    return spans


@st.composite
def item_mutation(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """Replace, drop or duplicate a whole CBOR item of a valid document."""
    data = draw(st.sampled_from(seeds))
    spans = cbor_item_spans(data)
    a, b = draw(st.sampled_from(spans))
    op = draw(st.sampled_from(["replace", "drop", "duplicate"]))
    if op == "replace":
        other = draw(st.sampled_from(seeds))
        c, d = draw(st.sampled_from(cbor_item_spans(other)))
        return data[:a] + other[c:d] + data[b:]
    if op == "drop":
        return data[:a] + data[b:]
    return data[:b] + data[a:b] + data[b:]


@st.composite
def byte_mutation(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if n == 0 or op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=12))
        elif op == "flip":
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[draw(st.integers(0, n - 1)) :]
        else:
            i = draw(st.integers(0, n - 1))
            del data[i : i + draw(st.integers(1, 16))]
    return bytes(data)


def cbor_values() -> st.SearchStrategy[Any]:
    """Values of every CBOR type, with the edges of SPEC 3.2's checks among them."""
    edge_ints = st.sampled_from([0, 1, 23, 24, 255, 256, 2**32, 2**63 - 1, 2**64 - 1, -1, -(2**64)])
    edge_bytes = st.sampled_from([b"", bytes(7), bytes(8), bytes(9), bytes(16), bytes(32), bytes(65)])
    scalars = st.one_of(
        edge_ints,
        st.integers(-(2**64), 2**64 - 1),
        edge_bytes,
        st.binary(max_size=40),
        st.text(max_size=12),
        st.sampled_from(["EUR", "USD", TERMINAL_ID, ""]),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False),
        st.integers(2**64, 2**70),  # a bignum (tag 2)
        st.builds(cbor2.CBORTag, st.sampled_from([0, 18, 24, 55799]), st.integers(0, 5)),
        st.builds(cbor2.CBORSimpleValue, st.sampled_from([0, 19, 32, 255])),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(st.integers(-8, 20), st.text(max_size=2)), inner, max_size=3),
        ),
        max_leaves=6,
    )


def _fields(draw: st.DrawFn, body: dict[Any, Any], labels: list[int]) -> dict[Any, Any]:
    body = dict(body)
    for _ in range(draw(st.integers(1, 3))):
        label = draw(st.sampled_from(labels))
        if draw(st.integers(0, 3)) == 0:
            body.pop(label, None)
        else:
            body[label] = draw(cbor_values())
    return body


@st.composite
def resigned_token(draw: st.DrawFn, world: World) -> bytes:
    """A token whose payload (or certificate payload) fields are set to any value, then re-signed."""
    w = draw(st.sampled_from(world.wallets))
    nfc = draw(st.booleans())
    # each field valid about half the time, so whole tokens get past every rule often enough
    iat = world.now + draw(st.one_of(st.just(-5), st.integers(-200, 60)))
    exp = iat + draw(st.one_of(st.just(60), st.integers(-2, 130)))
    body: dict[Any, Any] = {0: 4, 1: iat, 2: exp, 6: w.wallet_id, 8: "EUR"}
    body[11] = draw(st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([1, 2**63 - 1, 2**63, 2**64 - 1])))
    amount = draw(st.one_of(st.just(500), st.sampled_from([0, 499, 501, 1000, 10_000, 10_001, 2**64 - 1])))
    body.update({13: amount, 14: CHALLENGE, 15: TERMINAL_ID} if nfc else {12: amount})
    cert = w.cert
    if draw(st.booleans()):
        cert_body = cbor2.loads(cbor2.loads(w.cert)[2])
        cert_body = _fields(draw, cert_body, list(range(0, 12)))
        issuer = draw(st.sampled_from(world.scheme.issuers()))
        cert = sign1(cert_body, issuer.key, kid=issuer.kid)
    body[16] = cert
    if draw(st.booleans()):
        body = _fields(draw, body, list(range(0, 18)))
    unprotected = draw(st.one_of(st.just({}), st.dictionaries(st.integers(-2, 5), cbor_values(), max_size=2)))
    return sign1(body, w.key, unprotected=unprotected, tag=draw(st.booleans()))


def any_token_bytes(world: World) -> st.SearchStrategy[bytes]:
    valid = st.sampled_from(world.tokens)
    return st.one_of(
        st.binary(max_size=600),
        byte_mutation(valid),
        item_mutation(world.tokens),
        byte_mutation(item_mutation(world.tokens)),
        resigned_token(world),
    )


# -- token path -----------------------------------------------------------------------------------
def verify_only_declines(world: World, data: bytes) -> None:
    try:
        token = parse_token(data)
    except Decline as d:
        assert d.reason == reasons.MALFORMED
        return
    for request in (world.request(nfc=False), world.request(nfc=True)):
        try:
            check_token(token, world.keys, request, Policy(), TerminalState())
        except Decline as d:
            assert d.reason in reasons.ALL


def test_random_and_mutated_tokens_only_ever_decline(world: World) -> None:
    @SETTINGS
    @given(any_token_bytes(world))
    def prop(data: bytes) -> None:
        verify_only_declines(world, data)

    prop()


def test_every_valid_seed_token_still_verifies(world: World) -> None:
    """The mutations start from tokens that pass, so a decline is the mutation's doing."""
    for i, raw in enumerate(world.tokens):
        token = parse_token(raw)
        nfc = i % 2 == 1
        if world.wallets[i // 2].wallet_id == world.wallets[2].wallet_id:
            with pytest.raises(Decline, match=reasons.WALLET_DENIED):
                check_token(token, world.keys, world.request(nfc=nfc), Policy(), TerminalState())
        else:
            check_token(token, world.keys, world.request(nfc=nfc), Policy(), TerminalState())


# -- the terminal ---------------------------------------------------------------------------------
@contextmanager
def internal_errors() -> Iterator[list[logging.LogRecord]]:
    """Records of the terminal's catch-all: an exception it did not expect is a bug here."""
    caught: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info is not None:
                caught.append(record)

    handler, logger = Catch(logging.ERROR), logging.getLogger("pos")
    logger.addHandler(handler)
    try:
        yield caught
    finally:
        logger.removeHandler(handler)


def assert_decision(world: World, accept: Callable[[], Decision]) -> None:
    with internal_errors() as caught:
        decision = accept()
    assert isinstance(decision, Decision)
    assert decision.approved == (decision.reason is None)
    assert decision.reason is None or decision.reason in reasons.ALL
    assert not caught, f"internal error: {caught[0].exc_info}"


def test_terminal_accept_bytes_gives_a_decision_for_any_bytes(world: World) -> None:
    @SETTINGS
    @given(any_token_bytes(world))
    def prop(data: bytes) -> None:
        for nfc in (False, True):
            assert_decision(world, lambda: world.terminal.accept_bytes(data, world.request(nfc=nfc)))

    prop()


def texts(world: World) -> st.SearchStrategy[str | bytes]:
    valid = [encode_text(t) for t in world.tokens]
    alphabet_text = st.text(alphabet=BASE45_ALPHABET, max_size=700)
    return st.one_of(
        st.binary(max_size=800),
        st.text(max_size=100),
        alphabet_text.map(lambda s: PREFIX + s),
        st.builds(lambda n, s: f"OWT{n}:{s}", st.integers(0, 10**12), alphabet_text),
        byte_mutation(st.sampled_from([v.encode() for v in valid])),
        st.sampled_from(valid).map(lambda v: v + "\r\n"),
        any_token_bytes(world).map(encode_text),
    )


def test_terminal_accept_text_gives_a_decision_for_any_text(world: World) -> None:
    @SETTINGS
    @given(texts(world))
    def prop(text: str | bytes) -> None:
        assert_decision(world, lambda: world.terminal.accept_text(text, world.request(nfc=False)))

    prop()


def test_decoded_text_is_canonical_base45(world: World) -> None:
    """Strict base45: a text that decodes re-encodes to itself, so one token has one text."""

    @SETTINGS
    @given(texts(world))
    def prop(text: str | bytes) -> None:
        try:
            raw = decode_text(text)
        except Decline as d:
            assert d.reason in (reasons.MALFORMED, reasons.UNSUPPORTED_VERSION)
            return
        stripped = text.rstrip("\r\n") if isinstance(text, str) else text.rstrip(b"\r\n").decode()
        assert encode_text(raw) == stripped

    prop()


def test_counters_up_to_2_64_are_journalled_and_replay_declined(world: World) -> None:
    """SPEC 3.2: the counter is any CBOR unsigned integer. Regression: counters of 2**63 and up
    overflowed SQLite's INTEGER in the journal and came out as storage_failure via the catch-all
    (found by the re-signed-token property below; fixed by storing counters as 8 bytes)."""
    # a wallet of its own: the properties may have locked or filled up the shared ones
    wallet = Wallet.issue(world.scheme.issuer("ed"), ALG_EDDSA, iat=world.now - 3600)
    for counter in (2**63 - 1, 2**63, 2**64 - 1):
        raw = wallet.token(max_amount=1000, now=world.now, counter=counter)
        with internal_errors() as caught:
            first = world.terminal.accept_bytes(raw, world.request(nfc=False))
            again = world.terminal.accept_bytes(raw, world.request(nfc=False))
        assert not caught, f"internal error: {caught[0].exc_info}"
        assert first.approved and first.counter == counter
        assert not again.approved and again.reason == reasons.REPLAYED


# -- lists ----------------------------------------------------------------------------------------
@st.composite
def resigned_list(draw: st.DrawFn, world: World) -> bytes:
    """A trust or deny list whose fields (issuer entries, ids) are set to anything, re-signed."""
    if draw(st.booleans()):
        entries = [i.entry() for i in world.scheme.issuers()]
        if entries and draw(st.booleans()):
            k = draw(st.integers(0, len(entries) - 1))
            entries[k] = _fields(draw, entries[k], list(range(0, 8)))
        body: dict[Any, Any] = {0: 1, 1: world.now, 2: world.now + DAY, 3: 9, 4: entries}
    else:
        ids = draw(st.lists(st.binary(min_size=8, max_size=8), max_size=6))
        if draw(st.booleans()):
            ids.sort()
        if draw(st.integers(0, 3)) == 0:
            ids.append(draw(st.one_of(st.binary(max_size=10), cbor_values())))
        body = {0: 2, 1: world.now, 2: world.now + DAY, 3: 9, 5: ids}
    if draw(st.booleans()):
        body = _fields(draw, body, list(range(0, 7)))
    return sign1(body, world.scheme.root, tag=draw(st.booleans()))


def test_random_and_mutated_lists_only_ever_raise_list_error(world: World) -> None:
    seeds = [world.trust_raw, world.deny_raw]
    lists = st.one_of(
        st.binary(max_size=600),
        byte_mutation(st.sampled_from(seeds)),
        item_mutation(seeds),
        resigned_list(world),
        byte_mutation(resigned_list(world)),
    )

    @SETTINGS
    @given(lists)
    def prop(data: bytes) -> None:
        for parse in (parse_trust_list, parse_deny_list):
            try:
                parsed = parse(data, world.root)
            except ListError:
                continue
            if parse is parse_deny_list and parsed.ids is not None and len(parsed.ids):
                assert parsed.contains(parsed.ids.id_at(len(parsed.ids) - 1))

    prop()

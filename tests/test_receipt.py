"""Terminal-signed receipts (issue 6, Receipts; docs/receipts.md): a COSE_Sign1 by the terminal
identity key, ``OWR1:`` + base45, strict to read, evidence only against a key known from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos import cose, receipt
from pos.identity import Identity
from pos.journal import Journal
from pos.presentation import b45encode, encode_text
from pos.receipt import (
    L_AMOUNT,
    L_COUNTER,
    L_CURRENCY,
    L_KEY,
    L_ROW_HASH,
    L_SEQ,
    L_TERMINAL,
    L_TIME,
    L_TYP,
    L_WALLET_ID,
    MAX_RECEIPT_BYTES,
    PREFIX,
    TYP_RECEIPT,
    ReceiptError,
    ReceiptFields,
    make_receipt,
    verify_receipt,
)
from tests.conftest import Demo, run_pos

FIELDS = ReceiptFields(
    terminal_id="SHOP-7 till 2",
    seq=42,
    time=1_800_000_000,
    amount=1250,
    currency="EUR",
    wallet_id=bytes.fromhex("0102030405060708"),
    counter=2**64 - 1,
    row_hash=bytes(range(32)),
)


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return Identity(tmp_path_factory.mktemp("terminal"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return Identity(tmp_path_factory.mktemp("impostor"))


def signed(identity: Identity, body: dict[Any, Any], protected: dict[int, Any] | None = None) -> bytes:
    """A COSE_Sign1 over any payload map, correctly signed: for payloads make_receipt refuses."""
    prot = cbor2.dumps(protected if protected is not None else {1: -8})
    payload = cbor2.dumps(body)
    sig = identity.sign(cose.sig_structure(prot, payload))
    return cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, sig]))


def body_of(identity: Identity, **changes: Any) -> dict[Any, Any]:
    raw = make_receipt(FIELDS, identity).cose
    body = dict(cbor2.loads(cbor2.loads(raw).value[2]))
    for label, value in changes.items():
        key = int(label[1:])
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


# -- round trip and the documented layout -------------------------------------------------------
def test_receipt_round_trips_every_field_as_text_and_bytes(identity: Identity) -> None:
    made = make_receipt(FIELDS, identity)
    for given_form in (made.text, made.text.encode(), made.text + "\r\n", made.cose):
        got = verify_receipt(given_form)
        assert got.fields == FIELDS
        assert got.signer_key == identity.public_raw
        assert got.signer_checked is False
        assert got.cose == made.cose


def test_receipt_without_row_hash_round_trips(identity: Identity) -> None:
    fields = ReceiptFields("T-1", 1, 0, 0, "JPY", bytes(8), 0)
    assert verify_receipt(make_receipt(fields, identity).text).fields == fields


def test_receipt_text_is_owr1_and_base45_distinct_from_tokens(identity: Identity) -> None:
    text = make_receipt(FIELDS, identity).text
    assert text.startswith(PREFIX) and not text.startswith("OWT")
    assert set(text[len(PREFIX) :]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_receipt_layout_is_as_documented(identity: Identity) -> None:
    """docs/receipts.md: tag 18, protected {1: -8}, empty unprotected map, integer labels."""
    raw = make_receipt(FIELDS, identity).cose
    outer = cbor2.loads(raw)
    assert outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    assert protected == bytes.fromhex("a10127") and unprotected == {} and len(signature) == 64
    assert cbor2.loads(payload) == {
        L_TYP: TYP_RECEIPT,
        L_TIME: FIELDS.time,
        L_WALLET_ID: FIELDS.wallet_id,
        L_CURRENCY: "EUR",
        L_COUNTER: FIELDS.counter,
        L_AMOUNT: 1250,
        L_TERMINAL: FIELDS.terminal_id,
        L_SEQ: 42,
        L_ROW_HASH: FIELDS.row_hash,
        L_KEY: identity.public_raw,
    }
    assert (L_TYP, L_TIME, L_WALLET_ID, L_CURRENCY, L_COUNTER, L_AMOUNT, L_TERMINAL) == (
        0,
        1,
        6,
        8,
        11,
        13,
        15,
    )
    assert (L_SEQ, L_ROW_HASH, L_KEY, TYP_RECEIPT) == (20, 21, 22, 100)
    assert payload == cbor2.dumps(cbor2.loads(payload), canonical=True)  # deterministic encoding
    assert identity.public_key.verify(signature, cose.sig_structure(protected, payload)) is None


def test_make_receipt_refuses_fields_it_could_not_read_back(identity: Identity) -> None:
    bad = [
        ReceiptFields("", 1, 0, 0, "EUR", bytes(8), 0),
        ReceiptFields("x" * 65, 1, 0, 0, "EUR", bytes(8), 0),
        ReceiptFields("T", -1, 0, 0, "EUR", bytes(8), 0),
        ReceiptFields("T", 1, 0, 2**64, "EUR", bytes(8), 0),
        ReceiptFields("T", 1, 0, 0, "eur", bytes(8), 0),
        ReceiptFields("T", 1, 0, 0, "EUR", bytes(7), 0),
        ReceiptFields("T", 1, 0, 0, "EUR", bytes(8), 0, bytes(31)),
    ]
    for fields in bad:
        with pytest.raises(ReceiptError):
            make_receipt(fields, identity)


# -- keys: internal consistency versus evidence -------------------------------------------------
def test_expected_key_is_checked_and_reported(identity: Identity) -> None:
    got = verify_receipt(make_receipt(FIELDS, identity).text, identity.public_raw)
    assert got.signer_checked is True


def test_receipt_signed_by_another_key_is_only_self_consistent(identity: Identity, other: Identity) -> None:
    """An impostor's receipt embeds the impostor's key: alone it verifies (unchecked); against
    the real terminal's key it is refused."""
    forged = make_receipt(FIELDS, other).text
    assert verify_receipt(forged).signer_checked is False
    with pytest.raises(ReceiptError, match="not by the expected key"):
        verify_receipt(forged, identity.public_raw)


def test_swapping_the_embedded_key_breaks_the_signature(identity: Identity, other: Identity) -> None:
    raw = make_receipt(FIELDS, other).cose
    outer = list(cbor2.loads(raw).value)
    body = cbor2.loads(outer[2])
    body[L_KEY] = identity.public_raw  # claim the real terminal's key, keep the impostor's signature
    outer[2] = cbor2.dumps(body, canonical=True)
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(cbor2.dumps(cbor2.CBORTag(18, outer)), identity.public_raw)


def test_tampered_amount_is_refused(identity: Identity) -> None:
    raw = make_receipt(FIELDS, identity).cose
    outer = list(cbor2.loads(raw).value)
    body = cbor2.loads(outer[2])
    body[L_AMOUNT] = 125_000
    outer[2] = cbor2.dumps(body, canonical=True)
    with pytest.raises(ReceiptError, match="altered or forged"):
        verify_receipt(receipt.encode_text(cbor2.dumps(cbor2.CBORTag(18, outer))))


def test_every_single_bit_flip_is_refused_or_harmless(identity: Identity) -> None:
    raw = make_receipt(FIELDS, identity).cose
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            mutated = raw[:i] + bytes([raw[i] ^ bit]) + raw[i + 1 :]
            try:
                got = verify_receipt(mutated)
            except ReceiptError:
                continue
            # only bytes outside the signed structure may change without notice (none do today)
            assert got.fields == FIELDS and got.signer_key == identity.public_raw


def test_wrong_algorithm_is_refused(identity: Identity) -> None:
    raw = signed(identity, body_of(identity), protected={1: -7})
    with pytest.raises(ReceiptError, match="EdDSA"):
        verify_receipt(raw)


def test_missing_alg_and_crit_are_refused(identity: Identity) -> None:
    with pytest.raises(ReceiptError, match="alg"):
        verify_receipt(signed(identity, body_of(identity), protected={}))
    with pytest.raises(ReceiptError, match="crit"):
        verify_receipt(signed(identity, body_of(identity), protected={1: -8, 2: [1]}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"L0": 4}, "payment token"),
        ({"L0": 101}, "typ"),
        ({"L0": None}, "typ"),
        ({"L13": None}, "label 13 is missing"),
        ({"L21": None}, None),  # the row hash is optional
        ({"L99": 1}, "unknown payload label 99"),
        ({"L13": -1}, "amount"),
        ({"L13": 2**64}, "amount"),
        ({"L11": "7"}, "counter"),
        ({"L6": bytes(9)}, "wallet id"),
        ({"L8": "euro"}, "currency"),
        ({"L15": ""}, "terminal id"),
        ({"L15": b"T-1"}, "terminal id"),
        ({"L21": bytes(31)}, "row hash"),
        ({"L22": bytes(31)}, "signer key"),
    ],
)
def test_payload_is_read_strictly(identity: Identity, changes: dict[str, Any], message: str | None) -> None:
    raw = signed(identity, body_of(identity, **changes))
    if message is None:
        assert verify_receipt(raw).fields.row_hash is None
        return
    with pytest.raises(ReceiptError, match=message):
        verify_receipt(raw)


def test_text_key_in_payload_is_refused(identity: Identity) -> None:
    body = body_of(identity)
    body["amount"] = 1
    with pytest.raises(ReceiptError, match="unknown payload label"):
        verify_receipt(signed(identity, body))


# -- texts that are not receipts ------------------------------------------------------------------
def test_owt1_token_given_to_verify_is_a_clear_error(demo: Demo) -> None:
    token = demo.wallet().token(max_amount=500, now=demo.now)
    with pytest.raises(ReceiptError, match="payment token, not a receipt"):
        verify_receipt(encode_text(token))
    with pytest.raises(ReceiptError, match="payment token"):
        verify_receipt(token)  # the raw COSE bytes of a typ-4 token


def test_other_versions_and_texts_are_refused(identity: Identity) -> None:
    body = make_receipt(FIELDS, identity).text[len(PREFIX) :]
    for text, message in [
        ("OWR2:" + body, "unsupported receipt version OWR2"),
        ("OWR:" + body, "unsupported receipt version"),
        ("hello", "must start with OWR1:"),
        ("owr1:" + body, "must start with OWR1:"),
        ("OWR1:" + body + "é", "not ASCII"),
        ("OWR1:" + body[:-1] + "a", "not base45"),
        ("", "not a well-formed"),
    ]:
        with pytest.raises(ReceiptError, match=message):
            verify_receipt(text)


def test_truncated_receipts_are_refused(identity: Identity) -> None:
    made = make_receipt(FIELDS, identity)
    for n in range(len(made.cose)):
        with pytest.raises(ReceiptError):
            verify_receipt(made.cose[:n])
    for n in range(len(PREFIX), len(made.text)):
        with pytest.raises(ReceiptError):
            verify_receipt(made.text[:n])


def test_oversize_input_is_refused_before_decoding() -> None:
    with pytest.raises(ReceiptError, match="too long"):
        verify_receipt(PREFIX + "0" * (3 * MAX_RECEIPT_BYTES))
    with pytest.raises(ReceiptError, match="too long"):
        verify_receipt(b"\x84" + bytes(MAX_RECEIPT_BYTES))


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_garbage_bytes_only_ever_raise_receipt_error(data: bytes) -> None:
    for form in (data, PREFIX.encode() + data, PREFIX + b45encode(data)):
        with pytest.raises(ReceiptError):
            verify_receipt(form)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.integers(-2, 30),
        st.one_of(st.integers(-5, 2**65), st.binary(max_size=40), st.text(max_size=10)),
        max_size=12,
    )
)
def test_arbitrary_signed_payloads_are_refused_or_read_exactly(
    identity: Identity, body: dict[int, Any]
) -> None:
    try:
        got = verify_receipt(signed(identity, body))
    except ReceiptError:
        return
    assert body[L_TYP] == TYP_RECEIPT and got.fields.amount == body[L_AMOUNT]


# -- keys from elsewhere ----------------------------------------------------------------------------
def test_public_key_from_pem_or_hex(identity: Identity) -> None:
    pem = identity.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert receipt.public_key_raw(pem) == identity.public_raw
    assert receipt.public_key_raw(pem.decode()) == identity.public_raw
    assert receipt.public_key_raw(identity.public_raw.hex() + "\n") == identity.public_raw
    p256 = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for bad, message in [
        (p256, "P-256"),
        ("abcd", "32 bytes"),
        ("zz", "hexadecimal"),
        (b"-----BEGIN x", "PEM"),
    ]:
        with pytest.raises(ReceiptError, match=message):
            receipt.public_key_raw(bad)


def test_terminal_key_reads_the_identity_and_never_creates_one(tmp_path: Path) -> None:
    with pytest.raises(ReceiptError, match="no terminal identity"):
        receipt.terminal_key(tmp_path)
    assert list(tmp_path.iterdir()) == []
    ident = Identity(tmp_path)
    assert receipt.terminal_key(tmp_path) == ident.public_raw


# -- from the journal ---------------------------------------------------------------------------------
def test_receipt_of_a_journal_payment_carries_its_row(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    token = encode_text(demo.wallet().token(max_amount=5000, now=demo.now))
    code, doc, _err = run_pos(demo.accept_args(token, 1250), capsys)
    assert code == 0 and doc is not None
    journal = Journal(demo.data_dir)
    try:
        made = receipt.issue(journal.db, journal.identity)
        row = journal.db.execute(
            "SELECT hash, terminal_id FROM payments WHERE seq = ?", (doc["seq"],)
        ).fetchone()
        got = verify_receipt(made.text, receipt.terminal_key(demo.data_dir))
        assert got.fields.seq == doc["seq"] and got.fields.amount == 1250 and got.fields.currency == "EUR"
        assert got.fields.wallet_id.hex() == doc["wallet_id"] and got.fields.counter == doc["counter"]
        assert got.fields.row_hash == row[0] and got.fields.terminal_id == row[1]
        assert got.fields.time == demo.now and got.signer_checked
        with pytest.raises(LookupError):
            receipt.issue(journal.db, journal.identity, doc["seq"] + 1)
        reversal = journal.reverse(doc["seq"], demo.now + 5)
        assert receipt.reversal_of(journal.db, got.fields) == reversal
        with pytest.raises(LookupError):
            receipt.issue(journal.db, journal.identity, reversal)  # a reversal row has no receipt
    finally:
        journal.close()


# -- the documented contract ------------------------------------------------------------------------
DOC = Path(__file__).resolve().parent.parent / "docs" / "receipts.md"
RFC8032_KEY1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


def _doc_block(after: str, fence: str = "```") -> str:
    doc = DOC.read_text(encoding="utf-8")
    start = doc.index(after) + len(after)
    return doc[start : doc.index(fence, start)]


def test_documented_example_is_reproduced() -> None:
    """docs/receipts.md's test vector: RFC 8032 key 1 signs the documented fields."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_KEY1))

    class Signer:
        public_raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

        def sign(self, message: bytes) -> bytes:
            return key.sign(message)

    fields = ReceiptFields(
        "SHOP-7", 42, 1_800_000_000, 1250, "EUR", bytes.fromhex("0102030405060708"), 17, bytes(32)
    )
    made = make_receipt(fields, Signer())
    block = _doc_block("COSE (hex):\n")
    hex_part, text_part = block.split("text:\n")
    assert "".join(hex_part.split()) == made.cose.hex()
    assert "".join(text_part.splitlines()) == made.text


def test_documented_checker_verifies_without_our_code(identity: Identity, other: Identity) -> None:
    """The snippet at the end of docs/receipts.md, run as written, accepts our receipts."""
    namespace: dict[str, Any] = {}
    exec(_doc_block("```python\n"), namespace)  # our own documentation
    text = make_receipt(FIELDS, identity).text
    assert namespace["check"](text, identity.public_raw)[L_AMOUNT] == 1250
    with pytest.raises(AssertionError):
        namespace["check"](make_receipt(FIELDS, other).text, identity.public_raw)

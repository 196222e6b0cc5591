"""Terminal-signed receipts: a COSE_Sign1 by the terminal identity key that a customer keeps.

    receipt = issue(journal, seq)                 # sign the journal row's facts
    receipt.text                                  # "OWR1:" + base45, for the printed QR code
    verify_receipt(text, expected_key=raw32)      # -> Receipt, or ReceiptError

The format is written down in docs/receipts.md so anyone can check a receipt without this code.
A receipt carries its signer's public key: that alone proves only that nobody altered it after
*some* key signed it (anyone can make a key). It becomes evidence when the key is one known from
elsewhere, the terminal's own identity or the key the collector enrolled, so ``verify_receipt``
says which it did (``signer_checked``).

The text prefix ``OWR1:`` is not ``OWT1:``: the terminal's camera filter and scanners take only
``OWT<n>:`` texts, so a receipt shown to a terminal is never mistaken for a payment token, and
``verify_receipt`` refuses a token with its own message. The payload's typ (label 0) is 100,
outside SPEC 1's document types 1-4, so the two cannot be confused as COSE bytes either.
"""

from __future__ import annotations

import hmac
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos import cose, sigs
from pos.errors import CborError, PosError
from pos.presentation import b45decode, b45encode
from pos.schema import counter_key, counter_value

PREFIX = "OWR1:"
TYP_RECEIPT = 100
MAX_RECEIPT_BYTES = 512  # a receipt is about 220 bytes; the cap is checked before any decoding
MAX_TEXT_CHARS = len(PREFIX) + (MAX_RECEIPT_BYTES // 2) * 3
MAX_TERMINAL_ID = 64
KEY_LEN, HASH_LEN, WALLET_ID_LEN = 32, 32, 8
UINT_MAX = 2**64 - 1

# Payload labels: SPEC 1's numbers where the meaning is the same (time, wallet id, currency,
# counter, amount, terminal id), 20 and up for what only a receipt has.
L_TYP, L_TIME, L_WALLET_ID, L_CURRENCY, L_COUNTER, L_AMOUNT, L_TERMINAL = 0, 1, 6, 8, 11, 13, 15
L_SEQ, L_ROW_HASH, L_KEY = 20, 21, 22
_REQUIRED = frozenset({L_TYP, L_TIME, L_WALLET_ID, L_CURRENCY, L_COUNTER, L_AMOUNT, L_TERMINAL, L_SEQ, L_KEY})
_LABELS = _REQUIRED | {L_ROW_HASH}
_PROTECTED = cbor2.dumps({cose.HDR_ALG: sigs.ALG_EDDSA})
_CURRENCY = re.compile(r"[A-Z]{3}")
_VERSION = re.compile(rb"OW([TR])([0-9]*):")
_LINE_ENDS = b"\r\n"
IDENTITY_KEY_FILE = "identity.key"  # pos.identity.KEY_FILE, read here without creating it


class ReceiptError(PosError, ValueError):
    """Bytes or text that are not a well-formed receipt signed by the right key."""


class Signer(Protocol):
    """The terminal identity (``pos.identity.Identity``)."""

    public_raw: bytes

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ReceiptFields:
    terminal_id: str
    seq: int
    time: int
    amount: int
    currency: str
    wallet_id: bytes
    counter: int
    row_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    fields: ReceiptFields
    signer_key: bytes  # the raw Ed25519 public key that signed it
    signer_checked: bool  # True only when that key was compared with one known from elsewhere
    cose: bytes

    @property
    def text(self) -> str:
        return encode_text(self.cose)

    @property
    def signer_fingerprint(self) -> str:
        return key_fingerprint(self.signer_key)


def key_fingerprint(raw: bytes) -> str:
    """The SHA-256 of the key's SubjectPublicKeyInfo, hex (as ``pos.sigs.key_fingerprint``)."""
    return sigs.key_fingerprint(ed25519.Ed25519PublicKey.from_public_bytes(raw))


# -- making -----------------------------------------------------------------------------------
def _check_fields(f: ReceiptFields) -> None:
    for name in ("seq", "time", "amount", "counter"):
        v = getattr(f, name)
        if type(v) is not int or not 0 <= v <= UINT_MAX:
            raise ReceiptError(f"{name} must be an unsigned 64-bit integer")
    if type(f.terminal_id) is not str or not 0 < len(f.terminal_id.encode()) <= MAX_TERMINAL_ID:
        raise ReceiptError(f"terminal id must be text of 1 to {MAX_TERMINAL_ID} bytes")
    if type(f.currency) is not str or not _CURRENCY.fullmatch(f.currency):
        raise ReceiptError("currency must be an ISO 4217 alpha code")
    if type(f.wallet_id) is not bytes or len(f.wallet_id) != WALLET_ID_LEN:
        raise ReceiptError(f"wallet id must be {WALLET_ID_LEN} bytes")
    if f.row_hash is not None and (type(f.row_hash) is not bytes or len(f.row_hash) != HASH_LEN):
        raise ReceiptError(f"row hash must be {HASH_LEN} bytes")


def make_receipt(fields: ReceiptFields, signer: Signer) -> Receipt:
    """Sign ``fields`` with the terminal identity: a tagged COSE_Sign1, EdDSA, no unprotected data."""
    _check_fields(fields)
    body: dict[int, Any] = {
        L_TYP: TYP_RECEIPT,
        L_TIME: fields.time,
        L_WALLET_ID: fields.wallet_id,
        L_CURRENCY: fields.currency,
        L_COUNTER: fields.counter,
        L_AMOUNT: fields.amount,
        L_TERMINAL: fields.terminal_id,
        L_SEQ: fields.seq,
        L_KEY: signer.public_raw,
    }
    if fields.row_hash is not None:
        body[L_ROW_HASH] = fields.row_hash
    payload = cbor2.dumps(body, canonical=True)
    signature = signer.sign(cose.sig_structure(_PROTECTED, payload))
    raw = cbor2.dumps(cbor2.CBORTag(cose.TAG_SIGN1, [_PROTECTED, {}, payload, signature]))
    if len(raw) > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"receipt of {len(raw)} bytes is over {MAX_RECEIPT_BYTES}")
    return Receipt(fields, signer.public_raw, True, raw)


def encode_text(raw: bytes) -> str:
    return PREFIX + b45encode(raw)


# -- reading ----------------------------------------------------------------------------------
def _to_bytes(data: str | bytes) -> bytes:
    """COSE bytes from a receipt's text or bytes; clear errors for tokens and other texts."""
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError:
            raise ReceiptError("receipt text is not ASCII") from None
    data = bytes(data)
    head = _VERSION.match(data)
    if head is None:
        if data[:1].isalnum():  # text, but not ours; COSE_Sign1 bytes start with 0x84 or 0xD2
            raise ReceiptError(f"not a receipt: the text must start with {PREFIX}")
        if len(data) > MAX_RECEIPT_BYTES:
            raise ReceiptError(f"{len(data)} bytes is too long for a receipt")
        return data
    if head.group(1) == b"T":
        raise ReceiptError("this is an OWT payment token, not a receipt (receipts start with OWR1:)")
    if head.group(2) != b"1":
        raise ReceiptError(f"unsupported receipt version OWR{head.group(2)[:8].decode()}")
    text = data.rstrip(_LINE_ENDS)
    if len(text) > MAX_TEXT_CHARS:
        raise ReceiptError(f"receipt text of {len(text)} characters is too long")
    try:
        return b45decode(text[len(PREFIX) :])
    except ValueError as exc:
        raise ReceiptError(f"receipt text is not base45: {exc}") from None


def _uint(body: dict[Any, Any], label: int, name: str) -> int:
    v = body[label]
    if type(v) is not int or not 0 <= v <= UINT_MAX:
        raise ReceiptError(f"{name} (label {label}) must be an unsigned integer")
    return v


def _bstr(body: dict[Any, Any], label: int, name: str, length: int) -> bytes:
    v = body[label]
    if type(v) is not bytes or len(v) != length:
        raise ReceiptError(f"{name} (label {label}) must be {length} bytes")
    return v


def _fields(body: Any) -> tuple[ReceiptFields, bytes]:
    if type(body) is not dict:
        raise ReceiptError("receipt payload must be a map")
    if body.get(L_TYP) != TYP_RECEIPT or type(body.get(L_TYP)) is not int:
        typ = body.get(L_TYP)
        if type(typ) is int and 1 <= typ <= 4:
            raise ReceiptError(f"an OWT1 document of typ {typ} (4 is a payment token), not a receipt")
        raise ReceiptError(f"payload typ (label 0) must be {TYP_RECEIPT}")
    unknown = [k for k in body if k not in _LABELS]
    if unknown:
        raise ReceiptError(f"unknown payload label {sorted(unknown, key=repr)[0]!r}")
    missing = sorted(_REQUIRED - body.keys())
    if missing:
        raise ReceiptError(f"payload label {missing[0]} is missing")
    tid, currency = body[L_TERMINAL], body[L_CURRENCY]
    if type(tid) is not str or not 0 < len(tid.encode()) <= MAX_TERMINAL_ID:
        raise ReceiptError(f"terminal id (label {L_TERMINAL}) must be text of 1 to {MAX_TERMINAL_ID} bytes")
    if type(currency) is not str or not _CURRENCY.fullmatch(currency):
        raise ReceiptError(f"currency (label {L_CURRENCY}) must be an ISO 4217 alpha code")
    row_hash = _bstr(body, L_ROW_HASH, "row hash", HASH_LEN) if L_ROW_HASH in body else None
    fields = ReceiptFields(
        terminal_id=tid,
        seq=_uint(body, L_SEQ, "seq"),
        time=_uint(body, L_TIME, "time"),
        amount=_uint(body, L_AMOUNT, "amount"),
        currency=currency,
        wallet_id=_bstr(body, L_WALLET_ID, "wallet id", WALLET_ID_LEN),
        counter=_uint(body, L_COUNTER, "counter"),
        row_hash=row_hash,
    )
    return fields, _bstr(body, L_KEY, "signer key", KEY_LEN)


def verify_receipt(data: str | bytes, expected_key: bytes | None = None) -> Receipt:
    """A receipt whose signature verifies, or ``ReceiptError`` saying what is wrong.

    ``data`` is the ``OWR1:`` text (str or bytes) or the COSE bytes. With ``expected_key`` (32 raw
    Ed25519 bytes) the receipt must be signed by exactly that key; without it the embedded key is
    used and ``signer_checked`` is False.
    """
    raw = _to_bytes(data)
    try:
        envelope, body = cose.parse_sign1(raw)
    except CborError as exc:
        raise ReceiptError(f"not a well-formed COSE_Sign1: {exc}") from None
    if envelope.alg != sigs.ALG_EDDSA:
        raise ReceiptError(f"receipts are signed with EdDSA (alg -8), not alg {envelope.alg}")
    fields, key_raw = _fields(body)
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(key_raw)
    except ValueError:
        raise ReceiptError("the signer key is not an Ed25519 public key") from None
    if not sigs.verify(key, envelope.signature, envelope.to_be_signed()):
        raise ReceiptError("the signature does not verify: the receipt was altered or forged")
    if expected_key is not None and not hmac.compare_digest(key_raw, expected_key):
        raise ReceiptError(
            f"signed by key {key_fingerprint(key_raw)[:16]}, not by the expected key "
            f"{_fingerprint_or_hex(expected_key)[:16]}: not this terminal's receipt"
        )
    return Receipt(fields, key_raw, expected_key is not None, raw)


def _fingerprint_or_hex(raw: bytes) -> str:
    try:
        return key_fingerprint(raw)
    except ValueError:
        return raw.hex()


# -- keys from elsewhere ----------------------------------------------------------------------
def public_key_raw(text: str | bytes) -> bytes:
    """A terminal's public key given by an operator: PEM (SubjectPublicKeyInfo) or 64 hex digits."""
    data = text.encode() if isinstance(text, str) else text
    if b"-----BEGIN" in data:
        try:
            key = sigs.load_pem_public_key(data)
        except CborError as exc:
            raise ReceiptError(str(exc)) from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ReceiptError("terminal identity keys are Ed25519; this PEM holds a P-256 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise ReceiptError("a key is a PEM public key or 64 hexadecimal digits") from None
    if len(raw) != KEY_LEN:
        raise ReceiptError(f"a raw Ed25519 key is {KEY_LEN} bytes, not {len(raw)}")
    return raw


def terminal_key(data_dir: Path) -> bytes:
    """The public half of the identity key in a terminal's data dir (never creates one)."""
    path = Path(data_dir) / IDENTITY_KEY_FILE
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ReceiptError(f"no terminal identity at {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ReceiptError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ReceiptError(f"{path} is not an Ed25519 key")
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# -- from the journal -------------------------------------------------------------------------
def payment_fields(db: sqlite3.Connection, seq: int | None = None) -> ReceiptFields:
    """The receipt facts of journal payment ``seq`` (default: the newest payment).

    ``LookupError`` when there is no such payment (a reversal row has no receipt).
    """
    cols = "seq, time, terminal_id, amount, currency, wallet_id, counter, hash"
    if seq is None:
        row = db.execute(
            f"SELECT {cols} FROM payments WHERE kind = 'payment' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    else:
        row = db.execute(f"SELECT {cols} FROM payments WHERE kind = 'payment' AND seq = ?", (seq,)).fetchone()
    if row is None:
        raise LookupError("no payment in the journal" if seq is None else f"no payment with seq {seq}")
    s, t, tid, amount, currency, wallet_id, counter, row_hash = row
    return ReceiptFields(
        tid, s, t, amount, currency, bytes(wallet_id), counter_value(counter), bytes(row_hash)
    )


def reversal_of(db: sqlite3.Connection, fields: ReceiptFields) -> int | None:
    """The seq of the reversal (void, failed vend) of this payment, if there is one."""
    row = db.execute(
        "SELECT seq FROM payments WHERE kind = 'reversal' AND wallet_id = ? AND counter = ?",
        (fields.wallet_id, counter_key(fields.counter)),
    ).fetchone()
    return int(row[0]) if row else None


def issue(db: sqlite3.Connection, signer: Signer, seq: int | None = None) -> Receipt:
    """The signed receipt of a journal payment (on the thread that owns ``db``)."""
    return make_receipt(payment_fields(db, seq), signer)

"""The upload wire format shared by the terminal and the collector (docs/sync.md, "Protocol").

A batch is a CBOR array ``[tid, payload, signature]``: ``payload`` is the CBOR map below as a
byte string, ``signature`` is Ed25519 by the terminal identity key over
``BATCH_DOMAIN || payload``. ``tid`` outside the payload names the key to check before any of
the payload is decoded; it must equal the payload's own ``tid``.

    {"v": 1, "tid": terminal id, "nonce": 16 random bytes, "sent": epoch s,
     "first": seq of rows[0], "prev": hash of row first-1 (32 zero bytes at seq 1),
     "last": seq of rows[-1], "head": hash of rows[-1],
     "rows": [[seq, time, kind, wallet_id, counter, amount, currency, mode, terminal_id,
               token_digest, token, hash], ...],
     "locks": [[id, wallet_id, since, until, failures], ...],
     "lists": {"trust": seq, "deny": seq}}    # optional: the lists installed when it was built

``lists`` is the terminal's signed word on the lists it held (``collector.marks``); optional.

Rows are consecutive journal rows; each row's ``prev_hash`` is implied (``prev`` for the first,
the previous row's ``hash`` after), and ``hash`` is ``pos.chain.Row(...).hash()``: the collector
recomputes it, so an edited row, a gap or a fork shows. ``nonce`` is fresh for every attempt:
a captured batch sent again is refused (``replayed_batch``), while a retry of the same rows
under a new nonce is answered "duplicate" row by row.

The answer is JSON: ``{"tid", "next_seq", "results": [[seq, status, verdict], ...], "chain",
"locks"}`` with ``status`` one of ``stored``, ``duplicate`` (both acknowledge the row) or
``refused`` (the row stays pending; ``chain`` says why).

The envelope is decoded with the strict decoder of ``pos.cbor``; the payload, once its signature
has verified, with cbor2, and every field's type is checked: garbage is a ``ProtocolError``.
"""

from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass
from typing import Any

import cbor2

from pos import cbor, chain
from pos.errors import CborError, PosError
from pos.frozen import quick_init
from pos.identity import TERMINAL_ID_RULE, valid_terminal_id

VERSION = 1
BATCH_DOMAIN = b"OWT1-SYNC-BATCH-v1\x00"
ENROLL_DOMAIN = b"OWT1-SYNC-ENROLL-v1\x00"
LIST_REQUEST_DOMAIN = b"OWT1-SYNC-LISTS-v1\x00"
HDR_TERMINAL, HDR_TIME, HDR_SIGNATURE = "X-OWT1-Terminal", "X-OWT1-Time", "X-OWT1-Signature"
NONCE_LEN = 16
HASH_LEN = 32
SIG_LEN = 64
KEY_LEN = 32
MAX_ROWS = 5000
MAX_LOCKS = 1000
MAX_TOKEN = 2048
MAX_TEXT = 128

CONTENT_TYPE = "application/cbor"
DENY_DELTA_TYPE = "application/vnd.owt1.deny-delta+cbor"
COSE_TYPE = "application/cose"

# Row status in the collector's answer.
STORED, DUPLICATE, REFUSED = "stored", "duplicate", "refused"
ACKED_STATUSES = frozenset({STORED, DUPLICATE})


class ProtocolError(PosError):
    """A batch or answer that is not well formed; ``code`` is the machine-readable reason."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@quick_init
@dataclass(frozen=True, slots=True)
class BatchRow(chain.RowFields):
    """A journal row on the wire: the chain fields, the raw token and the row's hash."""

    token: bytes | None
    hash: bytes

    def chain_row(self, prev_hash: bytes) -> chain.Row:
        return chain.Row(
            self.seq, self.time, self.kind, self.wallet_id, self.counter, self.amount,
            self.currency, self.mode, self.terminal_id, self.token_digest, prev_hash,
        )  # fmt: skip

    def as_wire(self) -> list[Any]:
        return [
            self.seq, self.time, self.kind, self.wallet_id, self.counter, self.amount,
            self.currency, self.mode, self.terminal_id, self.token_digest, self.token, self.hash,
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class LockReport:
    id: int
    wallet_id: bytes
    since: int
    until: int
    failures: int


@dataclass(frozen=True, slots=True)
class Batch:
    terminal_id: str
    nonce: bytes
    sent: int
    prev: bytes
    rows: list[BatchRow]
    locks: list[LockReport]
    lists: dict[str, int] | None = None

    @property
    def first(self) -> int | None:
        return self.rows[0].seq if self.rows else None

    @property
    def last(self) -> int | None:
        return self.rows[-1].seq if self.rows else None


def new_nonce() -> bytes:
    return os.urandom(NONCE_LEN)


def encode_payload(batch: Batch) -> bytes:
    doc: dict[str, Any] = {
        "v": VERSION,
        "tid": batch.terminal_id,
        "nonce": batch.nonce,
        "sent": batch.sent,
        "rows": [r.as_wire() for r in batch.rows],
        "locks": [[lk.id, lk.wallet_id, lk.since, lk.until, lk.failures] for lk in batch.locks],
    }
    if batch.lists is not None:  # stated only by terminals that know it: old batches stay as they were
        doc["lists"] = dict(batch.lists)
    if batch.rows:
        doc.update(
            first=batch.rows[0].seq, prev=batch.prev, last=batch.rows[-1].seq, head=batch.rows[-1].hash
        )
    return bytes(cbor2.dumps(doc))


def batch_message(payload: bytes) -> bytes:
    return BATCH_DOMAIN + payload


def encode_envelope(terminal_id: str, payload: bytes, signature: bytes) -> bytes:
    return bytes(cbor2.dumps([terminal_id, payload, signature]))


def decode_envelope(body: bytes) -> tuple[str, bytes, bytes]:
    """Split ``[tid, payload, signature]`` without decoding the payload.

    The payload is decoded only after the signature of the enrolled key over it has verified,
    so nothing but this small strict decode ever runs on unauthenticated bytes.
    """
    try:
        obj = cbor.loads(body, max_depth=2)
    except CborError as exc:
        raise ProtocolError("bad_body", f"not CBOR: {exc}") from None
    if type(obj) is not list or len(obj) != 3:
        raise ProtocolError("bad_body", "a batch is a CBOR array [tid, payload bstr, signature bstr]")
    tid, payload, sig = obj
    if type(tid) is not str or not 0 < len(tid) <= MAX_TEXT:
        raise ProtocolError("bad_body", "tid must be a text string of 1-128 characters")
    if not valid_terminal_id(tid):  # an id enrolled before the rule cannot upload under it
        raise ProtocolError("bad_terminal_id", TERMINAL_ID_RULE)
    if type(payload) is not bytes or type(sig) is not bytes:
        raise ProtocolError("bad_body", "payload and signature must be byte strings")
    if len(sig) != SIG_LEN:
        raise ProtocolError("bad_signature", "signature must be 64 bytes")
    return tid, payload, sig


def decode_payload(payload: bytes) -> dict[str, Any]:
    """The signed payload map (cbor2's C decoder: the signer is an enrolled terminal).

    Trailing bytes, non-text keys and anything that is not a map are refused; every field is
    then checked by ``parse_payload``.
    """
    fp = io.BytesIO(payload)
    try:
        doc = cbor2.CBORDecoder(fp).decode()
    except Exception as exc:  # noqa: BLE001 - any decoder failure (depth, EOF, tags) is a bad body
        raise ProtocolError("bad_body", f"payload is not CBOR: {type(exc).__name__}") from None
    if fp.tell() != len(payload):
        raise ProtocolError("bad_body", "trailing bytes after the payload")
    if type(doc) is not dict or any(type(k) is not str for k in doc):
        raise ProtocolError("bad_body", "payload must be a map with text keys")
    return doc


def _uint(v: Any, what: str) -> int:
    if type(v) is not int or v < 0 or v >= 1 << 63:
        raise ProtocolError("bad_body", f"{what} must be an unsigned 63-bit integer")
    return v


def _uint64(v: Any, what: str) -> int:
    """A wallet counter: SPEC allows the whole unsigned 64-bit range."""
    if type(v) is not int or v < 0 or v >= 1 << 64:
        raise ProtocolError("bad_body", f"{what} must be an unsigned 64-bit integer")
    return v


def _bytes(v: Any, what: str, length: int | None = None, *, max_len: int | None = None) -> bytes:
    if type(v) is not bytes or (length is not None and len(v) != length):
        raise ProtocolError("bad_body", f"{what} must be {length or ''} bytes".replace("  ", " "))
    if max_len is not None and len(v) > max_len:
        raise ProtocolError("bad_body", f"{what} longer than {max_len} bytes")
    return v


def _text(v: Any, what: str) -> str:
    if type(v) is not str or len(v) > MAX_TEXT:
        raise ProtocolError("bad_body", f"{what} must be a text string of at most {MAX_TEXT} characters")
    return v


def parse_payload(doc: dict[str, Any]) -> Batch:
    """Check every field of a decoded payload map (its signature has already verified)."""
    if doc.get("v") != VERSION or type(doc.get("v")) is not int:
        raise ProtocolError("bad_version", f"batch version must be {VERSION}")
    nonce = _bytes(doc.get("nonce"), "nonce", NONCE_LEN)
    sent = _uint(doc.get("sent"), "sent")
    raw_rows, raw_locks = doc.get("rows"), doc.get("locks", [])
    if type(raw_rows) is not list or type(raw_locks) is not list:
        raise ProtocolError("bad_body", "rows and locks must be arrays")
    if len(raw_rows) > MAX_ROWS or len(raw_locks) > MAX_LOCKS:
        raise ProtocolError("too_many_rows", f"at most {MAX_ROWS} rows and {MAX_LOCKS} locks per batch")
    rows = [_row(r, n) for n, r in enumerate(raw_rows)]
    prev = chain.GENESIS
    if rows:
        prev = _bytes(doc.get("prev"), "prev", HASH_LEN)
        first, last = _uint(doc.get("first"), "first"), _uint(doc.get("last"), "last")
        head = _bytes(doc.get("head"), "head", HASH_LEN)
        if first != rows[0].seq or last != rows[-1].seq or head != rows[-1].hash:
            raise ProtocolError("bad_body", "first, last and head must name the first and last rows")
        for a, b in itertools.pairwise(rows):
            if b.seq != a.seq + 1:
                raise ProtocolError("bad_body", f"rows must be consecutive (seq {a.seq} then {b.seq})")
        if rows[0].seq < 1:
            raise ProtocolError("bad_body", "seq starts at 1")
    locks = [_lock(lk) for lk in raw_locks]
    return Batch(_text(doc.get("tid"), "tid"), nonce, sent, prev, rows, locks, _lists(doc.get("lists")))


def _lists(v: Any) -> dict[str, int] | None:
    if v is not None and (type(v) is not dict or any(k not in ("trust", "deny") for k in v)):
        raise ProtocolError("bad_body", "lists is a map {trust: seq, deny: seq}")
    return None if v is None else {k: _uint(s, f"lists.{k}") for k, s in v.items()}


_U63 = 1 << 63
_U64 = 1 << 64


def _row(r: Any, n: int) -> BatchRow:
    """One row: a fast all-in-one type check, and the field-by-field one to name a failure."""
    if type(r) is list and len(r) == 12:
        seq, time, kind, wid, counter, amount, currency, mode, tid, digest, token, row_hash = r
        if (
            type(seq) is int and 0 <= seq < _U63
            and type(time) is int and 0 <= time < _U63
            and type(amount) is int and 0 <= amount < _U63
            and type(counter) is int and 0 <= counter < _U64
            and type(kind) is str and len(kind) <= MAX_TEXT
            and type(currency) is str and len(currency) <= MAX_TEXT
            and type(mode) is str and len(mode) <= MAX_TEXT
            and type(tid) is str and len(tid) <= MAX_TEXT
            and type(wid) is bytes and len(wid) <= 64
            and type(digest) is bytes and len(digest) == HASH_LEN
            and type(row_hash) is bytes and len(row_hash) == HASH_LEN
            and (token is None or (type(token) is bytes and len(token) <= MAX_TOKEN))
        ):  # fmt: skip
            return BatchRow(
                seq, time, kind, wid, counter, amount, currency, mode, tid, digest, token, row_hash
            )
    return _row_checked(r, n)


def _row_checked(r: Any, n: int) -> BatchRow:
    if type(r) is not list or len(r) != 12:
        raise ProtocolError("bad_body", f"row #{n} must be an array of 12 fields")
    seq, time, kind, wid, counter, amount, currency, mode, tid, digest, token, row_hash = r
    if token is None or token == cbor.Simple(22):  # null: no token (a reversal, a pruned row)
        token = None
    else:
        _bytes(token, f"row #{n} token", max_len=MAX_TOKEN)
    return BatchRow(
        seq=_uint(seq, f"row #{n} seq"),
        time=_uint(time, f"row #{n} time"),
        kind=_text(kind, f"row #{n} kind"),
        wallet_id=_bytes(wid, f"row #{n} wallet_id", max_len=64),
        counter=_uint64(counter, f"row #{n} counter"),
        amount=_uint(amount, f"row #{n} amount"),
        currency=_text(currency, f"row #{n} currency"),
        mode=_text(mode, f"row #{n} mode"),
        terminal_id=_text(tid, f"row #{n} terminal_id"),
        token_digest=_bytes(digest, f"row #{n} token_digest", HASH_LEN),
        token=token,
        hash=_bytes(row_hash, f"row #{n} hash", HASH_LEN),
    )


def _lock(lk: Any) -> LockReport:
    if type(lk) is not list or len(lk) != 5:
        raise ProtocolError("bad_body", "a lock is [id, wallet_id, since, until, failures]")
    return LockReport(
        _uint(lk[0], "lock id"),
        _bytes(lk[1], "lock wallet_id", max_len=64),
        _uint(lk[2], "lock since"),
        _uint(lk[3], "lock until"),
        _uint(lk[4], "lock failures"),
    )


# -- enrollment ------------------------------------------------------------------------------
# Ed25519 public keys of small order (and their non-canonical encodings), as libsodium's
# ``has_small_order`` lists them: with such a key a zero signature verifies any message, so
# OpenSSL's verify alone would let anyone "prove" possession. Compared without the sign bit.
_SMALL_ORDER = tuple(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def weak_ed25519_key(raw: bytes) -> bool:
    """True for a key of small order: never enroll one."""
    if len(raw) != KEY_LEN:
        return True
    masked = raw[:31] + bytes([raw[31] & 0x7F])
    return any(masked == k for k in _SMALL_ORDER)


def enroll_message(terminal_id: str, public_key: bytes, time: int) -> bytes:
    """What the terminal signs to prove it holds the key it enrolls."""
    return ENROLL_DOMAIN + bytes(cbor2.dumps([terminal_id, public_key, time]))


def list_request_message(terminal_id: str, path: str, time: int) -> bytes:
    """What a terminal signs on a GET (a list, its own status): ``HDR_*`` carry it."""
    return LIST_REQUEST_DOMAIN + bytes(cbor2.dumps([terminal_id, path, time]))


# -- the answer ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RowResult:
    seq: int
    status: str
    verdict: str


@dataclass(frozen=True, slots=True)
class Answer:
    next_seq: int
    results: list[RowResult]
    chain_error: dict[str, Any] | None
    locks: int


def parse_answer(doc: Any) -> Answer:
    """The collector's JSON answer, checked before any row is acknowledged on its word."""
    if type(doc) is not dict:
        raise ProtocolError("bad_answer", "answer is not a JSON object")
    results = doc.get("results")
    next_seq = doc.get("next_seq")
    if type(results) is not list or type(next_seq) is not int:
        raise ProtocolError("bad_answer", "answer lacks results or next_seq")
    out = []
    for item in results:
        if (
            type(item) is not list
            or len(item) != 3
            or type(item[0]) is not int
            or item[1] not in (STORED, DUPLICATE, REFUSED)
            or type(item[2]) is not str
        ):
            raise ProtocolError("bad_answer", f"bad row result {item!r:.80}")
        out.append(RowResult(item[0], item[1], item[2]))
    chain_error = doc.get("chain")
    if chain_error is not None and type(chain_error) is not dict:
        raise ProtocolError("bad_answer", "chain must be an object or null")
    locks = doc.get("locks", 0)
    return Answer(next_seq, out, chain_error, locks if type(locks) is int else 0)

"""The collector's request-level API, independent of HTTP: enrollment, ingest, lists, status.

Ingest of one batch, in order (the expensive parts outside the write transaction):

1. Decode the envelope, find the terminal's enrolled key, verify the batch signature, then
   decode and check every field; refuse a batch sent too long ago or ahead (``stale_batch``).
2. Recompute each row's chain hash and token digest; the first row that does not match is
   ``row_edited`` and neither it nor anything after it is taken (``collector.ingest``).
3. Re-verify the tokens of rows the collector does not hold yet (``collector.reverify``).
4. One write transaction: the nonce (a second use is ``replayed_batch``); then
   ``collector.ingest.commit``: the terminal's head
   (rows at or below it must hash the same: ``duplicate``, else ``chain_fork``; the next row
   must continue it: else ``chain_gap`` / ``chain_fork``), the deny list in force at each
   payment's time, (wallet id, counter) once across the fleet (a second one is a double spend:
   an event with both payments as evidence, and the wallet onto the next deny list), the
   wallet's cumulative offline exposure across terminals (``collector.payments``,
   ``collector.exposure``), then the rows, the velocity lock reports, counters and the new head.
5. After commit, a new deny list is signed and published if a wallet was added.

Request-level refusals raise ``Reject`` (a 4xx with a code); nothing is stored for them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from collector.console import enroll_codes
from collector.counters import RejectCounter
from collector.db import Database
from collector.ingest import Replayed, commit, internal_chain
from collector.judge import TERMINAL_FLAGS
from collector.lists import LIST_VERSION, Lists
from collector.payments import DOUBLE_SPEND
from collector.reverify import IGNORED, Reverifier
from collector.revocations import is_revoked
from pos import chain, sigs
from pos.decision import Policy
from pos.identity import TERMINAL_ID_RULE, valid_terminal_id
from pos.tokens import TYP_TRUST_LIST
from pos.wire import protocol as p

log = logging.getLogger("collector")

DAY = 86400
NONCE_PRUNE_EVERY_S = 60
# What a batch needs before its rows are verified, in one statement (each costs ~0.15 ms of CPU
# on client and server): the trust lists' version (``LIST_VERSION``), the uploader's enrolled
# key, its head and whether it was revoked. Always one row, enrolled or not.
_ARRIVAL = (
    f"WITH l (n, m) AS ({LIST_VERSION}) SELECT l.n, l.m, t.public_key, t.last_seq, r.at FROM l"
    " LEFT JOIN terminals t ON t.terminal_id = ?"
    " LEFT JOIN revoked_terminals r ON r.terminal_id = t.terminal_id"
)


class Reject(Exception):
    """A request refused as a whole: HTTP ``status`` with a machine-readable ``code``."""

    def __init__(self, status: int, code: str, detail: str = "") -> None:
        super().__init__(f"{status} {code}: {detail}" if detail else f"{status} {code}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Settings:
    operator_token: str | None = None
    batch_window_s: int = DAY  # a batch's "sent" must be within this of the collector's clock
    limit_margin_s: int = 60  # an upload this soon after a payment counts as online
    policy: Policy = field(default_factory=Policy)


class Collector:
    def __init__(
        self,
        db: Database,
        lists: Lists,
        settings: Settings | None = None,
        *,
        rejects: RejectCounter | None = None,
        clock: Any = time.time,
        verify_threads: int | None = None,
    ) -> None:
        self.db = db
        self.lists = lists
        self.settings = settings or Settings()
        self.clock = clock
        self.reverifier = Reverifier(lists, self.settings.policy, verify_threads)
        self._keys: dict[str, ed25519.Ed25519PublicKey] = {}
        self._keys_lock = threading.Lock()
        self.request_rejects = rejects or RejectCounter()
        self._nonces_pruned_at = -NONCE_PRUNE_EVERY_S  # the first batch prunes
        lists.refresh()

    def close(self) -> None:
        self.reverifier.close()
        self.db.close()

    def reject(self, status: int, code: str, detail: str = "") -> Reject:
        self.request_rejects.add(code)
        return Reject(status, code, detail)

    # -- enrollment -------------------------------------------------------------------------
    def enroll(
        self, authorization: str | None, body: bytes, client: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        code = enroll_codes.code_of(authorization)  # a one-time code from the console, or the token
        if code is None:
            self._check_operator_token(authorization)
        elif not enroll_codes.usable(self.db, code, int(self.clock())):  # before any work on the body
            raise self.reject(401, "bad_enroll_code", "unknown, used, revoked or expired")
        try:
            doc = json.loads(body)
            tid, key_hex, t, sig_hex = doc["tid"], doc["key"], doc["time"], doc["sig"]
            if (
                type(tid) is not str
                or type(t) is not int
                or type(key_hex) is not str
                or type(sig_hex) is not str
            ):
                raise TypeError("wrong field types")
            key_raw, sig = bytes.fromhex(key_hex), bytes.fromhex(sig_hex)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # RecursionError: nested too deep
            raise self.reject(400, "bad_body", f"enrollment is JSON {{tid, key, time, sig}}: {exc}") from None
        if not valid_terminal_id(tid):
            raise self.reject(400, "bad_terminal_id", TERMINAL_ID_RULE)
        if len(key_raw) != p.KEY_LEN or len(sig) != p.SIG_LEN:
            raise self.reject(400, "bad_body", "key is 32 bytes and sig 64, in hex")
        now = int(self.clock())
        if abs(t - now) > self.settings.batch_window_s:
            raise self.reject(400, "stale_enrollment", "the terminal's clock is far from the collector's")
        if p.weak_ed25519_key(key_raw):
            raise self.reject(400, "bad_key", "a key of small order proves nothing")
        try:
            key = ed25519.Ed25519PublicKey.from_public_bytes(key_raw)
        except ValueError:
            raise self.reject(400, "bad_key") from None
        if not sigs.verify(key, sig, p.enroll_message(tid, key_raw, t)):
            raise self.reject(401, "bad_proof", "the enrollment is not signed by the key it enrolls")
        with self.db.write() as tx:
            if code is not None:
                try:
                    enroll_codes.redeem(tx, code, tid, now, client)
                except enroll_codes.CodeRefused:
                    raise self.reject(401, "bad_enroll_code", "unknown, used, revoked or expired") from None
            row = tx.one("SELECT public_key FROM terminals WHERE terminal_id = ?", (tid,))
            if row is not None and is_revoked(tx, tid):
                raise self.reject(403, "terminal_revoked", f"terminal {tid!r} was revoked by an operator")
            if row is not None:
                if bytes(row[0]) == key_raw:
                    return 200, {"status": "already_enrolled", "tid": tid}
                raise self.reject(409, "terminal_id_taken", "another key is enrolled under this id")
            if tx.one("SELECT terminal_id FROM terminals WHERE public_key = ?", (key_raw,)) is not None:
                raise self.reject(409, "key_in_use", "this key is enrolled under another id")
            tx.execute(
                "INSERT INTO terminals (terminal_id, public_key, enrolled_at, last_seq, last_hash)"
                " VALUES (?, ?, ?, 0, ?)",
                (tid, key_raw, now, chain.GENESIS),
            )
        log.warning("enrolled terminal %s (key %s)", tid, key_raw.hex()[:16])
        return 201, {"status": "enrolled", "tid": tid}

    def _check_operator_token(self, authorization: str | None) -> None:
        expected = self.settings.operator_token
        if not expected:
            raise self.reject(
                403, "enrollment_disabled", "the collector was started without --operator-token"
            )
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(
            hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
        ):
            raise self.reject(401, "bad_operator_token")

    def enrolled_key(self, tid: str) -> ed25519.Ed25519PublicKey | None:
        """The key enrolled under ``tid`` (cached), or None."""
        return self._key_of(tid)

    def key_is_cached(self, tid: str) -> bool:
        """Whether ``enrolled_key(tid)`` answers without a database read."""
        return tid in self._keys

    def _key_from(self, tid: str, raw: bytes) -> ed25519.Ed25519PublicKey:
        """The key object for ``raw``, the key enrolled under ``tid`` just read (cached)."""
        key = self._keys.get(tid)
        if key is None or key.public_bytes_raw() != raw:
            key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
            with self._keys_lock:
                self._keys[tid] = key
        return key

    def _key_of(self, tid: str) -> ed25519.Ed25519PublicKey | None:
        key = self._keys.get(tid)
        if key is None:
            with self.db.read() as tx:
                row = tx.one("SELECT public_key FROM terminals WHERE terminal_id = ?", (tid,))
            if row is None:
                return None
            key = self._key_from(tid, bytes(row[0]))
        return key

    # -- ingest -----------------------------------------------------------------------------
    def ingest(self, body: bytes) -> dict[str, Any]:
        now = int(self.clock())
        try:
            tid, payload, sig = p.decode_envelope(body)
        except p.ProtocolError as exc:
            raise self.reject(401 if exc.code == "bad_signature" else 400, exc.code, exc.detail) from None
        with self.db.read() as tx:
            n_lists, max_list, public_key, known, revoked_at = tx.one(_ARRIVAL, (TYP_TRUST_LIST, tid))
        if public_key is None:
            raise self.reject(403, "unknown_terminal", f"terminal {tid!r} is not enrolled")
        if not sigs.verify(self._key_from(tid, bytes(public_key)), sig, p.batch_message(payload)):
            raise self.reject(401, "bad_signature", "the batch is not signed by the enrolled key")
        try:
            batch = p.parse_payload(p.decode_payload(payload))
        except p.ProtocolError as exc:
            raise self.reject(400, exc.code, exc.detail) from None
        if batch.terminal_id != tid:
            raise self.reject(400, "bad_body", "the payload names another terminal than the envelope")
        if abs(batch.sent - now) > self.settings.batch_window_s:
            raise self.reject(409, "stale_batch", "sent time is outside the collector's window")
        good, chain_error = internal_chain(batch)
        if revoked_at is not None:
            raise self.reject(403, "terminal_revoked", f"terminal {tid!r} was revoked by an operator")
        self.lists.refresh_if_changed((n_lists, max_list))
        fresh = [r for r in good if r.seq > known]
        verdicts = dict(zip([r.seq for r in fresh], self.reverifier.verdicts(fresh, tid), strict=True))
        self.db.ensure_partitions(now)
        try:
            with self.db.write(lazy=True) as tx:
                outcome = commit(
                    tx, batch, good, chain_error, verdicts, now, self.settings.limit_margin_s,
                    self.settings.policy.skew_s, self._nonce_prune(now),
                )  # fmt: skip
        except Replayed:
            raise self.reject(409, "replayed_batch", "this batch (nonce) was received before") from None
        if outcome.denied:
            try:
                self.lists.publish_deny()
            except Exception:
                log.exception("could not publish the deny list")
        return outcome.answer

    def _nonce_prune(self, now: int) -> int | None:
        """A batch is taken once: its nonce is kept for twice the window a batch may be late
        (older ones are refused ``stale_batch``), pruned at most once a minute per node."""
        if now < self._nonces_pruned_at + NONCE_PRUNE_EVERY_S and now >= self._nonces_pruned_at:
            return None
        self._nonces_pruned_at = now
        return now - 2 * self.settings.batch_window_s

    # -- status -----------------------------------------------------------------------------
    def terminal_info(self, tid: str) -> dict[str, Any] | None:
        with self.db.read() as tx:
            row = tx.one(
                "SELECT terminal_id, enrolled_at, last_seq, last_seen, flags FROM terminals"
                " WHERE terminal_id = ?",
                (tid,),
            )
            if row is None:
                return None
            events = tx.all(
                "SELECT id, kind, detail, created_at FROM events WHERE terminal_id = ?"
                " ORDER BY id DESC LIMIT 50",
                (tid,),
            )
            kinds = tx.all("SELECT kind, count(*) FROM events WHERE terminal_id = ? GROUP BY kind", (tid,))
        return {
            "terminal_id": row[0],
            "enrolled_at": row[1],
            "last_seq": row[2],
            "last_seen": row[3],
            "flags": row[4],
            "flags_by_kind": {k: int(n) for k, n in kinds if k in TERMINAL_FLAGS},
            "events": [
                {"id": i, "kind": k, "detail": json.loads(d), "created_at": c} for i, k, d, c in events
            ],
        }


__all__ = ["DOUBLE_SPEND", "IGNORED", "Collector", "Reject", "Settings"]

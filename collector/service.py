"""The collector's logic, independent of HTTP: enrollment, ingest, lists, terminal status.

Ingest of one batch, in order (the expensive parts outside the write transaction):

1. Decode the envelope, find the terminal's enrolled key, verify the batch signature, then
   decode and check every field; refuse a batch sent too long ago or ahead (``stale_batch``).
2. Recompute each row's chain hash and token digest; the first row that does not match is
   ``row_edited`` and neither it nor anything after it is taken.
3. Re-verify the tokens of rows the collector does not hold yet (``collector.reverify``).
4. One write transaction: the nonce (a second use is ``replayed_batch``), the terminal's head
   (rows at or below it must hash the same: ``duplicate``, else ``chain_fork``; the next row
   must continue it: else ``chain_gap`` / ``chain_fork``), the deny list in force at each
   payment's time, (wallet id, counter) once across the fleet (a second one is a double spend:
   an event with both payments as evidence, and the wallet onto the next deny list), the
   wallet's cumulative offline exposure across terminals, then the rows, the velocity lock
   reports, counters and the new head.
5. After commit, a new deny list is signed and published if a wallet was added.

Request-level refusals raise ``Reject`` (a 4xx with a code); nothing is stored for them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from collector.counters import RejectCounter
from collector.db import Database, Tx, ckey, cvalue
from collector.lists import Lists, Published
from collector.reverify import ACCEPTED, IGNORED, REJECTED, REVERSAL, Reverifier, Verdict
from pos import chain, sigs
from pos.decision import Policy
from pos.errors import ListError
from pos.sync import protocol as p
from pos.tokens import TYP_DENY_LIST, TYP_TRUST_LIST

log = logging.getLogger("collector")

DAY = 86400
DOUBLE_SPEND = "double_spend"
_TERMINAL_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


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


@dataclass
class _Outcome:
    answer: dict[str, Any]
    denied: int = 0


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None


class Collector:
    def __init__(
        self,
        db: Database,
        lists: Lists,
        settings: Settings | None = None,
        *,
        rejects: RejectCounter | None = None,
        clock: Any = time.time,
    ) -> None:
        self.db = db
        self.lists = lists
        self.settings = settings or Settings()
        self.clock = clock
        self.reverifier = Reverifier(lists, self.settings.policy)
        self._keys: dict[str, ed25519.Ed25519PublicKey] = {}
        self._keys_lock = threading.Lock()
        self.request_rejects = rejects or RejectCounter()
        lists.refresh()

    def close(self) -> None:
        self.reverifier.close()
        self.db.close()

    def reject(self, status: int, code: str, detail: str = "") -> Reject:
        self.request_rejects.add(code)
        return Reject(status, code, detail)

    # -- enrollment -------------------------------------------------------------------------
    def enroll(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
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
        except (ValueError, KeyError, TypeError) as exc:
            raise self.reject(400, "bad_body", f"enrollment is JSON {{tid, key, time, sig}}: {exc}") from None
        if not _TERMINAL_ID.match(tid):
            raise self.reject(400, "bad_terminal_id", "1-128 printable characters")
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
            row = tx.one("SELECT public_key FROM terminals WHERE terminal_id = ?", (tid,))
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

    def _key_of(self, tid: str) -> ed25519.Ed25519PublicKey | None:
        key = self._keys.get(tid)
        if key is None:
            with self.db.read() as tx:
                row = tx.one("SELECT public_key FROM terminals WHERE terminal_id = ?", (tid,))
            if row is None:
                return None
            key = ed25519.Ed25519PublicKey.from_public_bytes(bytes(row[0]))
            with self._keys_lock:
                self._keys[tid] = key
        return key

    # -- ingest -----------------------------------------------------------------------------
    def ingest(self, body: bytes) -> dict[str, Any]:
        now = int(self.clock())
        try:
            tid, payload, sig = p.decode_envelope(body)
        except p.ProtocolError as exc:
            raise self.reject(401 if exc.code == "bad_signature" else 400, exc.code, exc.detail) from None
        key = self._key_of(tid)
        if key is None:
            raise self.reject(403, "unknown_terminal", f"terminal {tid!r} is not enrolled")
        if not sigs.verify(key, sig, p.batch_message(payload)):
            raise self.reject(401, "bad_signature", "the batch is not signed by the enrolled key")
        try:
            batch = p.parse_payload(p.decode_payload(payload))
        except p.ProtocolError as exc:
            raise self.reject(400, exc.code, exc.detail) from None
        if batch.terminal_id != tid:
            raise self.reject(400, "bad_body", "the payload names another terminal than the envelope")
        if abs(batch.sent - now) > self.settings.batch_window_s:
            raise self.reject(409, "stale_batch", "sent time is outside the collector's window")
        good, chain_error = self._internal_chain(batch)
        with self.db.read() as tx:
            head = tx.one("SELECT last_seq FROM terminals WHERE terminal_id = ?", (tid,))
        known = head[0] if head else 0
        self.lists.refresh()
        fresh = [r for r in good if r.seq > known]
        verdicts = dict(zip([r.seq for r in fresh], self.reverifier.verdicts(fresh), strict=True))
        with self.db.write() as tx:
            outcome = self._commit(tx, batch, good, chain_error, verdicts, now)
        if outcome.denied:
            try:
                self.lists.publish_deny()
            except Exception:
                log.exception("could not publish the deny list")
        return outcome.answer

    def _internal_chain(self, batch: p.Batch) -> tuple[list[p.BatchRow], dict[str, Any] | None]:
        prev = batch.prev
        for i, row in enumerate(batch.rows):
            if row.chain_row(prev).hash() != row.hash:
                return batch.rows[:i], {
                    "error": "row_edited", "seq": row.seq,
                    "detail": "the row's fields do not hash to its hash",
                }  # fmt: skip
            if row.token is not None and hashlib.sha256(row.token).digest() != row.token_digest:
                return batch.rows[:i], {
                    "error": "row_edited", "seq": row.seq,
                    "detail": "the token does not match the row's token digest",
                }  # fmt: skip
            prev = row.hash
        return batch.rows, None

    def _commit(
        self,
        tx: Tx,
        batch: p.Batch,
        rows: list[p.BatchRow],
        chain_error: dict[str, Any] | None,
        verdicts: dict[int, Verdict],
        now: int,
    ) -> _Outcome:
        tid = batch.terminal_id
        window = self.settings.batch_window_s
        tx.execute("DELETE FROM nonces WHERE seen_at < ?", (now - 2 * window,))
        cur = tx.execute(
            "INSERT INTO nonces (terminal_id, nonce, seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (terminal_id, nonce) DO NOTHING",
            (tid, batch.nonce, now),
        )
        if cur.rowcount == 0:
            raise self.reject(409, "replayed_batch", "this batch (nonce) was received before")
        lock = " FOR UPDATE" if tx.pg else ""
        last_seq, last_hash = tx.one(
            f"SELECT last_seq, last_hash FROM terminals WHERE terminal_id = ?{lock}", (tid,)
        )
        last_hash = bytes(last_hash)
        results: list[list[Any]] = []
        counters: Counter[tuple[str, str]] = Counter()
        events: list[dict[str, Any]] = []
        stored: dict[int, bytes] = {}
        known = [r.seq for r in rows if r.seq <= last_seq]
        if known:
            stored = {
                s: bytes(h)
                for s, h in tx.all(
                    "SELECT seq, hash FROM entries WHERE terminal_id = ? AND seq BETWEEN ? AND ?",
                    (tid, known[0], known[-1]),
                )
            }
        new: list[p.BatchRow] = []
        stop_at = len(rows)
        for i, row in enumerate(rows):
            if row.seq <= last_seq:
                if stored.get(row.seq) == row.hash:
                    results.append([row.seq, p.DUPLICATE, "duplicate"])
                    counters["duplicates", ""] += 1
                    continue
                chain_error = {
                    "error": "chain_fork", "seq": row.seq,
                    "detail": "the collector holds another row at this seq",
                }  # fmt: skip
                stop_at = i
                break
            if not new:
                if row.seq != last_seq + 1:
                    chain_error = {
                        "error": "chain_gap", "seq": last_seq + 1,
                        "detail": f"the collector holds seq {last_seq}; batch row {row.seq} skips",
                    }  # fmt: skip
                    stop_at = i
                    break
                prev = batch.prev if i == 0 else rows[i - 1].hash
                if prev != last_hash:
                    chain_error = {
                        "error": "chain_fork", "seq": row.seq,
                        "detail": "prev_hash does not continue the collector's head",
                    }  # fmt: skip
                    stop_at = i
                    break
            new.append(row)
        if chain_error is not None:
            events.append(
                {
                    "kind": chain_error["error"],
                    "dedupe": f"{chain_error['error']}:{tid}:{chain_error['seq']}:"
                    + next((r.hash.hex() for r in batch.rows if r.seq == chain_error["seq"]), ""),
                    "terminal_id": tid,
                    "detail": {**chain_error, "collector_head": last_seq},
                }
            )
            counters["refused", chain_error["error"]] += len(batch.rows) - len(results) - len(new)
        statuses = self._payments(tx, tid, new, verdicts, now, events, counters)
        for row, (_status, verdict) in zip(new, statuses, strict=True):
            results.append([row.seq, p.STORED, verdict])
        code = chain_error["error"] if chain_error else ""
        answered = {r[0] for r in results}
        for row in rows[stop_at:] + batch.rows[len(rows) :]:
            if row.seq not in answered:
                results.append([row.seq, p.REFUSED, code])
        results.sort(key=lambda r: r[0])
        denied = self._events(tx, events, now)
        tx.executemany(
            "INSERT INTO locks (terminal_id, lock_id, wallet_id, since, until, failures, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal_id, lock_id) DO NOTHING",
            [(tid, lk.id, lk.wallet_id, lk.since, lk.until, lk.failures, now) for lk in batch.locks],
        )
        if batch.locks:
            counters["velocity_locks", ""] += len(batch.locks)
        counters["batches", ""] += 1
        for (name, label), value in sorted(counters.items()):
            if value:
                tx.execute(
                    "INSERT INTO counters (name, label, terminal_id, value) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (name, label, terminal_id)"
                    " DO UPDATE SET value = counters.value + excluded.value",
                    (name, label, tid, value),
                )
        new_seq, new_hash = (new[-1].seq, new[-1].hash) if new else (last_seq, last_hash)
        tx.execute(
            "UPDATE terminals SET last_seq = ?, last_hash = ?, last_seen = ?, flags = flags + ?"
            " WHERE terminal_id = ?",
            (new_seq, new_hash, now, 1 if chain_error else 0, tid),
        )
        answer = {
            "tid": tid,
            "next_seq": new_seq + 1,
            "results": results,
            "chain": chain_error,
            "locks": len(batch.locks),
        }
        return _Outcome(answer, denied)

    def _payments(
        self,
        tx: Tx,
        tid: str,
        new: list[p.BatchRow],
        verdicts: dict[int, Verdict],
        now: int,
        events: list[dict[str, Any]],
        counters: Counter[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """Decide and insert the new rows; return (status, verdict) per row."""
        if not new:
            return []
        accepted = [r for r in new if verdicts[r.seq].status == ACCEPTED]
        wallets = sorted({r.wallet_id for r in accepted})
        tx.lock_wallets(wallets)
        denied_since: dict[bytes, int] = {}
        existing: dict[tuple[bytes, int], Any] = {}
        if wallets:
            where, params = tx.in_clause("d.wallet_id", wallets)
            denied_since = {
                bytes(w): iat
                for w, iat in tx.all(
                    "SELECT d.wallet_id, l.iat FROM denied d"
                    " JOIN lists l ON l.typ = ? AND l.seq = d.added_seq"
                    f" WHERE {where}",
                    [TYP_DENY_LIST, *params],
                )
            }
            existing = self._existing(tx, [(r.wallet_id, r.counter) for r in accepted])
        out: list[tuple[str, str]] = []
        rows: list[tuple[Any, ...]] = []
        seen: dict[tuple[bytes, int], p.BatchRow] = {}
        for row in new:
            v = verdicts[row.seq]
            status, reason, limit = v.status, v.reason, v.offline_limit
            if status == ACCEPTED:
                since = denied_since.get(row.wallet_id)
                pair = (row.wallet_id, row.counter)
                if since is not None and since <= row.time:
                    status, reason = REJECTED, "wallet_denied"
                elif pair in existing or pair in seen:
                    first = existing.get(pair) or _evidence_of(tid, seen[pair])
                    status, reason = DOUBLE_SPEND, DOUBLE_SPEND
                    events.append(
                        {
                            "kind": DOUBLE_SPEND,
                            "dedupe": f"{DOUBLE_SPEND}:{row.wallet_id.hex()}:{row.counter}:{tid}:{row.seq}",
                            "terminal_id": tid,
                            "wallet_id": row.wallet_id,
                            "counter": ckey(row.counter),
                            "deny": True,
                            "detail": {
                                "wallet_id": row.wallet_id.hex(),
                                "counter": row.counter,
                                "evidence": [first, _evidence_of(tid, row)],
                            },
                        }
                    )
                else:
                    seen[pair] = row
            verdict = reason if status not in (ACCEPTED, REVERSAL) else status
            if status == ACCEPTED:
                counters["ingested", ""] += 1
            elif status == REVERSAL:
                counters["reversals", ""] += 1
            elif status == DOUBLE_SPEND:
                counters["double_spend", ""] += 1
            elif status == REJECTED:
                counters["rejected", reason or "unknown"] += 1
            else:
                counters["ignored", reason or ""] += 1
            out.append((status, verdict))
            rows.append(
                (
                    tid, row.seq, row.time, row.kind, row.wallet_id, ckey(row.counter), row.amount,
                    row.currency, row.mode, row.terminal_id, row.token_digest, row.token, row.hash, status,
                    reason, limit, now,
                )
            )  # fmt: skip
        tx.executemany(
            "INSERT INTO entries (terminal_id, seq, time, kind, wallet_id, counter, amount, currency, mode,"
            " row_terminal_id, token_digest, token, hash, status, reason, offline_limit, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        for i, (row, (status, _v)) in enumerate(zip(new, out, strict=True)):
            if status == REVERSAL and not self._reverse(tx, tid, row):
                out[i] = (REVERSAL, "reversal_unmatched")
        fresh = [r for r, (s, _v) in zip(new, out, strict=True) if s == ACCEPTED]
        self._exposure(tx, fresh, now, events)
        return out

    def _reverse(self, tx: Tx, tid: str, row: p.BatchRow) -> bool:
        """Mark this terminal's accepted payment that a reversal row names; False if none."""
        cur = tx.execute(
            "UPDATE entries SET reversed_seq = ? WHERE terminal_id = ? AND kind = 'payment'"
            " AND status = 'accepted' AND wallet_id = ? AND counter = ? AND token_digest = ?"
            " AND amount = ? AND reversed_seq IS NULL AND seq < ?",
            (row.seq, tid, row.wallet_id, ckey(row.counter), row.token_digest, row.amount, row.seq),
        )
        if cur.rowcount == 1:
            return True
        tx.execute(
            "UPDATE entries SET reason = 'reversal_unmatched' WHERE terminal_id = ? AND seq = ?",
            (tid, row.seq),
        )
        return False

    def _existing(self, tx: Tx, pairs: list[tuple[bytes, int]]) -> dict[tuple[bytes, int], Any]:
        """Accepted entries already holding any of these (wallet id, counter) pairs."""
        if not pairs:
            return {}
        cols = "terminal_id, seq, time, amount, currency, mode, wallet_id, counter, token_digest, token"
        if tx.pg:
            found = tx.all(
                f"SELECT {cols} FROM entries WHERE status = 'accepted' AND (wallet_id, counter) IN"
                " (SELECT * FROM unnest(?::bytea[], ?::bytea[]))",
                [[w for w, _ in pairs], [ckey(c) for _, c in pairs]],
            )
        else:
            found = []
            for i in range(0, len(pairs), 4000):
                part = pairs[i : i + 4000]
                values = ",".join("(?, ?)" for _ in part)
                flat = [x for w, c in part for x in (w, ckey(c))]
                found += tx.all(
                    f"SELECT {cols} FROM entries WHERE status = 'accepted' AND (wallet_id, counter) IN"
                    f" (VALUES {values})",
                    flat,
                )
        out = {}
        for tid, seq, t, amount, currency, mode, wid, counter, digest, token in found:
            out[(bytes(wid), cvalue(counter))] = {
                "terminal_id": tid, "seq": seq, "time": t, "amount": amount, "currency": currency,
                "mode": mode, "token_digest": bytes(digest).hex(),
                "token": _hex(bytes(token) if token else None),
            }  # fmt: skip
        return out

    def _exposure(self, tx: Tx, fresh: list[p.BatchRow], now: int, events: list[dict[str, Any]]) -> None:
        """SPEC 3.3's cumulative offline limit, checked across the fleet.

        A payment is un-acknowledged from its time until the collector stored it (less a margin
        for clock skew). Where a wallet's un-acknowledged total at some instant passes its
        certificate's offline limit with payments from two or more terminals, the wallet
        double-spent its offline allowance: an event with the payments as evidence, and the
        deny list. Over the limit at one terminal alone, the terminal broke SPEC 3.3: an event
        against the terminal, the wallet is not denied for it.
        """
        margin = self.settings.limit_margin_s
        if not fresh:
            return
        first_time: dict[bytes, int] = {}
        for r in fresh:
            first_time[r.wallet_id] = min(first_time.get(r.wallet_id, r.time), r.time)
        cutoff = min(first_time.values()) + margin
        if now <= cutoff:
            return
        wallets = sorted(first_time)
        where, params = tx.in_clause("wallet_id", wallets)
        bounds = tx.all(
            "SELECT wallet_id, sum(amount), min(offline_limit) FROM entries"
            f" WHERE status = 'accepted' AND ingested_at > ? AND {where} GROUP BY wallet_id",
            [cutoff, *params],
        )
        fresh_keys = {(r.wallet_id, r.counter) for r in fresh}
        for wid, total, limit in bounds:
            if limit is None or total <= limit:
                continue
            wid = bytes(wid)
            entries = tx.all(
                "SELECT terminal_id, seq, time, amount, offline_limit, ingested_at, counter, token_digest"
                " FROM entries WHERE status = 'accepted' AND wallet_id = ? AND ingested_at > ?",
                (wid, first_time[wid] + margin),
            )
            violation = _sweep(entries, margin)
            if violation is None:
                continue
            at, active = violation
            if not any((wid, cvalue(e[6])) in fresh_keys for e in active):
                continue
            terminals = sorted({e[0] for e in active})
            evidence = [
                {"terminal_id": e[0], "seq": e[1], "time": e[2], "amount": e[3], "counter": cvalue(e[6]),
                 "token_digest": bytes(e[7]).hex()}
                for e in active
            ]  # fmt: skip
            cross = len(terminals) > 1
            kind = "offline_limit_exceeded" if cross else "terminal_offline_limit_breach"
            events.append(
                {
                    "kind": kind,
                    "dedupe": f"{kind}:{wid.hex()}:" + ",".join(terminals),
                    "terminal_id": terminals[0] if not cross else None,
                    "wallet_id": wid,
                    "deny": cross,
                    "detail": {
                        "wallet_id": wid.hex(),
                        "at": at,
                        "unacknowledged": sum(e[3] for e in active),
                        "offline_limit": min(e[4] for e in active),
                        "terminals": terminals,
                        "evidence": evidence,
                    },
                }
            )

    def _events(self, tx: Tx, events: list[dict[str, Any]], now: int) -> int:
        """Store flagged events (once each); deny their wallets where they call for it."""
        denied = 0
        for ev in events:
            row = tx.one(
                "INSERT INTO events (kind, dedupe, terminal_id, wallet_id, counter, detail, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe) DO NOTHING RETURNING id",
                (
                    ev["kind"], ev["dedupe"], ev.get("terminal_id"), ev.get("wallet_id"), ev.get("counter"),
                    json.dumps(ev["detail"], sort_keys=True), now,
                ),
            )  # fmt: skip
            if row is None:
                continue
            log.warning("flagged %s: %s", ev["kind"], json.dumps(ev["detail"])[:300])
            wid = ev.get("wallet_id")
            if ev.get("deny") and wid is not None and len(wid) == 8:
                cur = tx.execute(
                    "INSERT INTO denied (wallet_id, reason, event_id, created_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (wallet_id) DO NOTHING",
                    (wid, ev["kind"], row[0], now),
                )
                denied += max(0, cur.rowcount)
        return denied

    # -- lists ------------------------------------------------------------------------------
    def trust_list(self) -> Published | None:
        with self.db.read() as tx:
            return self.lists.latest(tx, TYP_TRUST_LIST)

    def deny_list(self, have: int | None, full: bool) -> tuple[Published | None, bytes | None]:
        """The current deny list, and a delta from ``have`` when one can be made."""
        try:
            self.lists.publish_deny()  # wallets waiting, or the list in force is ageing
        except Exception:
            log.exception("could not publish the deny list")
        with self.db.read() as tx:
            current = self.lists.latest(tx, TYP_DENY_LIST)
            if current is None or full or have is None:
                return current, None
            try:
                return current, self.lists.deny_delta(tx, have, current)
            except ListError as exc:
                log.error("%s", exc)
                return current, None

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
        return {
            "terminal_id": row[0],
            "enrolled_at": row[1],
            "last_seq": row[2],
            "last_seen": row[3],
            "flags": row[4],
            "events": [
                {"id": i, "kind": k, "detail": json.loads(d), "created_at": c} for i, k, d, c in events
            ],
        }


def _evidence_of(tid: str, row: p.BatchRow) -> dict[str, Any]:
    return {
        "terminal_id": tid, "seq": row.seq, "time": row.time, "amount": row.amount,
        "currency": row.currency, "mode": row.mode, "token_digest": row.token_digest.hex(),
        "token": _hex(row.token),
    }  # fmt: skip


def _sweep(entries: list[Any], margin: int) -> tuple[int, list[Any]] | None:
    """The first instant a wallet's un-acknowledged total passes the limit, and who made it up."""
    points = []
    for e in entries:
        start, end = e[2], e[5] - margin
        if end > start:
            points.append((start, 1, e))
            points.append((end, 0, e))
    points.sort(key=lambda x: (x[0], x[1]))
    active: dict[tuple[str, int], Any] = {}
    for t, kind, e in points:
        if kind == 0:
            active.pop((e[0], e[1]), None)
            continue
        active[(e[0], e[1])] = e
        total = sum(a[3] for a in active.values())
        if total > min(a[4] for a in active.values() if a[4] is not None):
            return t, list(active.values())
    return None


__all__ = ["IGNORED", "Collector", "Reject", "Settings"]

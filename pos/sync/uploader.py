"""Uploading the journal: read a batch, let go of the database, send, then acknowledge.

Exactly once, whatever fails:

* Rows are read in one short read; no transaction is open during network I/O, so a sale made
  while a batch is in flight commits normally, gets a higher seq, and goes in a later batch.
* Every attempt is signed afresh with a new nonce. The collector keys rows by (terminal, seq)
  and payments by (wallet id, counter): a retry after a lost answer is answered "duplicate",
  which acknowledges the row like "stored" does.
* ``Journal.acknowledge`` is one transaction: a crash before it, during it or after it leaves
  the rows pending or acknowledged, never half; pending rows are simply sent again.
* Only a prefix of each batch is acknowledged (the collector stores a prefix), so pending rows
  are always the tail of the chain and the next batch continues where the collector stands.

Retries use exponential backoff with full jitter and a cap; answers that are cut, reset,
garbled or late are retried, while an authentication or format refusal ends the pass with an
error the operator sees in ``pos queue status``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from pos.journal import Journal
from pos.schema import STATE_PENDING
from pos.sync.settings import SyncSettings
from pos.sync.state import SyncState
from pos.sync.transport import Backoff, SyncError, read_capped
from pos.wire import protocol as p

log = logging.getLogger("pos.sync")

BATCH_PATH = "/v1/batches"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

ProgressFn = Callable[[int, int], None]


@dataclass
class PassResult:
    batches: int = 0
    attempts: int = 0
    acked: int = 0
    stored: int = 0
    duplicates: int = 0
    locks_reported: int = 0
    pruned: int = 0
    pending: int = 0
    error: str | None = None
    chain_error: dict[str, Any] | None = None
    verdicts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.error is None and self.chain_error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batches": self.batches,
            "attempts": self.attempts,
            "acknowledged": self.acked,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "locks_reported": self.locks_reported,
            "pruned": self.pruned,
            "pending": self.pending,
            "error": self.error,
            "chain_error": self.chain_error,
            "verdicts": dict(self.verdicts),
        }


class Uploader:
    def __init__(
        self,
        journal: Journal,
        client: httpx.Client,
        terminal_id: str,
        settings: SyncSettings,
        *,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        on_progress: ProgressFn | None = None,
        lists_held: Callable[[], dict[str, int] | None] | None = None,
    ) -> None:
        self.journal = journal
        self.lists_held = lists_held
        self.client = client
        self.terminal_id = terminal_id
        self.settings = settings
        self.backoff = backoff or Backoff(settings.retry_base_s, settings.retry_cap_s)
        self.stop = stop or threading.Event()
        self.clock = clock
        self.on_progress = on_progress
        self.state = SyncState(journal.dir)

    # -- one pass ---------------------------------------------------------------------------
    def run_pass(self, *, deadline_s: float | None = None, max_batches: int | None = None) -> PassResult:
        """Upload until nothing is pending, an error, the deadline or ``max_batches``."""
        result = PassResult()
        deadline = time.monotonic() + deadline_s if deadline_s is not None else None
        total = self._pending_count()
        self.state.update(last_attempt=int(self.clock()))
        try:
            while not self.stop.is_set():
                if max_batches is not None and result.batches >= max_batches:
                    break
                rows = self._consecutive(self.journal.pending_rows(self.settings.batch_size))
                locks = self._unreported_locks()
                if not rows and not locks:
                    break
                answer = self._send(rows, locks, result, deadline)
                if answer is None:
                    break
                progressed = self._apply(answer, rows, locks, result)
                if self.on_progress is not None:
                    self.on_progress(result.acked, total)
                if answer.chain_error is not None:
                    result.chain_error = answer.chain_error
                    break
                if not progressed:
                    result.error = "the collector acknowledged none of the batch"
                    break
        except SyncError as exc:
            result.error = str(exc)
        except httpx.HTTPError as exc:  # a transport error outside the retry loop (should not happen)
            result.error = f"{type(exc).__name__}: {exc}"
        result.pending = self._pending_count()
        if result.ok and not self.stop.is_set() and result.pending == 0:
            result.pruned = self._prune()
        self._record(result)
        return result

    def _consecutive(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The run of consecutive seqs at the head (pending rows are a suffix; this keeps it so)."""
        for i in range(1, len(rows)):
            if rows[i]["seq"] != rows[i - 1]["seq"] + 1 or rows[i]["prev_hash"] != rows[i - 1]["hash"]:
                return rows[:i]
        return rows

    def _batch(self, rows: list[dict[str, Any]], locks: list[p.LockReport]) -> bytes:
        batch = p.Batch(
            terminal_id=self.terminal_id,
            nonce=p.new_nonce(),
            sent=int(self.clock()),
            prev=rows[0]["prev_hash"] if rows else b"",
            rows=[
                p.BatchRow(
                    r["seq"], r["time"], r["kind"], r["wallet_id"], r["counter"], r["amount"],
                    r["currency"], r["mode"], r["terminal_id"], r["token_digest"], r["token"], r["hash"],
                )
                for r in rows
            ],
            locks=locks,
            lists=self.lists_held() if self.lists_held is not None else None,
        )  # fmt: skip
        payload = p.encode_payload(batch)
        signature = self.journal.identity.sign(p.batch_message(payload))
        return p.encode_envelope(self.terminal_id, payload, signature)

    def _send(
        self,
        rows: list[dict[str, Any]],
        locks: list[p.LockReport],
        result: PassResult,
        deadline: float | None,
    ) -> p.Answer | None:
        """POST the batch until an answer arrives; a new nonce and signature on every attempt."""
        self.backoff.reset()
        for attempt in range(1, self.settings.max_attempts + 1):
            result.attempts += 1
            body = self._batch(rows, locks)
            try:
                return self._post(body)
            except SyncError as exc:
                if not exc.retryable:
                    raise
                why = str(exc)
            except httpx.TransportError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # retrying cannot fix a certificate
                    raise SyncError(
                        f"the collector's certificate does not verify: {exc}", code="tls"
                    ) from None
                why = f"{type(exc).__name__}: {exc}"
            log.info("batch attempt %d failed: %s", attempt, why)
            if attempt == self.settings.max_attempts:
                raise SyncError(f"gave up after {attempt} attempts: {why}", code="unreachable")
            delay = self.backoff.next_delay()
            if deadline is not None and time.monotonic() + delay > deadline:
                raise SyncError(f"deadline reached while retrying: {why}", code="deadline")
            if self.stop.wait(delay):
                return None
        return None

    def _post(self, body: bytes) -> p.Answer:
        headers = {"Content-Type": p.CONTENT_TYPE, "Accept": "application/json"}
        with self.client.stream("POST", BATCH_PATH, content=body, headers=headers) as resp:
            raw = read_capped(resp, self.settings.max_response_bytes)
            status = resp.status_code
        doc: Any = None
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: a rogue answer nested too deep
            if status == 200:
                raise SyncError("answer is not JSON", code="bad_answer", retryable=True) from None
        code = doc.get("error", "") if isinstance(doc, dict) else ""
        if status == 200:
            try:
                return p.parse_answer(doc)
            except p.ProtocolError as exc:
                raise SyncError(str(exc), code=exc.code, retryable=True) from None
        detail = f"collector answered {status} {code}".rstrip()
        if isinstance(doc, dict) and doc.get("detail"):
            detail += f": {doc['detail']}"
        # A captured copy of this very request reached the collector first (a duplicating
        # network): the rows' fate is unknown, so ask again under a new nonce.
        retryable = status in RETRY_STATUSES or (status == 409 and code == "replayed_batch")
        raise SyncError(detail, code=code or f"http_{status}", retryable=retryable)

    def _apply(
        self,
        answer: p.Answer,
        rows: list[dict[str, Any]],
        locks: list[p.LockReport],
        result: PassResult,
    ) -> bool:
        """Acknowledge the prefix of the batch the collector holds; return True on progress."""
        by_seq = {r.seq: r for r in answer.results}
        acked: list[int] = []
        for row in rows:
            res = by_seq.get(row["seq"])
            if res is None or res.status not in p.ACKED_STATUSES:
                break
            acked.append(row["seq"])
            result.verdicts[res.verdict] += 1
            if res.status == p.STORED:
                result.stored += 1
            else:
                result.duplicates += 1
        if acked:
            self.journal.acknowledge(acked)
        if locks:
            self._mark_locks([lk.id for lk in locks])
            result.locks_reported += len(locks)
        result.acked += len(acked)
        result.batches += 1
        return bool(acked) or (not rows and bool(locks))

    # -- velocity locks (SPEC 3.3: reported to the collector) ---------------------------------
    def _unreported_locks(self) -> list[p.LockReport]:
        cur = self.journal.db.execute(
            "SELECT id, wallet_id, since, until, failures FROM velocity_locks WHERE reported = 0"
            " ORDER BY id LIMIT ?",
            (p.MAX_LOCKS,),
        )
        return [p.LockReport(*r) for r in cur.fetchall()]

    def _mark_locks(self, ids: list[int]) -> None:
        db = self.journal.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("UPDATE velocity_locks SET reported = 1 WHERE id = ?", [(i,) for i in ids])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- bookkeeping ------------------------------------------------------------------------
    def _pending_count(self) -> int:
        """Rows waiting for upload, reversals included (``totals`` counts payments only)."""
        (count,) = self.journal.db.execute(
            "SELECT count(*) FROM payments WHERE state = ?", (STATE_PENDING,)
        ).fetchone()
        return int(count)

    def _prune(self) -> int:
        before = int(self.clock()) - self.settings.retention_s
        try:
            return self.journal.prune(before)
        except Exception as exc:  # noqa: BLE001 - pruning is housekeeping; the upload succeeded
            log.warning("pruning acknowledged tokens failed: %s", exc)
            return 0

    def _record(self, result: PassResult) -> None:
        now = int(self.clock())
        values: dict[str, Any] = {"last_pass": result.as_json()}
        if result.ok and result.attempts:  # nothing pending reached no one: no proof of a link
            values.update(last_success=now, last_error=None)
        elif not result.ok:
            values["last_error"] = {"time": now, "error": result.error, "chain": result.chain_error}
        try:
            self.state.update(**values)
        except OSError as exc:
            log.warning("could not write the sync state: %s", exc)

"""``batch``: what a rogue terminal (or anyone on the network) sends the collector.

A real ``collector.service.Collector`` on SQLite in a temporary directory, with the fixture's
root, trust list and one enrolled terminal (``T-FUZZ``), its clock fixed at the fixture's time.
First byte ``m % 3``:

    0  ``Collector.ingest(body)``: the envelope, the signature, the payload, the chain, the
       re-verification of the tokens and the write transaction; run with the real signature
       check and with ``pos.sigs.verify`` forced to True (an enrolled terminal's key signs
       whatever its owner wants: everything behind the signature must be fuzzed too)
    1  ``Collector.enroll("Bearer <operator token>", body)``: the enrollment JSON
    2  the Starlette app (``collector.app.create_app``) on ``GET /v1/lists/deny?<rest>``, the
       second byte choosing the Accept and If-None-Match headers: the query string as sent

Invariants: a refusal is a ``Reject`` with a 4xx status, an ingest answer is JSON-serialisable
and answers each row once with a documented status, and the HTTP app never answers 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from fuzz_targets.core import NOW, TERMINAL_ID, Fixture, signatures_forced

OPERATOR = "fuzz-operator-token"


class BatchHarness:
    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        from collector.app import create_app
        from collector.db import Database
        from collector.lists import Lists, ListSigner
        from collector.service import Collector, Reject, Settings
        from pos.wire import protocol as p

        logging.disable(logging.CRITICAL)
        self.p, self.Reject = p, Reject
        self.fx = Fixture()
        pem = self.fx.root.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.dir = Path(tempfile.mkdtemp(prefix="owt-fuzz-collector-"))
        db = Database(f"sqlite:///{self.dir / 'collector.db'}", pool_size=1)
        lists = Lists(db, self.fx.root_pub, ListSigner(pem))
        lists.import_list(self.fx.trust_raw)
        lists.import_list(self.fx.deny_raw)
        self.collector = Collector(db, lists, Settings(operator_token=OPERATOR), clock=lambda: NOW)
        self.app = create_app(self.collector)
        self.loop = asyncio.new_event_loop()
        self.key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"fuzz terminal").digest())
        self.key_raw = self.key.public_key().public_bytes_raw()
        self.collector.enroll(f"Bearer {OPERATOR}", self._enrollment(TERMINAL_ID))

    def _enrollment(self, tid: str) -> bytes:
        """The JSON body ``pos sync enroll`` posts, with a key of its own for each terminal id."""
        from cryptography.hazmat.primitives.asymmetric import ed25519

        key = (
            self.key
            if tid == TERMINAL_ID
            else ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(tid.encode()).digest())
        )
        raw = key.public_key().public_bytes_raw()
        sig = key.sign(self.p.enroll_message(tid, raw, NOW))
        return json.dumps({"tid": tid, "key": raw.hex(), "time": NOW, "sig": sig.hex()}).encode()

    # -- seeds --------------------------------------------------------------------------------
    def batch(self, first: int, n: int, *, tokens: bool = True) -> bytes:
        """A signed batch of ``n`` journal rows from seq ``first``, as ``Uploader._batch`` makes it."""
        from pos import chain

        p = self.p
        rows, prev = [], chain.GENESIS
        start_prev = prev
        for seq in range(1, first + n):
            token = self.fx.token(seq % 4) if tokens else None
            wid = self.fx.wallets[seq % 4][1]
            digest = hashlib.sha256(token or b"").digest()
            fields = (seq, NOW - 5 + seq, "payment", wid, 1 + seq % 4, 500, "EUR", "qr", TERMINAL_ID, digest)
            row_hash = chain.Row(*fields, prev).hash()
            if seq == first:
                start_prev = prev
            if seq >= first:
                rows.append(p.BatchRow(*fields, token, row_hash))
            prev = row_hash
        locks = [p.LockReport(1, self.fx.wallets[2][1], NOW - 50, NOW + 550, 3)]
        payload = p.encode_payload(p.Batch(TERMINAL_ID, bytes(16), NOW, start_prev, rows, locks))
        sig = self.key.sign(p.batch_message(payload))
        return p.encode_envelope(TERMINAL_ID, payload, sig)

    def seeds(self) -> list[bytes]:
        return [
            b"\x00" + self.batch(1, 3),
            b"\x00" + self.batch(2, 2, tokens=False),
            b"\x00" + self.batch(1, 1),
            b"\x01" + self._enrollment("T-NEW"),
            b"\x01" + self._enrollment(TERMINAL_ID),
            b"\x02\x00have=3",
            b"\x02\x01have=2&full=1",
            b"\x02\x02have=abc",
            b"\x02\x03",
        ]

    # -- the check ----------------------------------------------------------------------------
    def check(self, data: bytes) -> None:
        if not data:
            return
        mode, body = data[0] % 3, data[1:]
        if mode == 0:
            for forced in (False, True):
                self._reset()
                with signatures_forced() if forced else contextlib.nullcontext():
                    self._refused_or(lambda: self._answered(self.collector.ingest(body)))
        elif mode == 1:
            self._reset()
            self._refused_or(lambda: self.collector.enroll(f"Bearer {OPERATOR}", body))
        else:
            self._get_deny(body)

    def _refused_or(self, call: Any) -> None:
        try:
            call()
        except self.Reject as exc:
            if not 400 <= exc.status < 500:
                raise AssertionError(f"refusal with status {exc.status}: {exc}") from None

    def _reset(self) -> None:
        """Back to the enrolled terminal at seq 0: each input meets the same collector (a nonce
        seen, a head moved or a wallet denied by the last input would hide the next one's path)."""
        from pos import chain

        with self.collector.db.write() as tx:
            for table in ("nonces", "entries", "events", "locks", "counters"):
                tx.execute(f"DELETE FROM {table}")
            tx.execute("DELETE FROM denied WHERE reason <> 'imported'")
            tx.execute("DELETE FROM lists WHERE typ = 2 AND seq > 3")
            tx.execute("DELETE FROM terminals WHERE terminal_id <> ?", (TERMINAL_ID,))
            tx.execute("UPDATE terminals SET last_seq = 0, last_hash = ?, flags = 0", (chain.GENESIS,))

    def _answered(self, answer: dict[str, Any]) -> None:
        json.dumps(answer)  # the HTTP layer sends it as JSON
        seqs = [r[0] for r in answer["results"]]
        statuses = {r[1] for r in answer["results"]}
        if len(seqs) != len(set(seqs)) or not statuses <= {self.p.STORED, self.p.DUPLICATE, self.p.REFUSED}:
            raise AssertionError(f"answer rows repeat or carry an undocumented status: {answer}")

    def _get_deny(self, body: bytes) -> None:
        sel = body[0] if body else 0
        headers = [(b"host", b"collector.test")]
        if sel & 1:
            headers.append((b"accept", self.p.DENY_DELTA_TYPE.encode()))
        if sel & 2:
            headers.append((b"if-none-match", b'"deny-3"'))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/v1/lists/deny", "raw_path": b"/v1/lists/deny",
            "query_string": body[1:], "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        status = self.loop.run_until_complete(_call(self.app, scope))
        if status >= 500:
            raise AssertionError(f"GET /v1/lists/deny?{body[1:80]!r} answered {status}")


async def _call(app: Any, scope: dict[str, Any]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))

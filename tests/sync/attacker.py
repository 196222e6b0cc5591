"""An attacker terminal: legitimately enrolled, it signs batches it crafted itself.

It holds its own identity key and uses only the project's own protocol code (``pos.chain``,
``pos.wire.protocol``), so whatever it sends is exactly what a stolen or rooted terminal could
send: rows with any terminal id, any time, any token, chained and signed correctly.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from pos import chain
from pos.identity import Identity
from pos.sync.enroll import enroll
from pos.sync.lists import list_auth_headers
from pos.tokens import MODE_NFC, parse_token
from pos.wire import protocol as p
from tests.sync.harness import OPERATOR_TOKEN

# The order of the P-256 group: (r, n - s) verifies wherever (r, s) does.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def high_s_twin(raw: bytes) -> bytes:
    """The same ES256 token with s replaced by n - s: another digest, the same signed payment."""
    tagged = cbor2.loads(raw)
    sign1 = tagged.value if isinstance(tagged, cbor2.CBORTag) else tagged
    sig = sign1[3]
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    der = encode_dss_signature(r, P256_N - s)
    r2, s2 = decode_dss_signature(der)
    twin = [sign1[0], sign1[1], sign1[2], r2.to_bytes(32, "big") + s2.to_bytes(32, "big")]
    return bytes(cbor2.dumps(twin))


class Attacker:
    def __init__(self, data_dir: Path, url: str, tid: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        enroll(data_dir, url, OPERATOR_TOKEN, tid)
        self.identity = Identity(data_dir)
        self.url = url
        self.tid = tid
        self.chain: list[p.BatchRow] = []
        self.sent = 0

    def row(
        self, token: bytes, *, at: int, amount: int | None = None, terminal_id: str | None = None
    ) -> p.BatchRow:
        """Chain one payment row for ``token`` at claimed time ``at``."""
        t = parse_token(token)
        charged = amount if amount is not None else (t.amount if t.mode == MODE_NFC else t.max_amount)
        assert charged is not None
        prev = self.chain[-1].hash if self.chain else chain.GENESIS
        fields = dict(
            seq=len(self.chain) + 1, time=at, kind="payment", wallet_id=t.cert.wallet_id, counter=t.counter,
            amount=charged, currency=t.currency, mode=t.mode, terminal_id=terminal_id or self.tid,
            token_digest=hashlib.sha256(token).digest(),
        )  # fmt: skip
        row_hash = chain.Row(**fields, prev_hash=prev).hash()
        row = p.BatchRow(**fields, token=token, hash=row_hash)
        self.chain.append(row)
        return row

    def send(self, *, lists: dict[str, int] | None = None) -> dict[str, Any]:
        """Sign and post every row not sent yet; the collector's JSON answer."""
        rows = self.chain[self.sent :]
        prev = self.chain[self.sent - 1].hash if self.sent else chain.GENESIS
        batch = p.Batch(self.tid, p.new_nonce(), int(time.time()), prev, rows, [], lists=lists)
        payload = p.encode_payload(batch)
        body = p.encode_envelope(self.tid, payload, self.identity.sign(p.batch_message(payload)))
        r = httpx.post(
            f"{self.url}/v1/batches", content=body, headers={"Content-Type": p.CONTENT_TYPE}, trust_env=False
        )
        assert r.status_code == 200, r.text
        self.sent = len(self.chain)
        return dict(r.json())

    def fetch_deny_list(self) -> httpx.Response:
        """A signed list request, as the terminal's refresher makes one: the collector records it."""
        headers = list_auth_headers(self.identity, self.tid, "/v1/lists/deny", int(time.time()))
        return httpx.get(f"{self.url}/v1/lists/deny", headers=headers, trust_env=False)


def verdicts(answer: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {seq: (status, verdict) for seq, status, verdict in answer["results"]}

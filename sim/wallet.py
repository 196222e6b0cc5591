"""A demo wallet: a key, an issuer-signed certificate, and a counter that never repeats.

Saved as JSON (the private key PEM inside, 0600, DEMO). ``pay`` makes a typ-4 token in QR mode
(``max_amount``) or NFC mode (``amount`` with the terminal's challenge and id).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pos.fsutil import atomic_write
from pos.presentation import encode_text
from pos.wire.signing import PrivateKey, cose_key, load_private_pem, new_key, private_pem, sign1
from sim.keys import DEMO_MARK
from sim.scheme import DAY, Issuer


@dataclass
class Wallet:
    wallet_id: bytes
    key: PrivateKey
    cert: bytes
    currency: str
    counter: int = 0
    path: Path | None = None

    @classmethod
    def issue(
        cls,
        issuer: Issuer,
        alg: int,
        *,
        currency: str = "EUR",
        payment_limit: int = 10_000,
        offline_limit: int = 50_000,
        iat: int | None = None,
        valid_s: int = 365 * DAY,
        wallet_id: bytes | None = None,
    ) -> Wallet:
        iat = int(time.time()) if iat is None else iat
        key = new_key(alg)
        wid = wallet_id or os.urandom(8)
        payload = {
            0: 3,
            1: iat,
            2: iat + valid_s,
            6: wid,
            7: cose_key(key),
            8: currency,
            9: payment_limit,
            10: offline_limit,
        }
        return cls(wid, key, sign1(payload, issuer.key, kid=issuer.kid), currency)

    def token(
        self,
        *,
        max_amount: int | None = None,
        amount: int | None = None,
        challenge: bytes | None = None,
        terminal_id: str | None = None,
        now: int | None = None,
        lifetime_s: int = 60,
        counter: int | None = None,
        extra: dict[int, Any] | None = None,
    ) -> bytes:
        now = int(time.time()) if now is None else now
        if counter is None:
            self.counter += 1
            counter = self.counter
            self.save()
        payload: dict[int, Any] = {
            0: 4,
            1: now,
            2: now + lifetime_s,
            6: self.wallet_id,
            8: self.currency,
            11: counter,
        }
        if amount is not None:
            payload.update({13: amount, 14: challenge or bytes(16), 15: terminal_id or ""})
        else:
            payload[12] = max_amount if max_amount is not None else 0
        payload[16] = self.cert
        payload.update(extra or {})
        return sign1(payload, self.key)

    def qr_text(self, max_amount: int, *, now: int | None = None) -> str:
        return encode_text(self.token(max_amount=max_amount, now=now))

    def save(self) -> None:
        if self.path is None:
            return
        doc = {
            "demo": DEMO_MARK,
            "wallet_id": self.wallet_id.hex(),
            "key": private_pem(self.key).decode(),
            "cert": self.cert.hex(),
            "currency": self.currency,
            "counter": self.counter,
        }
        atomic_write(self.path, json.dumps(doc, indent=1).encode())

    @classmethod
    def load(cls, path: Path) -> Wallet:
        doc = json.loads(Path(path).read_text())
        return cls(
            bytes.fromhex(doc["wallet_id"]),
            load_private_pem(doc["key"].encode()),
            bytes.fromhex(doc["cert"]),
            doc["currency"],
            doc["counter"],
            Path(path),
        )

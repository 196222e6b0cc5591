"""A demo scheme on disk: root key, issuers, and signed trust and deny lists.

Layout of a scheme dir (all DEMO keys, 0600)::

    root.key  root.pem  DEMO.txt  scheme.json   issuers/<name>.key
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pos.fsutil import atomic_write
from pos.sigs import ALG_EDDSA
from pos.wire.denylist import deny_payload
from pos.wire.signing import (
    PrivateKey,
    alg_of,
    load_private_pem,
    new_key,
    private_pem,
    public_pem,
    public_raw,
    sign1,
    sign_payload,
)
from sim.keys import DEMO_MARK

DAY = 86400


@dataclass
class Issuer:
    name: str
    kid: bytes
    key: PrivateKey
    nbf: int
    exp: int

    def entry(self) -> dict[int, Any]:
        return {
            1: self.kid,
            2: alg_of(self.key),
            3: public_raw(self.key),
            4: self.nbf,
            5: self.exp,
            6: self.name,
        }


class Scheme:
    def __init__(self, path: Path) -> None:
        self.dir = Path(path)
        self.root = load_private_pem((self.dir / "root.key").read_bytes())
        self.meta: dict[str, Any] = json.loads((self.dir / "scheme.json").read_text())

    @classmethod
    def init(cls, path: Path, root_alg: int = ALG_EDDSA) -> Scheme:
        path = Path(path)
        (path / "issuers").mkdir(parents=True, exist_ok=True)
        root = new_key(root_alg)
        atomic_write(path / "root.key", private_pem(root))
        atomic_write(path / "root.pem", public_pem(root), mode=0o644)
        atomic_write(path / "DEMO.txt", (DEMO_MARK + "\n").encode(), mode=0o644)
        atomic_write(
            path / "scheme.json", json.dumps({"issuers": {}, "seq": {"1": 0, "2": 0}, "denied": []}).encode()
        )
        return cls(path)

    def _save(self) -> None:
        atomic_write(self.dir / "scheme.json", json.dumps(self.meta, indent=1).encode())

    @property
    def root_pem_path(self) -> Path:
        return self.dir / "root.pem"

    def add_issuer(self, name: str, alg: int, nbf: int | None = None, exp: int | None = None) -> Issuer:
        now = int(time.time())
        key = new_key(alg)
        atomic_write(self.dir / "issuers" / f"{name}.key", private_pem(key))
        kid = os.urandom(8)
        self.meta["issuers"][name] = {
            "kid": kid.hex(),
            "nbf": now - 365 * DAY if nbf is None else nbf,
            "exp": now + 5 * 365 * DAY if exp is None else exp,
        }
        self._save()
        return self.issuer(name)

    def issuer(self, name: str) -> Issuer:
        info = self.meta["issuers"][name]
        key = load_private_pem((self.dir / "issuers" / f"{name}.key").read_bytes())
        return Issuer(name, bytes.fromhex(info["kid"]), key, info["nbf"], info["exp"])

    def issuers(self) -> list[Issuer]:
        return [self.issuer(n) for n in sorted(self.meta["issuers"])]

    def _next_seq(self, typ: int, seq: int | None) -> int:
        seq = self.meta["seq"][str(typ)] + 1 if seq is None else seq
        self.meta["seq"][str(typ)] = max(seq, self.meta["seq"][str(typ)])
        self._save()
        return seq

    def trust_list(self, *, seq: int | None = None, iat: int | None = None, valid_s: int = 7 * DAY) -> bytes:
        iat = int(time.time()) if iat is None else iat
        payload = {
            0: 1,
            1: iat,
            2: iat + valid_s,
            3: self._next_seq(1, seq),
            4: [i.entry() for i in self.issuers()],
        }
        return sign1(payload, self.root)

    def deny(self, wallet_id: bytes) -> None:
        if wallet_id.hex() not in self.meta["denied"]:
            self.meta["denied"].append(wallet_id.hex())
            self._save()

    def deny_list(self, *, seq: int | None = None, iat: int | None = None, valid_s: int = 7 * DAY) -> bytes:
        iat = int(time.time()) if iat is None else iat
        ids = [bytes.fromhex(h) for h in self.meta["denied"]]
        return sign_payload(deny_payload(ids, iat, iat + valid_s, self._next_seq(2, seq)), self.root)

"""Token texts for synthetic camera frames: real OWT1 texts from simulator wallets, and QR
texts that are not OWT presentations. Used by ``sim.camera_frames``, the tests and the bench."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

OTHER_TEXTS = (
    "https://example.com/menu?table=12",
    "WIFI:S:cafe-guest;T:WPA;P:espresso2026;;",
    "OWTX-NOT-A-TOKEN-BUT-CLOSE",
    "Hello from a random sticker",
)


def owt_texts(n: int, *, max_amount: int = 500, now: int | None = None, seed: int | None = None) -> list[str]:
    """``n`` real OWT1 texts from simulator wallets (EdDSA and ES256 issuers, QR versions 12-13).

    With ``seed`` the texts are the same on every run: EdDSA keys from the seed (signatures are
    deterministic), half of the tokens made longer with an extra claim to reach the QR versions of
    ES256 tokens. Without it, wallets get fresh keys as in the demo.
    """
    from pos.sigs import ALG_EDDSA, ALG_ES256
    from sim.scheme import Scheme
    from sim.wallet import Wallet

    if seed is not None:
        return _seeded_texts(n, max_amount, 1_800_000_000 if now is None else now, seed)
    with tempfile.TemporaryDirectory(prefix="owt-frames-") as tmp:
        scheme = Scheme.init(Path(tmp) / "scheme")
        issuers = [
            (scheme.add_issuer("ed", ALG_EDDSA), ALG_EDDSA),
            (scheme.add_issuer("es", ALG_ES256), ALG_ES256),
        ]
        wallets = [Wallet.issue(issuer, alg) for issuer, alg in issuers]
        return [wallets[i % 2].qr_text(max_amount, now=now) for i in range(n)]


def _seeded_texts(n: int, max_amount: int, now: int, seed: int) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from pos.presentation import encode_text
    from pos.wire.signing import cose_key, sign1
    from sim.wallet import Wallet

    rng = np.random.default_rng(seed)
    issuer_key = ed25519.Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
    kid = rng.bytes(8)
    out = []
    for i in range(n):
        key = ed25519.Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
        wid = rng.bytes(8)
        cert = sign1(
            {0: 3, 1: now - 3600, 2: now + 86400, 6: wid, 7: cose_key(key), 8: "EUR", 9: 10_000, 10: 50_000},
            issuer_key,
            kid=kid,
        )
        wallet = Wallet(wid, key, cert, "EUR")
        extra = {99: rng.bytes(32)} if i % 2 else None
        out.append(encode_text(wallet.token(max_amount=max_amount, now=now, counter=i + 1, extra=extra)))
    return out

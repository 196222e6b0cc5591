"""``receipt``: what a customer hands to ``pos receipt verify @FILE`` (docs/receipts.md).

The input is written to a file and ``ui.cli.receipt.run_verify`` runs on ``@FILE`` as the command
line does: a PNG/JPEG is read by the camera's decoder chain (OpenCV, zxing-cpp), anything else is
``OWR1:`` text or COSE bytes; then ``pos.receipt.verify_receipt`` and the printed description.
Each input runs without a key (the receipt's own key), with ``--key``, and with ``pos.sigs.verify``
forced to True: a receipt that names its own key is signed by whoever made it, so every field a
forger can choose must be fuzzed past the signature too.

Invariants: exit 0 (valid, signer checked), 3 (intact, signer not checked) or 1 (invalid, with
``INVALID receipt:``), or a usage error; never
another exception.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

from fuzz_targets.core import signatures_forced


class FixedIdentity:
    """A terminal identity from a fixed seed (``pos.identity.Identity`` without its key file)."""

    def __init__(self, name: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        self.key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
        self.public_raw = self.key.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


class ReceiptHarness:
    def __init__(self) -> None:
        from pos import receipt
        from ui.cli import receipt as cmd_receipt
        from ui.runtime import provisioning

        logging.disable(logging.CRITICAL)
        self.receipt, self.cmd, self.UsageError = receipt, cmd_receipt, provisioning.UsageError
        self.identity = FixedIdentity("fuzz terminal")
        self.path = Path(tempfile.mkdtemp(prefix="owt-fuzz-receipt-")) / "receipt"

    def _fields(self, **kw: Any) -> Any:
        base: dict[str, Any] = {
            "terminal_id": "SHOP-7 till 2", "seq": 42, "time": 1_800_000_000, "amount": 1250,
            "currency": "EUR", "wallet_id": bytes(range(1, 9)), "counter": 7, "row_hash": bytes(range(32)),
        }  # fmt: skip
        return self.receipt.ReceiptFields(**(base | kw))

    def seeds(self) -> list[bytes]:
        import cv2

        from sim.camera_frames import render_code

        made = [
            self.receipt.make_receipt(self._fields(), self.identity),
            self.receipt.make_receipt(self._fields(row_hash=None, currency="JPY", amount=0), self.identity),
            self.receipt.make_receipt(self._fields(counter=2**64 - 1, seq=1), FixedIdentity("other")),
        ]
        out = [r.text.encode() for r in made] + [r.text.encode() + b"\r\n" for r in made[:1]]
        out += [r.cose for r in made]
        ok, png = cv2.imencode(
            ".png", cv2.copyMakeBorder(render_code(made[0].text, 2), 8, 8, 8, 8, 0, value=255)
        )
        out += [bytes(png)] if ok else []
        return out

    def check(self, data: bytes) -> None:
        self.path.write_bytes(data)
        key = self.identity.public_raw.hex()
        for forced in (False, True):
            with signatures_forced() if forced else contextlib.nullcontext():
                for k in (None, key):
                    self._verify(k)

    def _verify(self, key: str | None) -> None:
        args = argparse.Namespace(receipt=f"@{self.path}", key=key, data_dir=None, collector_db=None)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                code = self.cmd.run_verify(args)
        except self.UsageError:
            return
        if code not in (self.cmd.EXIT_OK, self.cmd.EXIT_NO, self.cmd.EXIT_UNCHECKED):
            raise AssertionError(f"pos receipt verify exited {code}")
        if code == self.cmd.EXIT_NO and not out.getvalue().startswith("INVALID receipt:"):
            raise AssertionError(f"exit 1 without a reason: {out.getvalue()[:80]!r}")

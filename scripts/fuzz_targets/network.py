"""``delta``: what the network answers a terminal's sync (a MITM or a rogue collector).

``ListRefresher.refresh`` runs against answers made from the input, through an ``httpx.Client``
on ``httpx.MockTransport`` (httpx's own transport seam: the client code, the streaming and the
size caps are the production ones, only the socket is gone). First byte ``m % 4``:

    0  GET /v1/lists/deny answers a deny *delta* (application/vnd.owt1.deny-delta+cbor): the rest
    1  GET /v1/lists/deny answers a full deny list (application/cose): the rest
    2  GET /v1/lists/trust answers a trust list: the rest
    3  POST /v1/batches answers ``Uploader._post``: status from the second byte, JSON body the rest

The key store holds the fixture's trust list (seq 7) and deny list (seq 3, six ids) on disk, and
is restored after an input installed something. Each input runs with the real signature checks
and with ``pos.sigs.verify`` forced to True (the rebuilt list and the install behind it).

Invariants: ``refresh`` reports failures in its result and raises nothing; the lists in force
never go back in seq and still load; ``_post`` returns a checked ``Answer`` or raises
``SyncError``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fuzz_targets.core import NOW, Fixture, signatures_forced

_STATUS = (200, 200, 200, 304, 400, 404, 409, 413, 500, 503)


class DeltaHarness:
    def __init__(self) -> None:
        import httpx
        from cryptography.hazmat.primitives import serialization

        from collector.lists import ListSigner
        from pos.errors import ListError
        from pos.journal import Journal
        from pos.keystore import KeyStore
        from pos.sync import lists, settings, state, uploader
        from pos.sync.transport import SyncError
        from pos.wire import denylist
        from pos.wire import protocol as p

        logging.disable(logging.CRITICAL)
        self.httpx, self.lists, self.p, self.denylist = httpx, lists, p, denylist
        self.KeyStore, self.SyncState, self.SyncError, self.ListError = (
            KeyStore,
            state.SyncState,
            SyncError,
            ListError,
        )
        self.fx = Fixture()
        pem = self.fx.root.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.signer = ListSigner(pem)
        self.dir = Path(tempfile.mkdtemp(prefix="owt-fuzz-delta-"))
        keys = KeyStore(self.dir, self.fx.root_pub)
        keys.install_trust_list(self.fx.trust_raw)
        keys.install_deny_list(self.fx.deny_raw)
        self.pristine = {f.name: f.read_bytes() for f in (self.dir / "lists").iterdir()}
        self.answers: dict[str, tuple[int, str, bytes]] = {}
        self.client = httpx.Client(
            base_url="http://collector.test", transport=httpx.MockTransport(self._answer)
        )
        self.uploader = uploader.Uploader(Journal(self.dir), self.client, "T-FUZZ", settings.SyncSettings())

    def _answer(self, request: Any) -> Any:
        key = request.url.path + ("?full" if request.url.params.get("full") == "1" else "")
        status, ctype, body = self.answers.get(key, (304, "", b""))
        return self.httpx.Response(status, headers={"content-type": ctype, "etag": '"x-1"'}, content=body)

    # -- seeds --------------------------------------------------------------------------------
    def seeds(self) -> list[bytes]:
        keys = self.KeyStore(self.dir, self.fx.root_pub).load()
        base = keys.deny.ids  # type: ignore[union-attr]
        old = [base.id_at(i) for i in range(base.count)]
        add, remove = [b"\x01" * 8, b"\xfe" * 8], old[:1]
        ids = sorted(set(old) - set(remove) | set(add))
        records, count = self.denylist.pack_ids(ids)
        full = self.signer.sign_list(self.denylist.encode_payload(NOW - 30, NOW + 86400, 4, records, count))
        protected, signature = _sign1_parts(full)
        delta = self.denylist.encode_delta(
            base=3, seq=4, iat=NOW - 30, next_update=NOW + 86400, count=count, add=add, remove=remove,
            protected=protected, signature=signature,
        )  # fmt: skip
        answer = {
            "tid": "T-FUZZ", "next_seq": 4, "chain": None, "locks": 1,
            "results": [[1, "stored", "ok"], [2, "duplicate", "duplicate"], [3, "refused", "chain_gap"]],
        }  # fmt: skip
        return [
            b"\x00" + delta,
            b"\x01" + full,
            b"\x01" + self.fx.deny_raw,
            b"\x02" + self.fx.trust_raw,
            b"\x03\x00" + json.dumps(answer).encode(),
            b"\x03\x06" + b'{"error": "replayed_batch", "detail": "this batch (nonce) was received before"}',
            b"\x03\x09not json",
        ]

    # -- the check ----------------------------------------------------------------------------
    def check(self, data: bytes) -> None:
        if not data:
            return
        for forced in (False, True):
            with signatures_forced() if forced else contextlib.nullcontext():
                if data[0] % 4 == 3:
                    self._post(data[1:])
                else:
                    self._refresh(data[0] % 4, data[1:])

    def _refresh(self, mode: int, body: bytes) -> None:
        cose, delta = self.p.COSE_TYPE, self.p.DENY_DELTA_TYPE
        self.answers = {
            0: {"/v1/lists/deny": (200, delta, body), "/v1/lists/deny?full": (200, cose, self.fx.deny_raw)},
            1: {"/v1/lists/deny": (200, cose, body)},
            2: {"/v1/lists/trust": (200, cose, body)},
        }[mode]
        keys = self.KeyStore(self.dir, self.fx.root_pub)
        result = self.lists.ListRefresher(self.client, keys, self.SyncState(self.dir)).refresh()
        if "installed" in result.trust or "installed" in result.deny:
            after = self.KeyStore(self.dir, self.fx.root_pub).load()  # what a restart would find
            if after.trust is None or after.deny is None or after.trust.seq < 7 or after.deny.seq < 3:
                raise AssertionError(f"lists rolled back or lost: {result}")
            self._restore()

    def _restore(self) -> None:
        lists_dir = self.dir / "lists"
        shutil.rmtree(lists_dir)
        lists_dir.mkdir()
        for name, raw in self.pristine.items():
            (lists_dir / name).write_bytes(raw)

    def _post(self, data: bytes) -> None:
        status = _STATUS[data[0] % len(_STATUS)] if data else 200
        self.answers = {"/v1/batches": (status, "application/json", data[1:])}
        with contextlib.suppress(self.SyncError):
            answer = self.uploader._post(b"batch")
            if not isinstance(answer, self.p.Answer):
                raise AssertionError(f"_post returned {answer!r}")


def _sign1_parts(raw: bytes) -> tuple[bytes, bytes]:
    """(protected, signature) of a COSE_Sign1 that ``denylist.encode_sign1`` made."""
    import cbor2

    arr = cbor2.loads(raw)
    arr = arr.value if isinstance(arr, cbor2.CBORTag) else arr
    return bytes(arr[0]), bytes(arr[3])

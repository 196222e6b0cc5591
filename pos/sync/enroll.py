"""Enrollment: register this terminal's id and Ed25519 public key with the collector, once.

The operator credential goes to the collector in an ``Authorization`` header over the checked
connection and is never stored on the terminal: either the operator token (automation) or a
one-time enrollment code minted in the collector's console (``Authorization: EnrollCode CODE``),
which enrolls one terminal once before it expires. The terminal signs (id, key, time) with the key
it enrolls, so nobody can enroll a key they do not hold. Enrolling again with the same key is
harmless; another key for an enrolled id is refused by the collector.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from pos.identity import TERMINAL_ID_RULE, Identity, valid_terminal_id
from pos.sync.settings import SyncSettings
from pos.sync.state import SyncState
from pos.sync.transport import SyncError, make_client, read_capped
from pos.wire import protocol as p

ENROLL_PATH = "/v1/enroll"
CODE_SCHEME = "EnrollCode"


def enroll(
    data_dir: Path,
    collector: str,
    operator_token: str | None,
    terminal_id: str,
    settings: SyncSettings | None = None,
    *,
    now: int | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """Enroll with the operator token, or with a one-time ``code`` (then the token is unused)."""
    settings = settings or SyncSettings()
    identity = Identity(data_dir)
    if not valid_terminal_id(terminal_id):
        raise SyncError(f"terminal id {terminal_id!r}: {TERMINAL_ID_RULE}", code="bad_terminal_id")
    fixed = identity.fixed_terminal_id
    if fixed is not None and fixed != terminal_id:
        raise SyncError(f"this data dir is enrolled as {fixed!r}", code="terminal_id_fixed")
    t = int(time.time()) if now is None else now
    sig = identity.sign(p.enroll_message(terminal_id, identity.public_raw, t))
    body = {"tid": terminal_id, "key": identity.public_raw.hex(), "time": t, "sig": sig.hex()}
    credential = f"{CODE_SCHEME} {code.strip()}" if code is not None else f"Bearer {operator_token or ''}"
    try:
        with make_client(collector, settings) as client:
            with client.stream(
                "POST", ENROLL_PATH, json=body, headers={"Authorization": credential}
            ) as resp:
                raw = read_capped(resp, 1 << 16)
                status = resp.status_code
    except httpx.HTTPError as exc:
        raise SyncError(
            f"cannot reach the collector: {type(exc).__name__}: {exc}", code="unreachable"
        ) from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: an answer nested too deep
        doc = {}
    if status not in (200, 201):
        why = doc.get("error", "") if isinstance(doc, dict) else ""
        raise SyncError(f"enrollment refused: {status} {why}".rstrip(), code=why or f"http_{status}")
    record = {
        "collector": collector,
        "terminal_id": terminal_id,
        "key": identity.public_raw.hex(),
        "fingerprint": identity.fingerprint,
        "time": t,
    }
    SyncState(data_dir).save_enrollment(record)
    identity.fix_terminal_id(terminal_id)
    return {"status": doc.get("status", "enrolled") if isinstance(doc, dict) else "enrolled", **record}

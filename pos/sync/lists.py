"""List refresh: fetch the trust and deny lists from the collector, verify, install atomically.

``If-None-Match`` with the ETag of the list in force makes an unchanged list a 304 of a few
bytes. The deny list is asked for as a delta from the seq in force (``?have=SEQ``); the
collector answers a delta when it knows that base, else the full list (docs/sync.md says why
deltas and not compression). Whatever arrives goes through ``KeyStore.install_*``: the pinned
root must verify it, a lower seq is refused (no rollback), and the file is replaced atomically,
so a crash mid-download leaves the old list in force. A refused list is an error to report; the
cached list stays in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from pos.errors import ListError
from pos.identity import Identity
from pos.keystore import KeyStore
from pos.sync.state import SyncState
from pos.sync.transport import SyncError, read_capped
from pos.trust import MAX_DENY_LIST_BYTES, MAX_TRUST_LIST_BYTES
from pos.wire import denylist
from pos.wire import protocol as p

log = logging.getLogger("pos.sync.lists")

TRUST_PATH = "/v1/lists/trust"
DENY_PATH = "/v1/lists/deny"


@dataclass
class RefreshResult:
    trust: str = "not_checked"
    deny: str = "not_checked"
    errors: list[str] = field(default_factory=list)
    deny_installed: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {"trust": self.trust, "deny": self.deny, "errors": self.errors}


def list_auth_headers(identity: Identity, terminal_id: str, path: str, now: int) -> dict[str, str]:
    """The signed headers of a list request (``pos.wire.protocol.list_request_message``)."""
    sig = identity.sign(p.list_request_message(terminal_id, path, now))
    return {p.HDR_TERMINAL: terminal_id, p.HDR_TIME: str(now), p.HDR_SIGNATURE: sig.hex()}


ListAuth = Callable[[str], dict[str, str]]


class ListRefresher:
    def __init__(
        self,
        client: httpx.Client,
        keystore: KeyStore,
        state: SyncState,
        *,
        on_deny_installed: Callable[[int], None] | None = None,
        auth: ListAuth | None = None,
    ) -> None:
        self.client = client
        self.keys = keystore
        self.state = state
        self.on_deny_installed = on_deny_installed
        self.auth = auth

    def refresh(self) -> RefreshResult:
        result = RefreshResult()
        for name, fetch in (("trust", self._trust), ("deny", self._deny)):
            try:
                setattr(result, name, fetch(result))
            except (SyncError, ListError, httpx.HTTPError) as exc:
                setattr(result, name, "error")
                result.errors.append(f"{name} list: {exc}")
                log.warning("%s list refresh failed: %s", name, exc)
        return result

    def _etag_for(self, name: str, seq: int | None) -> dict[str, str]:
        """If-None-Match only when the ETag we kept belongs to the list still in force."""
        tags = self.state.load().get("etags", {})
        entry = tags.get(name) if isinstance(tags, dict) else None
        if seq is not None and isinstance(entry, dict) and entry.get("seq") == seq and entry.get("etag"):
            return {"If-None-Match": str(entry["etag"])}
        return {}

    def _remember(self, name: str, resp: httpx.Response, seq: int) -> None:
        etag = resp.headers.get("etag")
        if etag:
            self.state.update(etags={name: {"etag": etag, "seq": seq}})

    def _get(self, path: str, headers: dict[str, str], cap: int, params: dict[str, str] | None = None) -> Any:
        if self.auth is not None:
            headers = {**headers, **self.auth(path)}
        with self.client.stream("GET", path, headers=headers, params=params) as resp:
            if resp.status_code == 304:
                return resp, None
            body = read_capped(resp, cap)
            if resp.status_code == 404:
                return resp, b""
            if resp.status_code != 200:
                raise SyncError(f"GET {path}: collector answered {resp.status_code}", code="list_http")
            return resp, body

    def _trust(self, result: RefreshResult) -> str:
        current = self.keys.load().trust
        resp, body = self._get(
            TRUST_PATH, self._etag_for("trust", current.seq if current else None), MAX_TRUST_LIST_BYTES
        )
        if body is None:
            return "not_modified"
        if not body:
            return "none_published"
        new, changed = self.keys.install_trust_list(body)
        self._remember("trust", resp, new.seq)
        return f"installed seq {new.seq}" if changed else "unchanged"

    def _deny(self, result: RefreshResult) -> str:
        current = self.keys.load().deny
        params = {"have": str(current.seq)} if current is not None else None
        headers = self._etag_for("deny", current.seq if current else None)
        headers["Accept"] = f"{p.DENY_DELTA_TYPE}, {p.COSE_TYPE}"
        resp, body = self._get(DENY_PATH, headers, MAX_DENY_LIST_BYTES, params)
        if body is None:
            return "not_modified"
        if not body:
            return "none_published"
        how = "full"
        ctype = resp.headers.get("content-type", "").split(";")[0].strip()
        if ctype == p.DENY_DELTA_TYPE:
            try:
                body = self._rebuild(body)
                how = "delta"
            except ListError as exc:
                log.warning("deny delta did not apply (%s); fetching the full list", exc)
                resp, body = self._get(DENY_PATH, {"Accept": p.COSE_TYPE}, MAX_DENY_LIST_BYTES, {"full": "1"})
                if not body:
                    raise SyncError("collector has no full deny list", code="list_missing") from None
        new, changed = self.keys.install_deny_list(body)
        self._remember("deny", resp, new.seq)
        if changed:
            result.deny_installed = new.seq
            if self.on_deny_installed is not None:
                self.on_deny_installed(new.seq)
            return f"installed seq {new.seq} ({len(new)} ids, {how})"
        return "unchanged"

    def _rebuild(self, body: bytes) -> bytes:
        delta = denylist.parse_delta(body)
        current = self.keys.load().deny
        if current is None or current.seq != delta.base:
            raise ListError(f"deny delta from seq {delta.base} does not fit the list in force")
        ids = current.ids
        records, count = (ids.buf, ids.count) if ids is not None else (b"", 0)
        return denylist.rebuild(records, count, delta)

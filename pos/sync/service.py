"""One sync pass (``pos sync``) and the background mode the terminal's run loop starts.

``SyncService`` is a daemon thread with its own journal connection: it never shares a SQLite
connection with the accepting thread, holds no lock across network I/O, and sleeps on an event
so ``stop()`` returns promptly. The keystore passed in should be the terminal's own, so a list
it installs is in force for the very next payment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pos import velocity
from pos.errors import ListError, PosError
from pos.journal import DB_FILE, Journal
from pos.keystore import KeyStore
from pos.sync.lists import ListRefresher, list_auth_headers
from pos.sync.settings import SyncSettings
from pos.sync.site_fetch import fetch_site_list
from pos.sync.state import SyncState
from pos.sync.transport import Backoff, SyncError, make_client
from pos.sync.uploader import PassResult, ProgressFn, Uploader

log = logging.getLogger("pos.sync")


def enrollment_of(data_dir: Path, journal: Journal) -> dict[str, Any]:
    enr = SyncState(data_dir).enrollment
    if enr is None:
        raise SyncError("this terminal is not enrolled: run `pos enroll` first", code="not_enrolled")
    if enr.get("key") != journal.identity.public_raw.hex():
        raise SyncError(
            "the identity key differs from the enrolled one: enroll this terminal again",
            code="key_changed",
        )
    return enr


def lists_held(store: KeyStore) -> Callable[[], dict[str, int] | None]:
    """The seqs of the lists in force, stated in every batch (the collector holds us to them)."""

    def held() -> dict[str, int] | None:
        try:
            snap = store.load()
        except PosError as exc:  # a list that no longer verifies: state nothing rather than fail
            log.warning("cannot read the lists in force: %s", exc)
            return None
        out = {"trust": snap.trust.seq} if snap.trust is not None else {}
        if snap.deny is not None:
            out["deny"] = snap.deny.seq
        return out

    return held


def sync_once(
    data_dir: Path,
    settings: SyncSettings,
    *,
    collector: str | None = None,
    keystore: KeyStore | None = None,
    lists: bool | None = True,
    upload: bool = True,
    deadline_s: float | None = None,
    on_progress: ProgressFn | None = None,
    backoff: Backoff | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Upload what is pending, then refresh the lists; return a JSON-able report.

    ``lists=None``: refresh only when the upload pass had nothing to send, so an idle terminal's
    conditional list fetch (a 304 when nothing changed) is the proof that the link is up.
    """
    data_dir = Path(data_dir)
    if not (data_dir / DB_FILE).exists():
        raise SyncError(f"{data_dir} holds no journal", code="no_journal")
    journal = Journal(data_dir)
    try:
        enr = enrollment_of(data_dir, journal)
        url = collector or settings.collector or enr["collector"]
        report: dict[str, Any] = {"collector": url, "terminal_id": enr["terminal_id"]}
        tid = enr["terminal_id"]
        try:
            store: KeyStore | None = keystore or KeyStore.pinned(data_dir)
        except ListError:  # no list installed yet: nothing to state, uploads still go
            store = None
        with make_client(url, settings) as client:
            if upload:
                uploader = Uploader(
                    journal, client, tid, settings,
                    backoff=backoff, stop=stop, on_progress=on_progress,
                    lists_held=lists_held(store) if store is not None else None,
                )  # fmt: skip
                report["upload"] = uploader.run_pass(deadline_s=deadline_s).as_json()
            if lists is None:
                lists = not report.get("upload", {}).get("attempts")
            if lists:
                store = store or KeyStore.pinned(data_dir)

                def cleared(seq: int) -> None:
                    velocity.clear(journal.db, f"deny list seq {seq}")

                def auth(path: str) -> dict[str, str]:
                    return list_auth_headers(journal.identity, tid, path, int(time.time()))

                refreshed = ListRefresher(
                    client, store, SyncState(data_dir), on_deny_installed=cleared, auth=auth
                ).refresh()
                report["lists"] = refreshed.as_json()
                report["site_list"] = fetch_site_list(client, data_dir, store.root, enr["terminal_id"])
                now = int(time.time())
                seen: dict[str, Any] = {"last_lists": {"time": now, **refreshed.as_json()}}
                if not refreshed.as_json().get("errors"):  # the collector answered: the link is up
                    seen.update(last_success=now, last_error=None)
                SyncState(data_dir).update(**seen)
        return report
    finally:
        journal.close()


class SyncService:
    """Background sync: upload every ``interval_s``, refresh lists every ``list_interval_s``."""

    def __init__(
        self,
        data_dir: Path,
        settings: SyncSettings,
        *,
        keystore: KeyStore | None = None,
        collector: str | None = None,
        on_pass: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.settings = settings
        self.keystore = keystore
        self.collector = collector
        self.on_pass = on_pass
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_report: dict[str, Any] | None = None
        self.passes = 0

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pos-sync", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask for a pass now (after a sale, or when the network comes back)."""
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        next_lists = 0.0
        while not self._stop.is_set():
            refresh = time.monotonic() >= next_lists
            try:
                report = sync_once(
                    self.data_dir, self.settings, collector=self.collector, keystore=self.keystore,
                    lists=True if refresh else None, stop=self._stop,
                    deadline_s=self.settings.interval_s * 4,
                )  # fmt: skip
                if refresh and report.get("lists", {}).get("errors") == []:
                    next_lists = time.monotonic() + self.settings.list_interval_s
                self.last_report = report
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
                log.warning("sync pass failed: %s", exc)
                code = getattr(exc, "code", type(exc).__name__)
                self.last_report = {"error": str(exc), "code": code}
                self._record_failure(str(exc), code)
            self.passes += 1
            if self.on_pass is not None:
                try:
                    self.on_pass(self.last_report)
                except Exception:  # a broken listener must not end the sync thread
                    log.exception("sync pass listener failed")
            self._wake.wait(self.settings.interval_s)
            self._wake.clear()

    def _record_failure(self, error: str, code: str) -> None:
        """A pass that failed before the uploader ran (no journal, not enrolled, a bad URL or
        certificate) still shows on the status bar, as the uploader's own failures do."""
        try:
            failure = {"time": int(time.time()), "error": error, "code": code}
            SyncState(self.data_dir).update(last_error=failure)
        except OSError as exc:
            log.warning("could not write the sync state: %s", exc)


def pass_summary(report: dict[str, Any]) -> dict[str, Any]:
    """One pass as log fields: counts, list outcomes and errors; never a URL, key or token."""
    upload: dict[str, Any] = report.get("upload") or {}
    lists: dict[str, Any] = report.get("lists") or {}
    fields: dict[str, Any] = {}
    if upload:
        fields.update(
            uploaded=upload.get("stored", 0),
            acknowledged=upload.get("acknowledged", 0),
            duplicates=upload.get("duplicates", 0),
            pending=upload.get("pending"),
            batches=upload.get("batches", 0),
        )
    if lists:
        fields.update(trust_list=lists.get("trust"), deny_list=lists.get("deny"))
    errors = [str(e) for e in (report.get("error"), upload.get("error")) if e]
    errors += [str(e) for e in lists.get("errors") or []]
    if upload.get("chain_error"):
        errors.append(f"collector flagged the chain: {upload['chain_error']}")
    fields["ok"] = not errors
    if errors:
        fields["error"] = "; ".join(errors)
        if report.get("code"):
            fields["code"] = report["code"]
    return fields


__all__ = ["PassResult", "SyncService", "pass_summary", "sync_once"]

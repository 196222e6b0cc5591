"""Trust and deny lists at the collector: history, publication, deltas, and the one signer.

``sign_list`` is the only code that touches the scheme root's private key. In the demo set-up
the collector holds that key (``--scheme DIR``); in production the same function is where an
HSM call would go. Without a signer the collector still detects and records double spends, but
cannot publish a new deny list (it says so in its log and in ``/metrics``).

Every list the collector imports or publishes is kept (table ``lists``): re-verification needs
the trust list in force at each payment's time, and a deny list delta needs its base.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector import deny_expiry
from collector.db import Database, Tx
from collector.list_watch import CHANNEL
from pos import cose, sigs
from pos.errors import CborError, ListError
from pos.tokens import TYP_DENY_LIST, TYP_TRUST_LIST
from pos.trust import TrustList, parse_deny_list, parse_trust_list
from pos.wire import denylist

log = logging.getLogger("collector.lists")

DAY = 86400
DENY_VALID_S = 7 * DAY
DENY_REFRESH_S = DAY
# A terminal further behind gets the full list: a delta's additions and removals accumulate,
# and the stored lists it would be built from may be pruned one day.
MAX_DELTA_SPAN = 32
MAX_DELTA_IDS = 10_000
LIST_VERSION = "SELECT count(*), coalesce(max(seq), 0) FROM lists WHERE typ = ?"  # trust lists held
DENY_LOCK_KEY = 0x4F575431  # advisory lock serialising deny list publication on PostgreSQL


class ListSigner:
    """Signs list payloads with the scheme root key; ``sign_list`` is the one entry point."""

    def __init__(self, private_pem: bytes) -> None:
        from pos.wire.signing import alg_of, load_private_pem

        self._key = load_private_pem(private_pem)
        self.alg = alg_of(self._key)
        self.public = self._key.public_key()

    @classmethod
    def from_scheme_dir(cls, path: Path) -> ListSigner:
        return cls((Path(path) / "root.key").read_bytes())

    def sign_list(self, payload: bytes) -> bytes:
        """A COSE_Sign1 over ``payload`` with the root key: ``[{1: alg}, {}, payload, sig]``."""
        from pos.wire.signing import sign_payload

        return sign_payload(payload, self._key)


def notify(tx: Tx) -> None:
    """Tell every serving process's list watch (``collector.list_watch``) at commit."""
    if tx.pg:
        tx.execute(f"NOTIFY {CHANNEL}")


def trust_history(raws: tuple[bytes, ...], root: sigs.PublicKey | None) -> list[tuple[int, TrustList]]:
    """Stored trust lists that verify with the root, ordered by iat (then seq)."""
    out = []
    if root is not None:
        for raw in raws:
            try:
                tl = parse_trust_list(raw, root)
            except ListError as exc:
                log.error("stored trust list does not verify: %s", exc)
                continue
            out.append((tl.iat, tl))
    out.sort(key=lambda x: (x[0], x[1].seq))
    return out


@dataclass(frozen=True, slots=True)
class Published:
    typ: int
    seq: int
    iat: int
    next_update: int
    raw: bytes


class Lists:
    """The list history in memory (trust lists parsed; deny lists by seq), reloaded on change."""

    def __init__(
        self,
        db: Database,
        root: sigs.PublicKey | None,
        signer: ListSigner | None,
        *,
        skew_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.root = root
        self.signer = signer
        self.skew_s = skew_s  # a wallet id leaves the list once its certificate expired plus this
        self.clock = clock
        self._lock = threading.Lock()
        self._trust: tuple[list[tuple[int, TrustList]], list[int]] = ([], [])  # swapped whole
        self._version: tuple[int, int] = (-1, -1)
        self._deny_meta: dict[int, tuple[bytes, bytes, int]] = {}  # seq -> (protected, sig, count)

    # -- import -----------------------------------------------------------------------------
    def import_list(self, raw: bytes) -> Published:
        if self.root is None:
            raise ListError("the collector has no root key to verify lists with (--scheme or --root-key)")
        try:
            lst = parse_trust_list(raw, self.root)
        except ListError:
            lst = parse_deny_list(raw, self.root)  # type: ignore[assignment]
        now = int(time.time())
        with self.db.write() as tx:
            tx.execute(
                "INSERT INTO lists (typ, seq, iat, next_update, raw, published_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (typ, seq) DO NOTHING",
                (lst.typ, lst.seq, lst.iat, lst.next_update, raw, now),
            )
            if lst.typ == TYP_DENY_LIST:
                ids = getattr(lst, "ids", None)
                rows = [(ids.id_at(i), "imported", now, lst.seq) for i in range(len(ids))] if ids else []
                tx.executemany(
                    "INSERT INTO denied (wallet_id, reason, created_at, added_seq) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (wallet_id) DO NOTHING",
                    rows,
                )
            notify(tx)
        self._version = (-1, -1)
        return Published(lst.typ, lst.seq, lst.iat, lst.next_update, raw)

    # -- reading ----------------------------------------------------------------------------
    def _reload(self, tx: Tx) -> None:
        version = tuple(tx.one(LIST_VERSION, (TYP_TRUST_LIST,)))
        if version == self._version:
            return
        raws = tuple(
            bytes(r) for (r,) in tx.all("SELECT raw FROM lists WHERE typ = ? ORDER BY seq", (TYP_TRUST_LIST,))
        )
        history = trust_history(raws, self.root)
        self._trust = (history, [iat for iat, _ in history])
        self._version = version

    def refresh(self) -> None:
        with self._lock, self.db.read() as tx:
            self._reload(tx)

    def refresh_if_changed(self, version: tuple[Any, ...]) -> None:
        """``refresh`` when ``version`` (``LIST_VERSION`` read by the caller) is not the one held."""
        if version != self._version:
            self.refresh()

    @property
    def version(self) -> tuple[int, int]:
        return self._version

    def trust_at(self, t: int) -> TrustList | None:
        """The newest trust list issued at or before ``t``: the one in force at that time."""
        history, iats = self._trust  # the issue times kept beside the lists: asked once per row
        i = bisect.bisect_right(iats, t)
        return history[i - 1][1] if i else None

    def latest(self, tx: Tx, typ: int) -> Published | None:
        row = tx.one(
            "SELECT seq, iat, next_update, raw FROM lists WHERE typ = ? ORDER BY seq DESC LIMIT 1", (typ,)
        )
        return Published(typ, row[0], row[1], row[2], bytes(row[3])) if row else None

    # -- deny list publication --------------------------------------------------------------
    def publish_deny(self, *, force: bool = False, now: int | None = None) -> int | None:
        """Sign and store a new deny list when wallets wait for one or the current one ages."""
        if self.signer is None:
            return None
        with self.db.write() as tx:
            return self.publish_deny_in(tx, force=force, now=now)

    def publish_deny_in(self, tx: Tx, *, force: bool = False, now: int | None = None) -> int | None:
        """``publish_deny`` inside the caller's write transaction (an operator action and its
        audit record commit together with the list they publish)."""
        if self.signer is None:
            return None
        now = int(self.clock()) if now is None else now
        tx.lock_global(DENY_LOCK_KEY)
        (pending,) = tx.one("SELECT count(*) FROM denied WHERE added_seq IS NULL")
        current = self.latest(tx, TYP_DENY_LIST)
        fresh = current is not None and now - current.iat < DENY_REFRESH_S and now >= current.iat
        if not pending and fresh and not force:
            return None
        seq = (current.seq if current else 0) + 1
        iat = max(now, current.iat if current else 0)
        deny_expiry.learn(tx)
        ids, dropped = deny_expiry.listed(tx, iat, self.skew_s)
        payload = denylist.deny_payload(ids, iat, iat + DENY_VALID_S, seq)
        raw = self.signer.sign_list(payload)
        tx.execute(
            "INSERT INTO lists (typ, seq, iat, next_update, raw, published_at) VALUES (?, ?, ?, ?, ?, ?)",
            (TYP_DENY_LIST, seq, iat, iat + DENY_VALID_S, raw, now),
        )
        tx.execute("UPDATE denied SET added_seq = ? WHERE added_seq IS NULL", (seq,))
        deny_expiry.mark_dropped(tx, dropped, seq)
        notify(tx)
        log.warning("published deny list seq %d with %d wallet ids", seq, len(ids))
        return seq

    def deny_delta(self, tx: Tx, base: int, current: Published) -> bytes | None:
        """A delta from ``base`` to ``current``, or None when ``base`` is unknown here."""
        if base >= current.seq or current.seq - base > MAX_DELTA_SPAN:
            return None
        if tx.one("SELECT 1 FROM lists WHERE typ = ? AND seq = ?", (TYP_DENY_LIST, base)) is None:
            return None
        # A wallet reinstated since ``base`` must leave the terminal's list: the full list does
        # that (reinstatements are rare operator actions; collector.operator_actions).
        if tx.one("SELECT 1 FROM audit WHERE action = 'reinstate' AND deny_list_seq > ?", (base,)):
            return None
        added = [
            bytes(w)
            for (w,) in tx.all(
                "SELECT wallet_id FROM denied WHERE added_seq > ? AND added_seq <= ?", (base, current.seq)
            )
        ]
        if len(added) > MAX_DELTA_IDS:  # the full list is hardly larger, and one parameter list less
            return None
        gone = deny_expiry.dropped_by(tx, current.seq, added)  # denied and expired before listed
        added = [w for w in added if w not in gone]
        removed = deny_expiry.removed_since(tx, base, current.seq)
        protected, sig, count = self._meta(current)
        return denylist.encode_delta(
            base=base, seq=current.seq, iat=current.iat, next_update=current.next_update, count=count,
            add=added, remove=removed, protected=protected, signature=sig,
        )  # fmt: skip

    def _meta(self, lst: Published) -> tuple[bytes, bytes, int]:
        meta = self._deny_meta.get(lst.seq)
        if meta is None:
            try:
                env, body = cose.parse_sign1(lst.raw, packed_ids=True)
            except CborError as exc:
                raise ListError(f"stored deny list seq {lst.seq} is malformed: {exc}") from None
            ids = body.get(5)
            meta = (env.protected, env.signature, len(ids) if ids is not None else 0)
            self._deny_meta = {lst.seq: meta}
        return meta

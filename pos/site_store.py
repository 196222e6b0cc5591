"""What a terminal has heard from its site: the spent set, shared passback, and the checks every
received announcement passes before it counts (issue 14). Pure apart from one lock: the receiver
thread adds, the core thread looks up; ``now`` is always given, never read.

- Entries live until the token's expiry plus the clock skew, then are useless (the token is
  declined ``token_expired`` anyway) and dropped, so memory is bounded by the site's payment
  rate times about 150 s, and by ``MAX_ENTRIES`` whatever a member sends.
- A datagram counts only when it names this site, comes from a member other than this terminal,
  fits the member's rate cap, verifies against the member's key, is not stale (token expired, or
  committed further in the future than the skew) and has a seq not seen from that member yet.
  The rate cap is checked before the signature, so a flood costs a dictionary lookup per
  datagram, not a verification.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from pos import sigs
from pos.site import Announcement, BadAnnouncement, Membership, decode, sender_of

MAX_ENTRIES = 200_000  # a hard cap on top of the rate caps: ~30 MB at worst
SEQ_WINDOW = 1024  # seqs below the newest minus this are taken as repeats (UDP may reorder a few)

# What happened to a datagram (counters in the log and the benchmark).
ACCEPTED, MALFORMED, OTHER_SITE, UNKNOWN, SELF = "accepted", "malformed", "other_site", "unknown", "self"
FLOOD, FORGED, STALE, REPEATED = "flood", "forged", "stale", "repeated"


@dataclass
class _Bucket:
    """A token bucket per claimed sender: ``rate`` datagrams per second, bursts of ``burst``."""

    tokens: float
    stamp: float

    def take(self, now: float, rate: float, burst: float) -> bool:
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _Peer:
    bucket: _Bucket
    newest: int = -1
    seen: set[int] = field(default_factory=set)

    def fresh(self, seq: int) -> bool:
        """True once per seq within the window; the window slides with the newest seq."""
        if seq <= self.newest - SEQ_WINDOW or seq in self.seen:
            return False
        self.seen.add(seq)
        if seq > self.newest:
            self.newest = seq
            floor = seq - SEQ_WINDOW
            if len(self.seen) > 2 * SEQ_WINDOW:
                self.seen = {s for s in self.seen if s > floor}
        return True


class SiteStore:
    """The spent set and passback memory, fed by verified announcements of site members."""

    def __init__(
        self,
        membership: Membership,
        self_id: str,
        *,
        skew_s: int = 30,
        group: str | None = None,
        peer_rate: float = 200.0,
        peer_burst: float = 400.0,
    ) -> None:
        self.membership = membership
        self.self_id = self_id
        self.skew_s = skew_s
        self.group = group
        self.peer_rate, self.peer_burst = peer_rate, peer_burst
        self._lock = threading.Lock()
        self._spent: dict[tuple[bytes, int], tuple[int, str, int]] = {}  # -> (keep until, tid, seq)
        self._passed: dict[bytes, int] = {}  # wallet id -> when it passed a gate of our group
        self._peers: dict[str, _Peer] = {}
        self.counts: dict[str, int] = {}
        self.last: Announcement | None = None  # the latest accepted one (for the receiver's log)

    # -- the accept path (core thread) ----------------------------------------------------------
    def spent_by(self, wallet_id: bytes, counter: int, now: int) -> tuple[str, int] | None:
        """(terminal id, seq) of a member that already committed (wallet id, counter), or None."""
        with self._lock:
            hit = self._spent.get((wallet_id, counter))
        if hit is None or hit[0] < now:
            return None
        return hit[1], hit[2]

    def passed(self, wallets: Iterable[bytes], now: int, window_s: int) -> bytes | None:
        """A wallet that passed another gate of this gate's group within ``window_s``."""
        if window_s <= 0 or self.group is None:
            return None
        with self._lock:
            for wid in wallets:
                when = self._passed.get(wid)
                if when is not None and 0 <= now - when < window_s:
                    return wid
        return None

    # -- the receiver (its own thread) ----------------------------------------------------------
    def receive(self, data: bytes, now: int, mono: float) -> str:
        """Judge one datagram; remember its entry only when every check passes."""
        verdict = self._judge(data, now, mono)
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        return verdict

    def _judge(self, data: bytes, now: int, mono: float) -> str:
        try:
            site, tid = sender_of(data)
        except BadAnnouncement:
            return MALFORMED
        if site != self.membership.site:
            return OTHER_SITE
        if tid == self.self_id:
            return SELF  # our own, looped back by multicast
        key = self.membership.key_of(tid)
        if key is None:
            return UNKNOWN
        peer = self._peers.get(tid)
        if peer is None:
            peer = self._peers[tid] = _Peer(_Bucket(self.peer_burst, mono))
        if not peer.bucket.take(mono, self.peer_rate, self.peer_burst):
            return FLOOD  # before the signature: a flood costs a lookup, not a verification
        try:
            a, message, sig = decode(data)
        except BadAnnouncement:
            return MALFORMED
        if not sigs.verify(key, sig, message):
            return FORGED
        if now > a.token_exp + self.skew_s or a.at_ms > (now + self.skew_s) * 1000:
            return STALE
        if not peer.fresh(a.seq):
            return REPEATED
        self.add(a, now)
        self.last = a
        return ACCEPTED

    def add(self, a: Announcement, now: int) -> None:
        """Remember a verified announcement until its token's expiry plus the skew."""
        with self._lock:
            if len(self._spent) >= MAX_ENTRIES:
                self._prune(now)
            if len(self._spent) < MAX_ENTRIES:
                self._spent[(a.wallet_id, a.counter)] = (a.token_exp + self.skew_s, a.terminal_id, a.seq)
            if a.group is not None and a.group == self.group and a.passed_at is not None:
                if a.passed_at > self._passed.get(a.wallet_id, -1):
                    self._passed[a.wallet_id] = a.passed_at
            if len(self._spent) % 1024 == 0:
                self._prune(now)

    def _prune(self, now: int) -> None:
        self._spent = {k: v for k, v in self._spent.items() if v[0] >= now}
        keep = now - 3600  # no passback window is longer than an hour
        self._passed = {w: t for w, t in self._passed.items() if t >= keep}

    def prune(self, now: int) -> int:
        with self._lock:
            self._prune(now)
            return len(self._spent)

    def __len__(self) -> int:
        with self._lock:
            return len(self._spent)

"""Who may read what: the operator and metrics bearer tokens, and a brake on guessing them.

Tokens are compared as SHA-256 digests with ``hmac.compare_digest``, so neither their length nor
their prefix leaks through timing. Failed attempts are counted per client address in a sliding
window; past ``limit`` failures the address gets 429 with ``Retry-After`` until the oldest
failure leaves the window, even with the right token, so an online guess costs a window per
``limit`` tries. The counts live in the serving process (``--processes N`` gives a guesser N
times the budget, still a handful of tries a minute).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from collector.service import Reject

DEFAULT_LIMIT = 10
DEFAULT_WINDOW_S = 60.0
_MAX_ADDRESSES = 10_000  # bounded memory however many addresses a guesser spreads over


class Throttled(Reject):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(429, "too_many_attempts", f"too many failed tokens; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def client_key(host: str) -> str:
    """The unit a limit counts: an IPv4 address, or an IPv6 /64 (one subscriber's prefix: an
    attacker picks any address in it, so counting single IPv6 addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def bearer(authorization: str | None) -> str:
    return (authorization or "").removeprefix("Bearer ").strip()


def token_matches(given: str, expected: str | None) -> bool:
    if not expected:
        return False
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


class FailedAttempts:
    """Failed token attempts per client address, in a sliding window."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise ``Throttled`` while ``client`` has used up its failures in the window."""
        now = self.clock()
        with self._lock:
            times = self._seen.get(client)
            if times is None:
                return
            while times and now - times[0] >= self.window_s:
                times.popleft()
            if not times:
                del self._seen[client]
                return
            if len(times) >= self.limit:
                raise Throttled(max(1, math.ceil(self.window_s - (now - times[0]))))

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._seen.pop(client, None) or deque(maxlen=self.limit)
            times.append(now)
            self._seen[client] = times  # most recent last: the oldest address is evicted first
            while len(self._seen) > _MAX_ADDRESSES:
                self._seen.popitem(last=False)

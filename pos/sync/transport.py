"""HTTP to the collector: certificate checks, the plain-HTTP rule, capped reads, backoff.

HTTPS verifies the collector's certificate and host name, against a CA file or a pinned
certificate (trusted as the only anchor, ``VERIFY_X509_PARTIAL_CHAIN`` so a pinned leaf works)
or else the system CAs. Plain HTTP is allowed only to 127.0.0.1, ::1 and localhost (tests, a
collector on the same box). Environment proxies are ignored (``trust_env=False``) so payments
never take a detour nobody configured; redirects are not followed.
"""

from __future__ import annotations

import functools
import random
import socket
import ssl
from pathlib import Path

import httpx

from pos.errors import ConfigError, PosError
from pos.sync.settings import SyncSettings

LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
USER_AGENT = "owt-pos-sync/1"


class SyncError(PosError):
    """An upload, enrollment or refresh that could not be done; the message says why."""

    def __init__(self, message: str, *, code: str = "error", retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ConfigError(f"collector URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"collector URL {url!r} must be https://HOST[:PORT]")
    if parsed.userinfo:
        raise ConfigError("collector URL must not carry credentials")
    if parsed.scheme == "http" and parsed.host not in LOCAL_HOSTS:
        raise ConfigError(
            f"refusing plain http to {parsed.host}: payments travel only over https "
            "(plain http is for 127.0.0.1/localhost)"
        )
    return parsed


def ssl_context(ca_file: Path | None = None, pinned_cert: Path | None = None) -> ssl.SSLContext:
    try:
        if pinned_cert is not None:
            ctx = ssl.create_default_context(cafile=str(pinned_cert))
            ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        elif ca_file is not None:
            ctx = ssl.create_default_context(cafile=str(ca_file))
        else:
            ctx = ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the collector certificate: {exc}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@functools.cache
def _unused_context() -> ssl.SSLContext:
    """For plain http to localhost: never used for a handshake, and cheap (no CA bundle load)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def make_client(url: str, settings: SyncSettings) -> httpx.Client:
    base = check_url(url)
    if base.scheme == "https":
        verify = ssl_context(settings.ca_file, settings.pinned_cert)
    else:
        verify = _unused_context()
    timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
    # TCP_NODELAY: a request goes out as headers then body; without it the body waits for the
    # peer's delayed ACK (~40 ms per batch on Linux).
    transport = httpx.HTTPTransport(
        verify=verify,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    return httpx.Client(
        base_url=base,
        transport=transport,
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def read_capped(resp: httpx.Response, cap: int) -> bytes:
    """The body, refused past ``cap`` bytes before it is all in memory."""
    declared = resp.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise SyncError(f"answer of {declared} bytes is over the {cap}-byte cap", code="too_large")
    buf = bytearray()
    for chunk in resp.iter_bytes():
        buf += chunk
        if len(buf) > cap:
            raise SyncError(f"answer over the {cap}-byte cap", code="too_large")
    return bytes(buf)


class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(cap, base * 2**attempt))."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.base = base_s
        self.cap = cap_s
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0

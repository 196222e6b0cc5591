"""Spent-token announcements between the terminals of one site (issue 14): the codec, the
membership list and the checks a received datagram must pass. Pure: no socket, no clock read.

An announcement says "terminal T committed payment seq S: wallet W, counter C, token digest D,
valid until E" (and, from a gate of a group, "W passed gate group G at time P"). It is signed
with T's identity key (``pos.identity``, Ed25519), so a receiver that knows T's public key from
the site's membership list knows T said it. What T can do with that is bounded on purpose: an
entry only ever makes a receiver *decline* the (W, C) it names (or refuse W ``passback`` for a
window), never approve anything; a rogue or stolen member can deny service to the wallets whose
codes it names, no more (docs/site.md).

Wire layout (big-endian, fixed fields, one datagram, at most ``MAX_DATAGRAM`` bytes)::

    "OWS1" | flags u8 | len u8 + site id | len u8 + terminal id | seq u64 | wallet id 8 |
    counter u64 | token digest 32 | token exp u64 | committed at, ms u64 |
    [flags & 1: len u8 + gate group | passed at u64] | Ed25519 signature 64

A fixed layout rather than CBOR: a receiver under a flood must find the claimed sender (and drop
an unknown one) with a few slices, before any allocation-heavy parsing or any signature check.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from pos.errors import ConfigError

MAGIC = b"OWS1"
DOMAIN = b"OWT1-SITE-ANNOUNCE-v1\x00"  # the signature covers this too: no cross-protocol reuse
MAX_DATAGRAM = 512
SIG_LEN = 64
FLAG_PASSBACK = 0x01
_FIXED = struct.Struct(">Q8sQ32sQQ")
_U64 = struct.Struct(">Q")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_MEMBERS = 4096


def valid_name(text: str) -> bool:
    """A site id, terminal id or gate group that fits an announcement."""
    return _NAME.fullmatch(text) is not None


class BadAnnouncement(ValueError):
    """A datagram that is not a well-formed announcement (dropped, counted as ``malformed``)."""


@dataclass(frozen=True, slots=True)
class Announcement:
    site: str
    terminal_id: str
    seq: int
    wallet_id: bytes
    counter: int
    token_digest: bytes
    token_exp: int
    at_ms: int  # when the sender committed the payment, epoch milliseconds (its clock)
    group: str | None = None  # the gate group the wallet passed, for shared passback
    passed_at: int | None = None


def _name(value: str, what: str) -> bytes:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r}: 1-64 of A-Z a-z 0-9 . _ -")
    return bytes([len(value)]) + value.encode("ascii")


def body(a: Announcement) -> bytes:
    """The signed part of the datagram."""
    flags = FLAG_PASSBACK if a.group is not None else 0
    out = MAGIC + bytes([flags]) + _name(a.site, "site id") + _name(a.terminal_id, "terminal id")
    out += _FIXED.pack(a.seq, a.wallet_id, a.counter, a.token_digest, a.token_exp, a.at_ms)
    if a.group is not None:
        passed = a.passed_at if a.passed_at is not None else a.at_ms // 1000
        out += _name(a.group, "gate group") + _U64.pack(passed)
    return out


def encode(a: Announcement, sign: Callable[[bytes], bytes]) -> bytes:
    """The datagram: body then the sender's Ed25519 signature over DOMAIN + body."""
    b = body(a)
    sig = sign(DOMAIN + b)
    if len(sig) != SIG_LEN:
        raise ValueError("an announcement is signed with an Ed25519 key")
    return b + sig


def _take_name(data: bytes, at: int) -> tuple[str, int]:
    if at >= len(data):
        raise BadAnnouncement("truncated")
    n = data[at]
    raw = data[at + 1 : at + 1 + n]
    if len(raw) != n or n == 0:
        raise BadAnnouncement("truncated name")
    text = raw.decode("ascii", "replace")
    if not _NAME.fullmatch(text):
        raise BadAnnouncement("bad name")
    return text, at + 1 + n


def sender_of(data: bytes) -> tuple[str, str]:
    """(site id, claimed terminal id): the cheap first look, before anything is verified."""
    if len(data) > MAX_DATAGRAM or len(data) < len(MAGIC) + 1 + SIG_LEN or data[:4] != MAGIC:
        raise BadAnnouncement("not an OWS1 datagram")
    site, at = _take_name(data, 5)
    tid, _ = _take_name(data, at)
    return site, tid


def decode(data: bytes) -> tuple[Announcement, bytes, bytes]:
    """Parse strictly: (announcement, signed message, signature). Verifies nothing."""
    site, tid = sender_of(data)
    flags = data[4]
    if flags & ~FLAG_PASSBACK:
        raise BadAnnouncement("unknown flags")
    at = 5 + 1 + len(site) + 1 + len(tid)
    end = at + _FIXED.size
    if end > len(data) - SIG_LEN:
        raise BadAnnouncement("truncated")
    seq, wallet, counter, digest, exp, when = _FIXED.unpack_from(data, at)
    group: str | None = None
    passed: int | None = None
    if flags & FLAG_PASSBACK:
        group, end = _take_name(data, end)
        if end + _U64.size > len(data) - SIG_LEN:
            raise BadAnnouncement("truncated")
        (passed,) = _U64.unpack_from(data, end)
        end += _U64.size
    if end != len(data) - SIG_LEN:
        raise BadAnnouncement("trailing bytes")
    a = Announcement(site, tid, seq, wallet, counter, digest, exp, when, group, passed)
    return a, DOMAIN + data[:end], data[end:]


# -- membership ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Membership:
    """Who belongs to a site: terminal id -> Ed25519 public identity key."""

    site: str
    members: dict[str, ed25519.Ed25519PublicKey]

    def key_of(self, terminal_id: str) -> ed25519.Ed25519PublicKey | None:
        return self.members.get(terminal_id)


def membership_from_doc(doc: Any, source: str) -> Membership:
    """``{"site": ID, "members": [{"terminal_id": T, "key": 64 hex digits}, ...]}``, strictly."""
    if not isinstance(doc, dict) or set(doc) != {"site", "members"}:
        raise ConfigError(f"{source}: a site membership list is {{'site': ..., 'members': [...]}}")
    site, members = doc["site"], doc["members"]
    if not isinstance(site, str) or not _NAME.fullmatch(site):
        raise ConfigError(f"{source}: site id must be 1-64 of A-Z a-z 0-9 . _ -")
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        raise ConfigError(f"{source}: members must be a list of at most {MAX_MEMBERS}")
    keys: dict[str, ed25519.Ed25519PublicKey] = {}
    for m in members:
        if not isinstance(m, dict) or set(m) != {"terminal_id", "key"}:
            raise ConfigError(f"{source}: each member is {{'terminal_id': ..., 'key': ...}}")
        tid, key = m["terminal_id"], m["key"]
        if not isinstance(tid, str) or not _NAME.fullmatch(tid) or tid in keys:
            raise ConfigError(f"{source}: bad or repeated terminal id {tid!r}")
        try:
            raw = bytes.fromhex(key) if isinstance(key, str) else b""
            keys[tid] = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise ConfigError(f"{source}: {tid}: key must be 64 hex digits (Ed25519)") from None
    return Membership(site, keys)


def load_membership(path: Path) -> Membership:
    """A local membership file (sites without a collector): JSON, installed by the operator."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the site membership list: {exc}") from None
    return membership_from_doc(doc, str(path))


def member_doc(site: str, members: dict[str, bytes]) -> dict[str, Any]:
    """The document ``membership_from_doc`` reads, from terminal id -> raw public key."""
    return {"site": site, "members": [{"terminal_id": t, "key": k.hex()} for t, k in sorted(members.items())]}

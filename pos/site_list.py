"""The site membership list the collector publishes (issue 14): a COSE_Sign1 signed with the
scheme root key, like the trust and deny lists, so a terminal verifies it with the root it
already pins and needs no new trust anchor.

Payload (CBOR map, integer labels; typ 5 is this project's extension beside SPEC's 1-4)::

    {0: 5, 1: iat, 3: seq, 20: site id, 21: [[terminal id, Ed25519 public key (32 bytes)], ...]}

``seq`` grows with every change of the site; a terminal refuses a lower one (no rollback to a
list that still names a removed, perhaps stolen, terminal).
"""

from __future__ import annotations

from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos import cose, sigs
from pos.errors import CborError, ListError
from pos.site import MAX_MEMBERS, Membership

TYP_SITE_LIST = 5
L_TYP, L_IAT, L_SEQ, L_SITE, L_MEMBERS = 0, 1, 3, 20, 21
MAX_SITE_LIST_BYTES = 64 * 1024


def payload(site: str, seq: int, iat: int, members: dict[str, bytes]) -> bytes:
    """What the collector signs: the members sorted by terminal id (one encoding per content)."""
    rows = [[tid, members[tid]] for tid in sorted(members)]
    return bytes(cbor2.dumps({L_TYP: TYP_SITE_LIST, L_IAT: iat, L_SEQ: seq, L_SITE: site, L_MEMBERS: rows}))


def parse_site_list(raw: bytes, root: sigs.PublicKey) -> tuple[Membership, int]:
    """Verify with the pinned root, parse strictly: (membership, seq). ``ListError`` otherwise."""
    what = "site list"
    if len(raw) > MAX_SITE_LIST_BYTES:
        raise ListError(f"{what}: {len(raw)} bytes is over the cap")
    try:
        env, body = cose.parse_sign1(raw)
    except CborError as exc:
        raise ListError(f"{what}: not a well-formed COSE_Sign1: {exc}") from None
    if env.alg != sigs.alg_of(root) or not sigs.verify(root, env.signature, env.to_be_signed()):
        raise ListError(f"{what}: signature does not verify with the pinned root key")
    if type(body) is not dict or body.get(L_TYP) != TYP_SITE_LIST:
        raise ListError(f"{what}: payload typ is not {TYP_SITE_LIST}")
    seq, site, rows = body.get(L_SEQ), body.get(L_SITE), body.get(L_MEMBERS)
    if type(seq) is not int or seq < 0 or type(site) is not str or type(rows) is not list:
        raise ListError(f"{what}: seq, site and members must be uint, tstr and array")
    if len(rows) > MAX_MEMBERS:
        raise ListError(f"{what}: too many members")
    return Membership(site, _members(rows, what)), seq


def _members(rows: list[Any], what: str) -> dict[str, ed25519.Ed25519PublicKey]:
    out: dict[str, ed25519.Ed25519PublicKey] = {}
    for row in rows:
        if type(row) is not list or len(row) != 2 or type(row[0]) is not str or type(row[1]) is not bytes:
            raise ListError(f"{what}: a member is [terminal id, key]")
        if row[0] in out or len(row[1]) != 32:
            raise ListError(f"{what}: member {row[0]!r} repeated or its key is not 32 bytes")
        out[row[0]] = ed25519.Ed25519PublicKey.from_public_bytes(row[1])
    return out

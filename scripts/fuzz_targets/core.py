"""Fuzz targets of the terminal core: ``token``, ``text`` and ``lists``.

The invariant: whatever the bytes, the token and text paths raise only ``pos.errors.Decline`` and
the list parsers only ``pos.errors.ListError``; any other exception is a crash. Each input runs
twice: with the real signature checks, and with ``pos.sigs.verify`` forced to True, because no
fuzzer forges a signature and every rule behind one (dates, deny list, binding, amounts, list
bodies) would otherwise go unfuzzed. Extra invariants: accepted base45 text re-encodes to the
same text (strictness), a parsed deny list finds its own ids.

The fixture is deterministic (keys from fixed seeds, a fixed clock), so a corpus saved by one run
still holds validly signed documents for the next.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

NOW = 1_800_000_000
TERMINAL_ID = "T-FUZZ"
CHALLENGE = bytes(range(16))


# -- the fixture ----------------------------------------------------------------------------------
class Fixture:
    """A scheme with an Ed25519 and a P-256 issuer, signed lists, and one wallet of each alg."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        from pos import sigs
        from pos.decision import PaymentRequest, Policy, TerminalState
        from pos.keystore import KeySnapshot
        from pos.trust import parse_deny_list, parse_trust_list
        from pos.wire.signing import cose_key, public_raw, sign1

        def ed(name: str) -> Any:
            return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())

        def p256(name: str) -> Any:
            secret = int.from_bytes(hashlib.sha256(name.encode()).digest(), "big") % (2**255) + 1
            return ec.derive_private_key(secret, ec.SECP256R1())

        self.sign1 = sign1
        self.root = ed("fuzz root")
        self.root_pub = self.root.public_key()
        self.issuers = {
            "ed": (ed("fuzz issuer ed"), b"ISSUERED"),
            "es": (p256("fuzz issuer es"), b"ISSUERES"),
        }
        self.wallets: list[tuple[Any, bytes, bytes]] = []  # (key, wallet id, certificate)
        for alg, issuer in (("ed", "ed"), ("es", "es"), ("es", "ed"), ("ed", "es")):
            key = ed(f"wallet {alg} {issuer}") if alg == "ed" else p256(f"wallet {alg} {issuer}")
            wid = hashlib.sha256(f"id {alg} {issuer}".encode()).digest()[:8]
            ikey, kid = self.issuers[issuer]
            cert = sign1(
                {
                    0: 3,
                    1: NOW - 3600,
                    2: NOW + 86400,
                    6: wid,
                    7: cose_key(key),
                    8: "EUR",
                    9: 10_000,
                    10: 50_000,
                },
                ikey,
                kid=kid,
            )
            self.wallets.append((key, wid, cert))
        entries = [
            {1: kid, 2: sigs.alg_of(k.public_key()), 3: public_raw(k), 4: NOW - 86400, 5: NOW + 86400, 6: n}
            for n, (k, kid) in self.issuers.items()
        ]
        self.trust_raw = sign1({0: 1, 1: NOW - 60, 2: NOW + 86400, 3: 7, 4: entries}, self.root)
        denied = sorted(
            [hashlib.sha256(b"denied %d" % i).digest()[:8] for i in range(5)] + [self.wallets[3][1]]
        )
        self.deny_raw = sign1({0: 2, 1: NOW - 60, 2: NOW + 86400, 3: 3, 5: denied}, self.root)
        self.keys = KeySnapshot(
            parse_trust_list(self.trust_raw, self.root_pub), parse_deny_list(self.deny_raw, self.root_pub)
        )
        self.requests = (
            PaymentRequest(amount=500, currency="EUR", now=NOW, terminal_id=TERMINAL_ID),
            PaymentRequest(amount=500, currency="EUR", now=NOW, terminal_id=TERMINAL_ID, challenge=CHALLENGE),
        )
        self.policy = Policy()
        self.state = TerminalState(newest_time=NOW - 10, locked_wallets=frozenset({self.wallets[2][1]}))

    def token(
        self, i: int, *, nfc: bool = False, tag: bool = False, extra: dict[int, Any] | None = None
    ) -> bytes:
        key, wid, cert = self.wallets[i % len(self.wallets)]
        body: dict[int, Any] = {0: 4, 1: NOW - 5, 2: NOW + 55, 6: wid, 8: "EUR", 11: 1 + i}
        if nfc:
            body.update({13: 500, 14: CHALLENGE, 15: TERMINAL_ID})
        else:
            body[12] = 1000
        body[16] = cert
        body.update(extra or {})
        return self.sign1(body, key, tag=tag)

    def token_seeds(self) -> list[bytes]:
        out = [self.token(i, nfc=nfc) for i in range(4) for nfc in (False, True)]
        out += [
            self.token(0, tag=True),
            self.token(1, nfc=True, tag=True),
            self.token(0, extra={99: "future label"}),
            self.token(1, extra={2: NOW + 500}),  # lifetime over 120 s
            self.token(0, extra={12: 20_000}),  # above the payment limit
            self.token(0, extra={13: 500}),  # both modes
            self.sign1({0: 4, 1: NOW}, self.wallets[0][0], unprotected={4: b"12345678"}),
            self.wallets[0][2],  # a certificate where a token belongs
            self.trust_raw,
        ]
        return out

    def text_seeds(self) -> list[bytes]:
        from pos.presentation import encode_text

        toks = self.token_seeds()
        out = [encode_text(t).encode() for t in toks]
        out += [
            encode_text(toks[0]).encode() + b"\r\n",
            b"OWT2:" + out[0][5:],
            b"OWT1:",
            b"OWT1:00",
            b"owt1:AB",
        ]
        return out

    def list_seeds(self) -> list[bytes]:
        s, root = self.sign1, self.root
        return [
            self.trust_raw,
            self.deny_raw,
            s({0: 2, 1: NOW, 2: NOW + 10, 3: 1, 5: []}, root),
            s({0: 2, 1: NOW, 2: NOW + 10, 3: 1, 5: [b"\x00" * 8, b"\x00" * 7 + b"\x01"]}, root),
            s(
                {0: 1, 1: NOW, 2: NOW + 10, 3: 1, 4: [{1: b"K" * 8, 2: -35, 3: b"?", 4: 0, 5: 1, 6: "x"}]},
                root,
            ),
            s({0: 1, 1: NOW, 2: NOW + 10, 3: 1, 4: []}, root, tag=True),
        ]

    def seeds(self, target: str) -> list[bytes]:
        return {"token": self.token_seeds, "text": self.text_seeds, "lists": self.list_seeds}[target]()


# -- the checks -----------------------------------------------------------------------------------
@contextlib.contextmanager
def signatures_forced() -> Iterator[None]:
    from pos import sigs

    real = sigs.verify
    sigs.verify = lambda *_a: True  # type: ignore[assignment]
    try:
        yield
    finally:
        sigs.verify = real


def _token_checks(fx: Fixture, data: bytes) -> None:
    from pos.errors import Decline
    from pos.tokens import parse_token
    from pos.verify import check_token

    try:
        token = parse_token(data)
    except Decline:
        return
    for forced in (False, True):
        with signatures_forced() if forced else contextlib.nullcontext():
            for request in fx.requests:
                with contextlib.suppress(Decline):
                    check_token(token, fx.keys, request, fx.policy, fx.state)


def check_token_input(fx: Fixture, data: bytes) -> None:
    _token_checks(fx, data)


def check_text_input(fx: Fixture, data: bytes) -> None:
    from pos.errors import Decline
    from pos.presentation import decode_text, encode_text

    for text in (data, _latin1(data)):
        try:
            raw = decode_text(text)
        except Decline:
            continue
        stripped = data.rstrip(b"\r\n")
        if encode_text(raw).encode() != stripped:
            raise AssertionError(f"non-canonical text accepted: {stripped[:80]!r}")
        _token_checks(fx, raw)


def _latin1(data: bytes) -> str:
    return data.decode("latin-1")  # str input: non-ASCII must be a decline, not a crash


def check_list_input(fx: Fixture, data: bytes) -> None:
    from pos.errors import ListError
    from pos.trust import parse_deny_list, parse_trust_list

    for forced in (False, True):
        with signatures_forced() if forced else contextlib.nullcontext():
            with contextlib.suppress(ListError):
                trust = parse_trust_list(data, fx.root_pub)
                for issuer in trust.issuers.values():
                    issuer.valid_at(NOW)
            try:
                deny = parse_deny_list(data, fx.root_pub)
            except ListError:
                continue
            ids = deny.ids
            if ids is not None:
                for i in {0, len(ids) // 2, len(ids) - 1} if len(ids) else ():
                    if not deny.contains(ids.id_at(i)):
                        raise AssertionError(f"deny list does not find its own id #{i}")
            deny.contains(b"\xff" * 8)
            deny.contains(b"short")


CHECKS: dict[str, Callable[[Fixture, bytes], None]] = {
    "token": check_token_input,
    "text": check_text_input,
    "lists": check_list_input,
}


class CoreHarness:
    """One of the three core targets on a shared deterministic fixture."""

    def __init__(self, target: str) -> None:
        self.fx = Fixture()
        self.target = target
        self._check = CHECKS[target]

    def seeds(self) -> list[bytes]:
        return self.fx.seeds(self.target)

    def check(self, data: bytes) -> None:
        self._check(self.fx, data)

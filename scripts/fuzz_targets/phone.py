"""``apdu``: a hostile phone against the reader's side of NFC (SPEC 2, NFC).

The input is the card's whole side of one tap: its SEL_RES, then one record per frame the reader
receives: a length byte and that many bytes (the ATS, then ISO-DEP blocks carrying R-APDUs), or
``FF``/``FE``/``FD``/``FC`` for nfcpy's timeout, transmission, broken-link and protocol errors.
When the input runs out the card is silent. ``NfcSource._transact`` runs on it unchanged: ATS
parsing, the bounded ISO-DEP initiator (chaining, R(ACK)/R(NAK), S(WTX), block numbers), the
status words and ``61 XX`` / GET RESPONSE, the size caps; the token it returns goes to the core's
token path.

The frontend is ``HostileCard``, not ``nfc.ContactlessFrontend``: nfcpy's ``udp:`` driver waits
up to a second per poll, so a real radio path would fuzz a few inputs a second. It offers the
three members ``_transact`` uses (``exchange``, ``max_recv_data_size``, ``max_send_data_size``)
and raises nfcpy's own exception classes as its drivers do. The start-up frame guard sleep is
skipped (it waits on the radio, not on the parser); every timeout and deadline is the reader's.

Invariants: ``_transact`` returns at most ``max_response`` bytes or raises ``SourceFailure`` with
one of the documented NFC outcomes; the reader makes a bounded number of exchanges; the token
path raises only ``Decline``.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from fuzz_targets.core import Fixture, check_token_input

MAX_RESPONSE = 1024  # a small cap (production: 4096) so the fuzzer reaches the overflow paths
_ERRORS = {0xFF: "TimeoutError", 0xFE: "TransmissionError", 0xFD: "BrokenLinkError", 0xFC: "ProtocolError"}


class HostileCard:
    """The card's frames from the fuzz input, in order; silent (nfcpy's TimeoutError) after them."""

    max_recv_data_size = 256
    max_send_data_size = 256

    def __init__(self, data: bytes, clf_errors: Any) -> None:
        self.data, self.at, self.calls = data, 0, 0
        self.errors = clf_errors

    def exchange(self, frame: bytearray, timeout: float) -> bytearray:
        self.calls += 1
        if self.at >= len(self.data):
            raise self.errors.TimeoutError("card silent")
        head = self.data[self.at]
        self.at += 1
        if head in _ERRORS:
            raise getattr(self.errors, _ERRORS[head])("scripted")
        out = self.data[self.at : self.at + head]
        self.at += head
        return bytearray(out)


def frames(*parts: bytes) -> bytes:
    return b"".join(bytes([len(p)]) + p for p in parts)


class Card:
    """The I-blocks an honest card answers with, ISO-DEP chained in ``size``-byte pieces (seeds)."""

    def __init__(self, size: int = 200) -> None:
        self.size, self.pni = size, 0

    def answers(self, *rapdus: bytes, acks: int = 0) -> list[bytes]:
        """I-blocks for each R-APDU; before the last one, ``acks`` R(ACK)s of a chained command."""
        out = []
        for k, rapdu in enumerate(rapdus):
            for _ in range(acks if k == len(rapdus) - 1 else 0):
                out.append(bytes([0xA2 | self.pni]))
                self.pni ^= 1
            pieces = [rapdu[i : i + self.size] for i in range(0, len(rapdu), self.size)]
            for n, piece in enumerate(pieces):
                out.append(bytes([0x02 | (0x10 if n + 1 < len(pieces) else 0) | self.pni]) + piece)
                self.pni ^= 1
        return out


class ApduHarness:
    def __init__(self) -> None:
        import nfc.clf

        from drivers.nfc import reader
        from drivers.nfc.reader import NfcSource
        from pos.decision import PaymentRequest
        from pos.ports import SOURCE_OUTCOMES, SourceFailure

        reader.time = SimpleNamespace(  # type: ignore[attr-defined]
            monotonic=time.monotonic, perf_counter=time.perf_counter, sleep=lambda _s: None
        )
        self.fx = Fixture()
        self.clf_errors = nfc.clf
        self.source = NfcSource("udp:127.0.0.1:9", max_response=MAX_RESPONSE)
        self.request = PaymentRequest(500, "EUR", self.fx.requests[1].now, "T-FUZZ", bytes(range(16)))
        from drivers.nfc import apdu

        self.command = apdu.generate_token(self.request)
        self.SourceFailure, self.outcomes = SourceFailure, SOURCE_OUTCOMES

    def seeds(self) -> list[bytes]:
        from drivers.nfc.isodep import build_ats

        token = self.fx.token(0, nfc=True)
        ok = b"\x90\x00"
        chained = len(self.command) // 29  # R(ACK)s for GENERATE TOKEN in 29-byte pieces (FSC 32)
        out = [
            b"\x20" + frames(build_ats(), *Card().answers(ok, token + ok), b"\xc2"),
            b"\x20" + frames(build_ats(fsci=2), *Card(24).answers(ok, token + ok, acks=chained)),
            b"\x20" + frames(build_ats(), *Card().answers(ok), b"\xf2\x05", b"\x03\x6a\x82"),  # WTX
            b"\x20" + frames(build_ats(), b"\x02\x6a\x82"),  # no wallet application
            b"\x20" + frames(build_ats(), *Card().answers(ok, b"\x69\x85")),  # the wallet refuses
            b"\x00",  # a Type 2 tag
            b"\x20" + frames(build_ats(), b"\x02" + ok) + b"\xff",  # the phone leaves
            b"\x20" + frames(build_ats(), b"\x02" + ok) + b"\xfe" + frames(b"\x03\x6d\x00"),
            b"\x20" + frames(b"\x05\x78\x80\x70\x02", *Card().answers(ok, b"\x61\x00")),
        ]
        # 61 XX chaining: the token in 32-byte pieces through GET RESPONSE
        pieces = [token[i : i + 32] for i in range(0, len(token), 32)]
        rapdus = [ok] + [
            piece + (bytes([0x61, len(pieces[n + 1])]) if n + 1 < len(pieces) else ok)
            for n, piece in enumerate(pieces)
        ]
        out.append(b"\x20" + frames(build_ats(), *Card().answers(*rapdus)))
        return out

    def check(self, data: bytes) -> None:
        if not data:
            return
        card = HostileCard(data[1:], self.clf_errors)
        target = SimpleNamespace(sel_res=data[:1], sdd_res=b"\x08\x01\x02\x03")
        try:
            token = self.source._transact(card, target, self.command)
        except self.SourceFailure as failure:
            if failure.outcome not in self.outcomes:
                raise AssertionError(f"undocumented outcome {failure.outcome!r}") from None
            return
        finally:
            if card.calls > 8 + len(data):
                raise AssertionError(f"{card.calls} exchanges for a {len(data)}-byte script")
        if len(token) > MAX_RESPONSE:
            raise AssertionError(f"{len(token)}-byte token over the {MAX_RESPONSE}-byte cap")
        check_token_input(self.fx, token)

"""A phone wallet in card emulation, over nfcpy: the other end of ``drivers.nfc.reader`` in tests.

``WalletEmulator(wallet, "udp:127.0.0.1:PORT")`` listens as an NFC-A, ISO 14443-4 target
(``ContactlessFrontend.listen`` with SEL_RES 0x20), answers RATS with an ATS and then runs the
card (PICC) side of ISO-DEP itself on ``ContactlessFrontend.exchange``: I-blocks with chaining in
both directions, R(ACK)/R(NAK) recovery, S(WTX), S(DESELECT). nfcpy 1.0.4 has no Type 4 tag
emulation (``nfc.tag.emulate`` only knows Type 3), but its ``udp:`` driver carries every frame of
an NFC-A activation and ISO-DEP unchanged; on the ``udp:`` driver ``listen`` returns with the
RATS in ``tt4_cmd``, on USB readers (RC-S380, PN533) the chip answers RATS itself with
``target.rats_res`` and ``tt4_cmd`` is the first ISO-DEP block, and both are handled.

The application (SPEC 2, NFC) is driven by ``sim.wallet.Wallet``: SELECT by AID, then
GENERATE TOKEN decodes the request map and makes an NFC-mode token for exactly that amount,
challenge, terminal id and time; responses longer than ``chunk`` bytes are chained with ``61 XX``
and GET RESPONSE.

Fault switches (``Faults``; ``--fault NAME`` on the command line, repeatable):

    slow           wait ``delay`` seconds before answering GENERATE TOKEN
    slow-wtx       the same, asking the reader for more time with S(WTX) meanwhile
    chained        answer in ``chunk``-byte pieces (61 XX / GET RESPONSE; default 32)
    refuses        GENERATE TOKEN -> 69 85 (locked / over the wallet's own limit)
    vanish         answer SELECT, then go silent (the phone left the field)
    wrong-aid      SELECT -> 6A 82 (no such wallet application)
    unknown-ins    GENERATE TOKEN -> 6D 00 (a wallet that does not know the command)
    not-iso-dep    be a Type 2 tag (SEL_RES 00), not a phone
    endless        61 XX forever (a card that never stops streaming)
    endless-frames ISO-DEP response chaining forever

Command line (one JSON line per event on stdout, the first ``{"event": "ready", ...}``)::

    python -m sim.nfc_wallet --port 50000 --wallet alice.json [--fault slow --delay 2] [--taps N]
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nfc
import nfc.clf

from drivers.nfc import apdu
from drivers.nfc.faults import Faults
from drivers.nfc.isodep import (
    CHAINING,
    FS_TABLE,
    HAS_CID,
    HAS_NAD,
    I_BLOCK,
    R_ACK,
    RATS,
    S_DESELECT,
    S_WTX,
    WTXM_MAX,
    build_ats,
    fwt_s,
    is_i_block,
    is_r_block,
)
from sim.wallet import Wallet

log = logging.getLogger("sim.nfc_wallet")

MAX_COMMAND = 4096  # a chained command APDU beyond this ends the session
IGNORED = "ignored"  # serve_one: activated without ISO-DEP (not a session)
SENS_REQ, WUPA, HLTA = 0x26, 0x52, 0x50


class _Vanish(Exception):
    """The phone leaves the field: the session ends without an answer."""


class _SessionOver(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Session:
    max_inf: int  # INF bytes per frame the reader accepts (FSD - 3)
    cur: int = 1  # Rule C: the PICC block number starts at 1
    last: bytes = b""  # the last block sent, for retransmission
    pending: list[bytes] = field(default_factory=list)  # the rest of a chained response
    selected: bool = False
    outbox: bytes | None = None  # token bytes not yet sent (61 XX)
    rx: bytes = b""  # a command arriving in chained I-blocks
    tokens: int = 0


class WalletEmulator:
    """One phone: listens on ``url`` and serves taps until told to stop."""

    def __init__(
        self,
        wallet: Wallet,
        url: str = "udp:127.0.0.1:54321",
        faults: Faults | None = None,
        *,
        uid: bytes | None = None,
        fwi: int = 8,
        idle_timeout: float = 3.0,
        on_event: Callable[..., None] | None = None,
    ) -> None:
        self.wallet = wallet
        self.url = url
        self.faults = faults or Faults()
        self.uid = uid if uid is not None else b"\x08" + wallet.wallet_id[:3]  # 08: a random-UID phone
        if len(self.uid) != 4:
            raise ValueError("uid must be 4 bytes")
        self.fwi = fwi
        self.fwt = fwt_s(fwi)
        self.ats = build_ats(fsci=8, fwi=fwi)
        self.idle_timeout = idle_timeout
        self.on_event = on_event or (lambda event, **kw: None)
        self.clf: Any = None
        self.taps = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> None:
        self.clf = nfc.ContactlessFrontend(self.url)  # IOError(ENODEV) when the device is absent

    def close(self) -> None:
        if self.clf is not None:
            self.clf.close()
            self.clf = None

    def __enter__(self) -> WalletEmulator:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def target(self) -> nfc.clf.LocalTarget:
        sel_res = b"\x00" if self.faults.not_iso_dep else b"\x20"
        return nfc.clf.LocalTarget(
            "106A", sens_res=b"\x04\x00", sdd_res=self.uid, sel_res=sel_res, rats_res=self.ats
        )

    def serve(self, taps: int | None = None, timeout: float | None = None) -> int:
        """Serve until ``taps`` sessions ran or ``timeout`` seconds passed; return the sessions run."""
        if self.clf is None:
            self.open()
        end = None if timeout is None else time.monotonic() + timeout
        served = 0
        quick_nones = 0
        while taps is None or served < taps:
            wait = 3600.0 if end is None else end - time.monotonic()
            if wait <= 0:
                break
            started = time.monotonic()
            ran = self.serve_one(wait)
            if ran == IGNORED:
                continue
            if ran is None:
                # listen returns None at once when it cannot bind the port
                quick_nones = quick_nones + 1 if time.monotonic() - started < min(0.2, wait / 2) else 0
                if quick_nones >= 3:
                    raise OSError(f"cannot listen on {self.url} (port in use?)")
                continue
            quick_nones = 0
            served += 1
        return served

    def serve_one(self, timeout: float) -> str | None:
        """Listen up to ``timeout`` s for one activation and run that session.

        Returns how the session ended, ``IGNORED`` for an activation that was not ISO-DEP, or None
        when nothing activated this target in time.
        """
        target = self.clf.listen(self.target(), timeout)
        if target is None:
            return None
        first = bytes(target.tt4_cmd or b"")
        if not first:
            log.debug("activated without an ISO-DEP command: %s", target)
            return IGNORED
        self.taps += 1
        self.on_event("activated", tap=self.taps)
        try:
            reason = self._session(first)
        except _SessionOver as over:
            reason = over.reason
        except nfc.clf.BrokenLinkError:
            reason = "field off"
        except nfc.clf.TimeoutError:
            reason = "reader silent"
        except nfc.clf.CommunicationError as exc:
            reason = f"communication error: {exc}"
        self.on_event("session_end", tap=self.taps, reason=reason)
        return reason

    # -- ISO-DEP, card side ---------------------------------------------------------------------
    def _xchg(self, frame: bytes | None, timeout: float | None = None) -> bytes:
        data = self.clf.exchange(None if frame is None else bytearray(frame), timeout or self.idle_timeout)
        if data is None:
            raise _SessionOver("link lost")
        return bytes(data)

    def _session(self, first: bytes) -> str:
        if first[0] == RATS:
            if len(first) != 2:
                return "bad RATS"
            fsd = FS_TABLE[min(first[1] >> 4, 8)]
            s = _Session(max_inf=fsd - 3)
            s.last = self.ats
            cmd = self._xchg(self.ats)
        else:  # the reader chip answered RATS itself (USB devices): this is the first block
            s = _Session(max_inf=256 - 3)
            cmd = first
        while True:
            reply = self._block(s, cmd)
            if reply is not None:
                s.last = reply
            cmd = self._xchg(reply)

    def _block(self, s: _Session, cmd: bytes) -> bytes | None:
        """The answer to one block (None: stay silent and wait for the next one)."""
        if not cmd:
            return None
        pcb = cmd[0]
        if is_i_block(pcb):
            if pcb & (HAS_CID | HAS_NAD):
                return None  # our ATS offers neither CID nor NAD
            s.cur = pcb & 1  # Rule D
            s.rx += cmd[1:]
            if len(s.rx) > MAX_COMMAND:
                raise _SessionOver("command too long")
            if pcb & CHAINING:
                return bytes([R_ACK | s.cur])
            command, s.rx = s.rx, b""
            try:
                rapdu = self._apdu(s, command)
            except _Vanish:
                raise _SessionOver("vanished") from None
            s.pending = self._frames(rapdu, s.max_inf)
            return self._next_i_block(s)
        if is_r_block(pcb):
            bn, nak = pcb & 1, bool(pcb & 0x10)
            if bn == s.cur:
                return s.last  # Rule 11: retransmit
            if nak:
                return bytes([R_ACK | s.cur])  # Rule 12
            if s.pending:
                s.cur = bn  # Rule E, Rule 13: go on chaining
                return self._next_i_block(s)
            return None
        if pcb == S_DESELECT:
            self.clf.exchange(bytearray([S_DESELECT]), 0)  # answer, then stop listening
            raise _SessionOver("deselected")
        if pcb in (SENS_REQ, WUPA, HLTA):
            raise _SessionOver("re-polled")
        return None

    def _frames(self, rapdu: bytes, max_inf: int) -> list[bytes]:
        if self.faults.endless_frames:
            rapdu = bytes(max_inf) * 4096  # a megabyte of chained frames: the reader must give up
        return [rapdu[i : i + max_inf] for i in range(0, len(rapdu), max_inf)] or [b""]

    def _next_i_block(self, s: _Session) -> bytes:
        chunk = s.pending.pop(0)
        return bytes([I_BLOCK | (CHAINING if s.pending else 0) | s.cur]) + chunk

    def _wait(self, seconds: float) -> None:
        """Be slow; with ``wtx``, keep the reader waiting with S(WTX) (Rule: WTXM * FWT)."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if not self.faults.wtx:
                time.sleep(left)
                return
            wtxm = max(1, min(WTXM_MAX, math.ceil(min(left, 1.0) / self.fwt)))
            answer = self._xchg(bytes([S_WTX, wtxm]))
            if answer[:1] != bytes([S_WTX]):
                raise _SessionOver(f"reader answered S(WTX) with {answer[:1].hex()}")
            time.sleep(min(left, 0.8 * wtxm * self.fwt))

    # -- the wallet application -----------------------------------------------------------------
    def _apdu(self, s: _Session, raw: bytes) -> bytes:
        try:
            c = apdu.parse_command(raw)
        except apdu.ApduError:
            return apdu.response(b"", apdu.SW_WRONG_LENGTH)
        if c.cla == apdu.CLA_ISO and c.ins == apdu.INS_SELECT and c.p1 == apdu.P1_SELECT_BY_NAME:
            s.selected = not self.faults.wrong_aid and c.data == apdu.AID
            self.on_event("select", aid=c.data.hex(), selected=s.selected)
            return apdu.response(b"", apdu.SW_OK if s.selected else apdu.SW_AID_UNKNOWN)
        if s.selected and self.faults.vanish_after_select:
            self.on_event("vanished")
            raise _Vanish
        if c.cla == apdu.CLA_ISO and c.ins == apdu.INS_GET_RESPONSE:
            self.on_event("get_response", ne=c.ne)
            return self._more(s, c.ne)
        if c.cla == apdu.CLA_PROPRIETARY and c.ins == apdu.INS_GENERATE_TOKEN and not self.faults.unknown_ins:
            if not s.selected:
                return apdu.response(b"", apdu.SW_NOT_ALLOWED)
            return self._generate(s, c)
        if c.cla not in (apdu.CLA_ISO, apdu.CLA_PROPRIETARY):
            return apdu.response(b"", apdu.SW_CLA_UNKNOWN)
        return apdu.response(b"", apdu.SW_INS_UNKNOWN)

    def _generate(self, s: _Session, c: apdu.Command) -> bytes:
        try:
            req = apdu.parse_request_map(c.data)
        except ValueError as exc:
            self.on_event("bad_request", detail=str(exc))
            return apdu.response(b"", apdu.SW_WRONG_DATA)
        self.on_event(
            "generate", amount=req.amount, currency=req.currency, challenge=req.challenge.hex(),
            terminal_id=req.terminal_id, now=req.now,
        )  # fmt: skip
        f = self.faults
        over = f.max_amount is not None and req.amount > f.max_amount
        if f.refuse or over or req.currency != self.wallet.currency:
            self.on_event("refused")
            return apdu.response(b"", apdu.SW_REFUSED)
        if f.delay:
            self._wait(f.delay)
        token = self.wallet.token(
            amount=req.amount, challenge=req.challenge, terminal_id=req.terminal_id, now=req.now
        )
        s.tokens += 1
        self.on_event("token", counter=self.wallet.counter, size=len(token))
        s.outbox = token
        return self._more(s, c.ne)

    def _more(self, s: _Session, ne: int) -> bytes:
        if self.faults.endless:
            return apdu.response(b"\xab" * min(ne or 256, 64), 0x6100)  # 61 00: 256 more, forever
        if s.outbox is None:
            return apdu.response(b"", apdu.SW_NOT_ALLOWED)
        chunk = self.faults.chunk or s.max_inf - 2  # one frame: INF holds the data and SW1 SW2
        n = min(ne or apdu.SHORT_NE, chunk, len(s.outbox))
        part, rest = s.outbox[:n], s.outbox[n:]
        if rest:
            s.outbox = rest
            return apdu.response(part, (apdu.SW_BYTES_REMAINING << 8) | (min(len(rest), 256) % 256))
        s.outbox = None
        return apdu.response(part, apdu.SW_OK)


if __name__ == "__main__":  # python -m sim.nfc_wallet: the command line lives beside it
    from sim.nfc_wallet_cli import main

    sys.exit(main())

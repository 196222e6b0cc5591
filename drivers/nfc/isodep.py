"""ISO/IEC 14443-4 (ISO-DEP) half-duplex block protocol: block coding, ATS, and a bounded initiator.

The reader runs its own initiator instead of nfcpy's ``nfc.tag.tt4.IsoDepInitiator`` because that
one trusts the card: it follows ISO-DEP response chaining and S(WTX) requests without any limit
(a card that chains or asks for more time forever keeps the reader forever), and it answers a
timeout with up to five R(NAK) retransmissions. Here every frame has a timeout, the whole
exchange has a deadline, and the reassembled response has a size cap.

Frames go through an ``Exchange`` callable (the reader wraps ``nfc.ContactlessFrontend.exchange``)
that returns the card's frame or raises ``CardSilent`` (no answer / link broken), ``FrameError``
(a damaged frame: retried with R(NAK), Rule 4) or ``ProtocolViolation``. This module does not
import nfcpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

FC = 13.56e6  # carrier frequency (Hz): ISO 14443 times are multiples of 1/fc
DELTA_FWT = 49152 / FC  # margin added to FWT (ISO 14443-4 deltaFWT, about 3.6 ms)
FS_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096)  # FSCI/FSDI -> bytes

# PCB coding (single-byte prologue; no CID, no NAD: this reader never asks for either)
I_BLOCK = 0x02  # 000C CN1B: C chaining, C(ID), N(AD), B block number
CHAINING = 0x10
HAS_CID = 0x08
HAS_NAD = 0x04
R_ACK = 0xA2  # 1010 C01B
R_NAK = 0xB2  # 1011 C01B
S_DESELECT = 0xC2  # 1100 C010
S_WTX = 0xF2  # 1111 C010, INF: WTXM (1..59)
RATS = 0xE0
WTXM_MAX = 59


def is_i_block(pcb: int) -> bool:
    return pcb & 0xE2 == 0x02


def is_r_block(pcb: int) -> bool:
    return pcb & 0xE6 == 0xA2


def is_s_block(pcb: int) -> bool:
    return pcb & 0xC7 == 0xC2


def fwt_s(fwi: int) -> float:
    """Frame waiting time for FWI (0..14): 256 * 16 / fc * 2**FWI seconds."""
    return 4096 / FC * float(1 << fwi)


def rats(fsdi: int = 8, cid: int = 0) -> bytes:
    """RATS: E0, FSDI (the reader's frame size: 8 = 256 bytes) and CID."""
    return bytes([RATS, (fsdi & 0x0F) << 4 | (cid & 0x0F)])


class IsoDepError(Exception):
    """Base of the errors below."""


class CardSilent(IsoDepError):
    """No frame within the timeout, or the RF link broke: the card has left the field."""


class FrameError(IsoDepError):
    """A damaged or empty frame (CRC, parity, framing): ISO-DEP retries with R(NAK)."""


class ProtocolViolation(IsoDepError):
    """The card broke ISO-DEP: wrong block type or number, a bad ATS, an R(ACK) out of place."""


class ResponseTooLong(ProtocolViolation):
    """A chained response beyond the size cap."""


class DeadlineExceeded(IsoDepError):
    """The exchange ran past its deadline (typically S(WTX) after S(WTX))."""


Exchange = Callable[[bytes, float], bytes]


@dataclass(frozen=True, slots=True)
class Ats:
    raw: bytes
    fsci: int
    fwi: int
    sfgi: int
    cid_supported: bool
    nad_supported: bool
    historical: bytes

    @property
    def fsc(self) -> int:
        return FS_TABLE[min(self.fsci, len(FS_TABLE) - 1)]

    @property
    def fwt(self) -> float:
        return fwt_s(self.fwi)

    @property
    def sfgt(self) -> float:
        return fwt_s(self.sfgi) if self.sfgi else 0.0


def parse_ats(ats: bytes) -> Ats:
    """Parse an ATS (TL T0 [TA] [TB] [TC] historical bytes); RFU values take their defaults."""
    if not ats or ats[0] != len(ats):
        raise ProtocolViolation(f"bad ATS {bytes(ats).hex()}: TL does not match its length")
    fsci, fwi, sfgi, tc = 2, 4, 0, 0x02  # defaults when T0 or TB/TC are absent
    i = 1
    if len(ats) > 1:
        t0 = ats[1]
        fsci = t0 & 0x0F
        i = 2
        need = 2 + bin(t0 & 0x70).count("1")
        if len(ats) < need:
            raise ProtocolViolation(f"bad ATS {bytes(ats).hex()}: T0 {t0:02X} announces missing bytes")
        if t0 & 0x10:
            i += 1  # TA(1): bit rates; this reader stays at 106 kbit/s
        if t0 & 0x20:
            tb = ats[i]
            fwi, sfgi = tb >> 4, tb & 0x0F
            i += 1
        if t0 & 0x40:
            tc = ats[i]
            i += 1
    if fwi == 15:
        fwi = 4
    if sfgi == 15:
        sfgi = 0
    return Ats(bytes(ats), fsci, fwi, sfgi, bool(tc & 0x02), bool(tc & 0x01), bytes(ats[i:]))


def build_ats(fsci: int = 8, fwi: int = 8, sfgi: int = 0, historical: bytes = b"") -> bytes:
    """An ATS with TA (106 kbit/s only), TB (FWI, SFGI) and TC (no CID, no NAD)."""
    body = bytes([0x70 | (fsci & 0x0F), 0x80, (fwi & 0x0F) << 4 | (sfgi & 0x0F), 0x00]) + historical
    return bytes([len(body) + 1]) + body


class IsoDepInitiator:
    """The reader (PCD) side of one activated card: ``transceive(apdu) -> response APDU``.

    ``frame_timeout`` is how long one frame may take (at least FWT + deltaFWT, as the card's ATS
    asks); an S(WTX) request stretches the next wait to WTXM * FWT. Nothing waits past
    ``deadline`` (``time.monotonic()``). A response longer than ``max_response`` bytes raises
    ``ResponseTooLong``; damaged frames are asked again with R(NAK)/R(ACK) at most ``retries`` times.
    """

    def __init__(
        self,
        exchange: Exchange,
        *,
        fsc: int,
        fwt: float,
        frame_timeout: float,
        deadline: float,
        max_response: int,
        retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fsc < 16:
            raise ValueError(f"FSC {fsc} below the ISO minimum of 16")
        self._exchange = exchange
        self.miu = fsc - 3  # PCB + 2 CRC bytes per frame
        self.fwt = fwt
        self.frame_timeout = max(frame_timeout, fwt + DELTA_FWT)
        self.deadline = deadline
        self.max_response = max_response
        self.retries = retries
        self.clock = clock
        self.pni = 0  # Rule 1: the PCD block number starts at 0
        self.wtx_count = 0

    # -- frames ---------------------------------------------------------------------------------
    def _timed_exchange(self, frame: bytes, wait: float) -> bytes:
        left = self.deadline - self.clock()
        if left <= 0:
            raise DeadlineExceeded(f"no time left for frame {frame[:1].hex()}")
        try:
            reply = self._exchange(frame, min(wait, left))
        except CardSilent:
            if left < wait:
                raise DeadlineExceeded(f"no answer before the deadline ({self.wtx_count} S(WTX))") from None
            raise
        if not reply:
            raise FrameError("empty frame")
        return reply

    def _send(self, block: bytes, *, chaining_rx: bool = False) -> bytes:
        """Send ``block``; return the card's answer block, after S(WTX) and error recovery."""
        frame, wait, errors = block, self.frame_timeout, 0
        while True:
            try:
                reply = self._timed_exchange(frame, wait)
            except FrameError as exc:
                errors += 1
                if errors > self.retries:
                    raise CardSilent(f"{errors} damaged frames in a row ({exc})") from None
                # Rule 4 / Rule 5: R(NAK), or R(ACK) while the card is chaining its response
                frame, wait = bytes([(R_ACK if chaining_rx else R_NAK) | self.pni]), self.frame_timeout
                continue
            pcb = reply[0]
            if pcb == S_WTX:
                if len(reply) != 2 or not 1 <= reply[1] & 0x3F <= WTXM_MAX:
                    raise ProtocolViolation(f"bad S(WTX) {reply.hex()}")
                wtxm = reply[1] & 0x3F
                self.wtx_count += 1
                frame, wait = bytes([S_WTX, wtxm]), max(self.frame_timeout, wtxm * self.fwt + DELTA_FWT)
                continue
            if is_r_block(pcb) and not pcb & 0x10 and pcb & 1 != self.pni and is_i_block(block[0]):
                # Rule 6: R(ACK) with another block number: the card missed our I-block
                errors += 1
                if errors > self.retries:
                    raise ProtocolViolation("the card keeps acknowledging the wrong block")
                frame, wait = block, self.frame_timeout
                continue
            return reply

    # -- APDUs ----------------------------------------------------------------------------------
    def transceive(self, apdu: bytes) -> bytes:
        """Send a command APDU (chained into frames of ``miu`` bytes); return the response APDU."""
        chunks = [apdu[i : i + self.miu] for i in range(0, len(apdu), self.miu)] or [b""]
        reply = b""
        for n, chunk in enumerate(chunks):
            more = n < len(chunks) - 1
            reply = self._send(bytes([I_BLOCK | (CHAINING if more else 0) | self.pni]) + chunk)
            if more:
                if not (is_r_block(reply[0]) and not reply[0] & 0x10 and reply[0] & 1 == self.pni):
                    raise ProtocolViolation(f"expected R(ACK) for a chained block, got {reply[:1].hex()}")
                self.pni ^= 1
        data = bytearray()
        while True:
            pcb = reply[0]
            if not is_i_block(pcb) or pcb & (HAS_CID | HAS_NAD):
                raise ProtocolViolation(f"expected an I-block, got PCB {pcb:02X}")
            if pcb & 1 != self.pni:
                raise ProtocolViolation(f"I-block number {pcb & 1}, expected {self.pni}")
            self.pni ^= 1
            data += reply[1:]
            if len(data) > self.max_response:
                raise ResponseTooLong(f"chained response over {self.max_response} bytes")
            if not pcb & CHAINING:
                return bytes(data)
            reply = self._send(bytes([R_ACK | self.pni]), chaining_rx=True)

    def deselect(self, timeout: float) -> bool:
        """S(DESELECT), best effort: True when the card confirmed."""
        wait = max(0.001, min(timeout, self.deadline - self.clock()))
        try:
            reply = self._exchange(bytes([S_DESELECT]), wait)
        except IsoDepError:
            return False
        return reply[:1] == bytes([S_DESELECT])

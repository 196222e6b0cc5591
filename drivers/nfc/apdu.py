"""The wallet application's APDUs (SPEC 2, NFC): constants, encoding and parsing, both sides.

Short APDUs only (ISO/IEC 7816-4): Lc and Le are one byte, Le ``00`` means 256. A response
longer than the wallet sends at once is chained with ``61 XX`` and ``GET RESPONSE 00 C0 00 00 XX``.

    SELECT          00 A4 04 00 07 F0 4F 57 54 31 00 01 00            -> 90 00
    GENERATE TOKEN  80 10 00 00 Lc <CBOR request map> 00                -> COSE_Sign1 bytes, 90 00
    GET RESPONSE    00 C0 00 00 XX                                      -> next part, 61 YY / 90 00
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from pos.decision import PaymentRequest
from pos.tokens import CHALLENGE_LEN, L_CURRENCY, L_IAT, L_NFC_AMOUNT, L_NFC_CHALLENGE, L_NFC_TERMINAL

AID = bytes.fromhex("F0 4F575431 0001")  # proprietary F0, "OWT1", version 00 01

CLA_ISO, CLA_PROPRIETARY = 0x00, 0x80
INS_SELECT, INS_GENERATE_TOKEN, INS_GET_RESPONSE = 0xA4, 0x10, 0xC0
P1_SELECT_BY_NAME = 0x04

SW_OK = 0x9000
SW_BYTES_REMAINING = 0x61  # SW1: 61 XX, XX more bytes for GET RESPONSE (00: 256 or more)
SW_WRONG_LENGTH = 0x6700
SW_REFUSED = 0x6985  # conditions of use not satisfied: locked, over the wallet's own limit
SW_NOT_ALLOWED = 0x6986  # command not allowed (no pending response, nothing selected)
SW_WRONG_DATA = 0x6A80  # incorrect parameters in the command data field
SW_AID_UNKNOWN = 0x6A82  # file or application not found
SW_INS_UNKNOWN = 0x6D00
SW_CLA_UNKNOWN = 0x6E00

MAX_LC = 255
SHORT_NE = 256


class ApduError(ValueError):
    """A command APDU that is not a well-formed short APDU (the card answers 67 00)."""


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int = 0  # expected response length: 0 when there is no Le field, 1..256 otherwise


def command(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", ne: int = 0) -> bytes:
    """Encode a short command APDU; ``ne`` 1..256 adds Le (256 is sent as ``00``)."""
    if len(data) > MAX_LC:
        raise ValueError(f"command data of {len(data)} bytes does not fit a short APDU (max {MAX_LC})")
    if not 0 <= ne <= SHORT_NE:
        raise ValueError(f"Ne {ne} out of range 0..{SHORT_NE}")
    apdu = bytes([cla, ins, p1, p2])
    if data:
        apdu += bytes([len(data)]) + data
    if ne:
        apdu += bytes([ne % 256])
    return apdu


def parse_command(apdu: bytes) -> Command:
    """Parse a short command APDU (cases 1 to 4); extended length is refused."""
    n = len(apdu)
    if n < 4:
        raise ApduError(f"{n} bytes is shorter than a header")
    cla, ins, p1, p2 = apdu[:4]
    if n == 4:
        return Command(cla, ins, p1, p2)
    if n == 5:
        return Command(cla, ins, p1, p2, b"", apdu[4] or SHORT_NE)
    lc = apdu[4]
    if lc == 0:
        raise ApduError("extended length APDUs are not supported")
    if n == 5 + lc:
        return Command(cla, ins, p1, p2, bytes(apdu[5:]))
    if n == 6 + lc:
        return Command(cla, ins, p1, p2, bytes(apdu[5:-1]), apdu[-1] or SHORT_NE)
    raise ApduError(f"Lc {lc} does not match the {n}-byte APDU")


def response(data: bytes, sw: int) -> bytes:
    return bytes(data) + sw.to_bytes(2, "big")


def split_response(rapdu: bytes) -> tuple[bytes, int]:
    """(data, status word); ``ValueError`` when there is no status word."""
    if len(rapdu) < 2:
        raise ValueError(f"response APDU of {len(rapdu)} bytes has no status word")
    return bytes(rapdu[:-2]), int.from_bytes(rapdu[-2:], "big")


def select_wallet() -> bytes:
    return command(CLA_ISO, INS_SELECT, P1_SELECT_BY_NAME, 0x00, AID, SHORT_NE)


def get_response(sw2: int) -> bytes:
    """GET RESPONSE for ``61 sw2`` (``00`` asks for 256)."""
    return command(CLA_ISO, INS_GET_RESPONSE, 0x00, 0x00, b"", sw2 or SHORT_NE)


def request_map(request: PaymentRequest) -> bytes:
    """The GENERATE TOKEN data: ``{13: amount, 8: currency, 14: challenge, 15: terminal id, 1: now}``.

    Encoded deterministically (RFC 8949 core rules: sorted keys, shortest forms).
    """
    if request.challenge is None or len(request.challenge) != CHALLENGE_LEN:
        raise ValueError(f"an NFC request needs a {CHALLENGE_LEN}-byte challenge")
    doc = {
        L_NFC_AMOUNT: request.amount,
        L_CURRENCY: request.currency,
        L_NFC_CHALLENGE: bytes(request.challenge),
        L_NFC_TERMINAL: request.terminal_id,
        L_IAT: request.now,
    }
    return bytes(cbor2.dumps(doc, canonical=True))


def generate_token(request: PaymentRequest) -> bytes:
    return command(CLA_PROPRIETARY, INS_GENERATE_TOKEN, 0x00, 0x00, request_map(request), SHORT_NE)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A decoded GENERATE TOKEN request map (the wallet's side)."""

    amount: int
    currency: str
    challenge: bytes
    terminal_id: str
    now: int


def parse_request_map(data: bytes) -> TokenRequest:
    """Decode and check the request map; ``ValueError`` for anything else (the card answers 6A 80)."""
    try:
        doc: Any = cbor2.loads(data)
    except Exception as exc:  # noqa: BLE001 - cbor2 raises several kinds for bad input
        raise ValueError(f"request map is not CBOR: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("request is not a CBOR map")

    def uint(label: int) -> int:
        v = doc.get(label)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"label {label} is not an unsigned integer")
        return v

    def text(label: int) -> str:
        v = doc.get(label)
        if not isinstance(v, str):
            raise ValueError(f"label {label} is not a text string")
        return v

    challenge = doc.get(L_NFC_CHALLENGE)
    if not isinstance(challenge, bytes) or len(challenge) != CHALLENGE_LEN:
        raise ValueError(f"label {L_NFC_CHALLENGE} is not a {CHALLENGE_LEN}-byte string")
    return TokenRequest(uint(L_NFC_AMOUNT), text(L_CURRENCY), challenge, text(L_NFC_TERMINAL), uint(L_IAT))


def sw_name(sw: int) -> str:
    names = {
        SW_OK: "ok",
        SW_WRONG_LENGTH: "wrong length",
        SW_REFUSED: "wallet refuses",
        SW_NOT_ALLOWED: "command not allowed",
        SW_WRONG_DATA: "wrong data",
        SW_AID_UNKNOWN: "AID unknown",
        SW_INS_UNKNOWN: "INS unknown",
        SW_CLA_UNKNOWN: "CLA unknown",
    }
    if sw >> 8 == SW_BYTES_REMAINING:
        return f"{sw & 0xFF or 256} bytes remaining"
    return f"SW {sw:04X}" + (f" ({names[sw]})" if sw in names else "")

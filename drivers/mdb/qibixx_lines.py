"""The Qibixx MDB-USB / MDB Pi Hat Plus "Cashless Device" (cashless slave) ASCII line grammar.

Pure functions and one small framing class; no session logic (that is ``drivers.mdb.qibixx``).
Followed: docs.qibixx.com "MDB API: General" (115200 8N1, ASCII lines), "MDB API: Cashless
Slave", "Cashless Device - Accept a Vend Request from VMC in Always Idle" and "Vending Sessions
Examples" (firmware 3.x/4.x pages as published in 2024-2025). docs/mdb.md lists every line.

Host -> adapter (we send, each ending in ``\\n``)::

    C,1               enable the cashless slave        C,0   disable it
    C,VEND,<amount>   approve the VMC's vend request   C,STOP  deny it / stop the session
    V                 firmware version (our keepalive; answered ``v,<version>,<cpu id>``)

Adapter -> host (``\\n`` or ``\\r\\n``; case-sensitive, as the firmware prints them)::

    c,STATUS,<state>[,...]              INACTIVE | DISABLED | ENABLED | IDLE (extra fields ignored)
    c,STATUS,VEND,<amount>,<product>    the VMC's vend request (the machine's price)
    c,VEND,SUCCESS                      the machine dispensed
    c,ERR,<text>                        ``VEND <n>`` after an approval: not dispensed; others logged
    c,1 / c,0 / r,ACK / c,SET,OK / x,...  echoes, bus ACKs, sniffer: ignored (debug log)
    v,<version>[,...]                   answer to V
    anything else                       logged once per line and ignored
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import serial

log = logging.getLogger("drivers.mdb.qibixx")

MAX_LINE = 256  # the longest documented line is ~40 bytes; longer ones are noise
MAX_ITEM = 16
DEFAULT_DECIMALS = 2

ENABLE, DISABLE, STOP, VERSION = "C,1", "C,0", "C,STOP", "V"
INACTIVE, DISABLED, ENABLED, IDLE, VEND = "INACTIVE", "DISABLED", "ENABLED", "IDLE", "VEND"
STATES = (INACTIVE, DISABLED, ENABLED, IDLE)
ERR_CASHLESS_OFF = "cashless is off"  # c,ERR,"cashless is off": the slave is not enabled (reboot)

_AMOUNT = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,6}))?")
_ITEM = re.compile(rf"[0-9A-Za-z_.-]{{1,{MAX_ITEM}}}")
_VEND_ERR = re.compile(r'"?VEND\b.*', re.IGNORECASE)


class AmountError(ValueError):
    """Text that is not an amount we can turn into whole minor units."""


def to_minor(text: str, decimals: int = DEFAULT_DECIMALS) -> int:
    """``"1.50"`` -> 150 (decimals 2); ``"1.5"`` -> 150; ``"150"`` -> 150 (decimals 0). Never float.

    A fraction finer than ``decimals`` (``"1.505"`` at 2) is refused, not rounded: the machine
    and the terminal must agree on the exact price the customer pays."""
    m = _AMOUNT.fullmatch(text)
    if m is None:
        raise AmountError(f"not an amount: {text[:24]!r}")
    whole: str = m.group(1)
    frac: str = m.group(2) or ""
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise AmountError(f"{text!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    scale: int = 10**decimals
    return int(whole) * scale + int(frac.ljust(decimals, "0") or "0")


def format_amount(minor: int, decimals: int = DEFAULT_DECIMALS) -> str:
    """150 -> ``"1.50"`` (decimals 2), ``"150"`` (0), ``"0.150"`` (3)."""
    if minor < 0:
        raise AmountError(f"negative amount {minor}")
    if decimals == 0:
        return str(minor)
    whole, frac = divmod(minor, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}"


# -- what one adapter line means ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Status:
    state: str  # INACTIVE | DISABLED | ENABLED | IDLE


@dataclass(frozen=True, slots=True)
class VendRequested:
    price: int  # minor units
    item: str


@dataclass(frozen=True, slots=True)
class BadVendRequest:
    """``c,STATUS,VEND`` whose amount or product we cannot read: the session denies it."""

    reason: str


@dataclass(frozen=True, slots=True)
class VendSucceeded:
    pass


@dataclass(frozen=True, slots=True)
class VendFailed:
    detail: str


@dataclass(frozen=True, slots=True)
class AdapterError:
    detail: str


@dataclass(frozen=True, slots=True)
class Version:
    text: str


@dataclass(frozen=True, slots=True)
class Noise:
    """A documented line that carries nothing for the session (echo, ACK, sniffer)."""


Event = Status | VendRequested | BadVendRequest | VendSucceeded | VendFailed | AdapterError | Version | Noise


def parse_line(line: str, decimals: int = DEFAULT_DECIMALS) -> Event | None:
    """The event one adapter line carries; None (the caller logs it) for a line we do not know."""
    parts = line.split(",")
    head = parts[0]
    if head in ("x", "r", "f", "d") or line in ("c,1", "c,0") or line.startswith("c,SET,"):
        return Noise()
    if head == "v" and len(parts) > 1:
        return Version(line[2:])
    if head != "c" or len(parts) < 2:
        return None
    kind, args = parts[1], parts[2:]
    if kind == "STATUS" and args:
        if args[0] in STATES:
            return Status(args[0])
        if args[0] == VEND:
            return _vend_request(args[1:], decimals)
        return None
    if kind == "VEND" and args == ["SUCCESS"]:
        return VendSucceeded()
    if kind == "ERR":
        detail = ",".join(args)
        if _VEND_ERR.fullmatch(detail):
            return VendFailed(detail.strip('"'))
        return AdapterError(detail.strip('"'))
    return None


def _vend_request(args: list[str], decimals: int) -> VendRequested | BadVendRequest:
    if len(args) < 2:
        return BadVendRequest(f"vend request without amount and product: {args!r}")
    try:
        price = to_minor(args[0], decimals)
    except AmountError as exc:
        return BadVendRequest(str(exc))
    if _ITEM.fullmatch(args[1]) is None:
        return BadVendRequest(f"unreadable product id {args[1][:24]!r}")
    return VendRequested(price, args[1])


def approve_line(price: int, decimals: int = DEFAULT_DECIMALS) -> str:
    return f"C,VEND,{format_amount(price, decimals)}"


# -- framing ------------------------------------------------------------------------------------
class QibixxLines:
    """ASCII lines over a pyserial port: ``read_line`` returns one whole line or None.

    Partial lines wait in the buffer for their end; a line longer than ``MAX_LINE`` or not
    ASCII is dropped with a log line, so no byte sequence can grow the buffer or raise."""

    def __init__(self, url: str, baudrate: int = 115200, **options: object) -> None:
        self.url = url
        self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, write_timeout=1.0, **options)
        self._buf = bytearray()
        self._skipping = False  # inside an overlong line: drop bytes up to its end

    def read_line(self, timeout: float) -> str | None:
        end = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                if self._skipping:
                    self._skipping = False
                    continue
                text = self._decode(raw)
                if text:
                    return text
                continue
            if len(self._buf) > MAX_LINE:
                if not self._skipping:
                    log.warning("Qibixx line over %d bytes ignored: %r...", MAX_LINE, bytes(self._buf[:40]))
                self._skipping = True
                self._buf.clear()
            if time.monotonic() >= end:
                return None
            self._buf += self.port.read(max(1, min(self.port.in_waiting, 4096)))

    @staticmethod
    def _decode(raw: bytes) -> str:
        try:
            text = raw.decode("ascii").strip("\r\n\t ")
        except UnicodeDecodeError:
            log.warning("Qibixx line ignored (not ASCII): %r", raw[:80])
            return ""
        if text and not text.isprintable():
            log.warning("Qibixx line ignored (control characters): %r", raw[:80])
            return ""
        return text

    def write_line(self, text: str) -> None:
        self.port.write(text.encode("ascii") + b"\n")
        self.port.flush()

    def close(self) -> None:
        self.port.close()

"""The MDB/ICP 4.x level 1 cashless device (reader, address 10h) as a pure state machine.

No I/O and no threads: ``parse_command(data)`` turns the bytes of one VMC command (checksum already
checked and stripped by the adapter) into a command object; ``CashlessDevice.handle(command)``
advances the state and returns ``Event`` objects for the host; the responses the reader owes the
VMC (answers to the next POLLs) collect in ``CashlessDevice.outbox`` (``take_responses()``).
Host decisions (``begin_session``, ``approve``, ``deny``, ``cancel_session``) queue responses too.

States (MDB 7.4): Inactive -> (SETUP config) -> Disabled -> (READER ENABLE) -> Enabled ->
(BEGIN SESSION) -> SessionIdle -> (VEND REQUEST) -> Vend -> (VEND SUCCESS / FAILURE) ->
SessionIdle -> (SESSION COMPLETE, answered by END SESSION) -> Enabled. RESET from any state goes
to Inactive and answers JUST RESET.

Commands handled (hex, level 1)::

    10                      RESET                 -> 00 JUST RESET
    11 00 lvl cols rows dsp SETUP config data     -> 01 READER CONFIG (level 1, country, scale 1, decimals)
    11 01 max(2) min(2)     SETUP max/min prices
    12                      POLL                  (answered by the adapter from the outbox)
    13 00 price(2) item(2)  VEND REQUEST          -> (host) 05 VEND APPROVED amount(2) / 06 VEND DENIED
    13 01                   VEND CANCEL           -> 06 VEND DENIED
    13 02 item(2)           VEND SUCCESS
    13 03                   VEND FAILURE
    13 04                   SESSION COMPLETE      -> 07 END SESSION
    14 00 / 14 01 / 14 02   READER DISABLE / ENABLE / CANCEL (-> 08 CANCELLED)
    17 00 ...               EXPANSION REQUEST ID  -> 09 PERIPHERAL ID

Host-initiated: 03 funds(2) BEGIN SESSION; 04 SESSION CANCEL REQUEST. Prices are in scaled units;
the reader reports scale factor 1 and ``decimal_places`` (default 2), so an MDB price is the
amount in minor units.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass

log = logging.getLogger("drivers.mdb.cashless")

ADDRESS = 0x10
JUST_RESET, READER_CONFIG, BEGIN_SESSION, SESSION_CANCEL_REQUEST = 0x00, 0x01, 0x03, 0x04
VEND_APPROVED, VEND_DENIED, END_SESSION, CANCELLED, PERIPHERAL_ID = 0x05, 0x06, 0x07, 0x08, 0x09
# VMC -> reader commands (MDB 4.2, cashless device #1 at 10h) and their subcommands
RESET, SETUP, POLL, VEND, READER, EXPANSION = 0x10, 0x11, 0x12, 0x13, 0x14, 0x17
SETUP_CONFIG, SETUP_PRICES = 0x00, 0x01
VEND_REQUEST, VEND_CANCEL, VEND_SUCCESS, VEND_FAILURE, SESSION_COMPLETE = 0x00, 0x01, 0x02, 0x03, 0x04
READER_DISABLE, READER_ENABLE, READER_CANCEL = 0x00, 0x01, 0x02
EXPANSION_REQUEST_ID = 0x00


class State(enum.Enum):
    INACTIVE = "Inactive"
    DISABLED = "Disabled"
    ENABLED = "Enabled"
    SESSION_IDLE = "SessionIdle"
    VEND = "Vend"


class MdbError(ValueError):
    """Bytes that are not a cashless-device command we know."""


# -- commands ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reset:
    pass


@dataclass(frozen=True, slots=True)
class SetupConfig:
    vmc_level: int
    columns: int
    rows: int
    display: int


@dataclass(frozen=True, slots=True)
class SetupPrices:
    max_price: int
    min_price: int


@dataclass(frozen=True, slots=True)
class Poll:
    pass


@dataclass(frozen=True, slots=True)
class VendRequestCmd:
    price: int
    item: int


@dataclass(frozen=True, slots=True)
class VendCancel:
    pass


@dataclass(frozen=True, slots=True)
class VendSuccess:
    item: int


@dataclass(frozen=True, slots=True)
class VendFailure:
    pass


@dataclass(frozen=True, slots=True)
class SessionComplete:
    pass


@dataclass(frozen=True, slots=True)
class ReaderEnable:
    pass


@dataclass(frozen=True, slots=True)
class ReaderDisable:
    pass


@dataclass(frozen=True, slots=True)
class ReaderCancel:
    pass


@dataclass(frozen=True, slots=True)
class ExpansionRequestId:
    pass


Command = (
    Reset
    | SetupConfig
    | SetupPrices
    | Poll
    | VendRequestCmd
    | VendCancel
    | VendSuccess
    | VendFailure
    | SessionComplete
    | ReaderEnable
    | ReaderDisable
    | ReaderCancel
    | ExpansionRequestId
)


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "big")


def parse_command(data: bytes) -> Command:
    """One VMC command to the cashless device (address 10h..17h, no checksum); ``MdbError`` else."""
    if not data:
        raise MdbError("empty command")
    cmd, sub, n = data[0], (data[1] if len(data) > 1 else None), len(data)

    def need(length: int) -> None:
        if n < length:
            raise MdbError(f"command {data.hex(' ')} too short (needs {length} bytes)")

    if cmd == RESET:
        return Reset()
    if cmd == POLL:
        return Poll()
    if cmd == SETUP:
        need(2)
        if sub == SETUP_CONFIG:
            need(6)
            return SetupConfig(data[2], data[3], data[4], data[5])
        if sub == SETUP_PRICES:
            need(6)
            return SetupPrices(_u16(data, 2), _u16(data, 4))
    elif cmd == VEND:
        need(2)
        if sub == VEND_REQUEST:
            need(6)
            return VendRequestCmd(_u16(data, 2), _u16(data, 4))
        if sub == VEND_CANCEL:
            return VendCancel()
        if sub == VEND_SUCCESS:
            need(4)
            return VendSuccess(_u16(data, 2))
        if sub == VEND_FAILURE:
            return VendFailure()
        if sub == SESSION_COMPLETE:
            return SessionComplete()
    elif cmd == READER:
        need(2)
        if sub == READER_DISABLE:
            return ReaderDisable()
        if sub == READER_ENABLE:
            return ReaderEnable()
        if sub == READER_CANCEL:
            return ReaderCancel()
    elif cmd == EXPANSION:
        need(2)
        if sub == EXPANSION_REQUEST_ID:
            return ExpansionRequestId()
    raise MdbError(f"unknown cashless command {data.hex(' ')}")


# -- events for the host -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VendRequested:
    price: int
    item: int


@dataclass(frozen=True, slots=True)
class VendOutcome:
    success: bool
    item: int | None = None
    cancelled: bool = False  # VEND CANCEL before the host answered


@dataclass(frozen=True, slots=True)
class SessionEnded:
    pass


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State


Event = VendRequested | VendOutcome | SessionEnded | StateChanged


class CashlessDevice:
    """The reader's side of MDB level 1; feed it VMC commands and host decisions."""

    def __init__(self, country: int = 0x1978, decimal_places: int = 2, max_response_s: int = 60) -> None:
        self.state = State.INACTIVE
        self.country = country  # 1978 = EUR (ISO 4217 numeric with a leading 1)
        self.decimal_places = decimal_places
        self.max_response_s = max_response_s
        self.outbox: deque[bytes] = deque()
        self.vmc: SetupConfig | None = None
        self.max_price = 0xFFFF
        self.min_price = 0
        self.request: VendRequested | None = None
        self.answered = False  # the host answered the current vend request
        self._disable_after_session = False

    # -- plumbing
    def take_responses(self) -> list[bytes]:
        out = list(self.outbox)
        self.outbox.clear()
        return out

    def _go(self, new: State, events: list[Event]) -> None:
        if new is not self.state:
            events.append(StateChanged(self.state, new))
            self.state = new

    def _ignored(self, command: Command) -> list[Event]:
        log.warning("MDB %s ignored in state %s", type(command).__name__, self.state.value)
        return []

    # -- VMC commands
    def handle(self, command: Command) -> list[Event]:
        events: list[Event] = []
        s = self.state
        match command:
            case Poll():
                pass
            case Reset():
                self.outbox.clear()
                self.outbox.append(bytes([JUST_RESET]))
                self.request = None
                self._disable_after_session = False
                if s in (State.SESSION_IDLE, State.VEND):
                    events.append(SessionEnded())
                self._go(State.INACTIVE, events)
            case SetupConfig():
                if s not in (State.INACTIVE, State.DISABLED):
                    return self._ignored(command)
                self.vmc = command
                self.outbox.append(
                    bytes([READER_CONFIG, 0x01, self.country >> 8, self.country & 0xFF, 0x01])
                    + bytes([self.decimal_places, self.max_response_s, 0x00])
                )
                self._go(State.DISABLED, events)
            case SetupPrices():
                self.max_price, self.min_price = command.max_price, command.min_price
            case ReaderEnable():
                if s is State.DISABLED:
                    self._go(State.ENABLED, events)
                elif s in (State.SESSION_IDLE, State.VEND):
                    self._disable_after_session = False
                elif s is State.INACTIVE:
                    return self._ignored(command)
            case ReaderDisable():
                if s is State.ENABLED:
                    self._go(State.DISABLED, events)
                elif s in (State.SESSION_IDLE, State.VEND):
                    self._disable_after_session = True  # takes effect when the session ends
            case ReaderCancel():
                if s is State.ENABLED:
                    self.outbox.append(bytes([CANCELLED]))
            case ExpansionRequestId():
                self.outbox.append(
                    bytes([PERIPHERAL_ID]) + b"OWT" + b"000000000001" + b"OWT-TERMINAL" + b"\x01\x00"
                )
            case VendRequestCmd() | VendCancel() | VendSuccess() | VendFailure() | SessionComplete():
                return self._session_command(command, s, events)
        return events

    def _session_command(self, command: Command, s: State, events: list[Event]) -> list[Event]:
        """The commands of a session in progress: VEND REQUEST .. SESSION COMPLETE."""
        match command:
            case VendRequestCmd():
                if s is not State.SESSION_IDLE:
                    return self._ignored(command)
                self.request = VendRequested(command.price, command.item)
                self.answered = False
                events.append(self.request)
                self._go(State.VEND, events)
            case VendCancel():
                if s is not State.VEND:
                    return self._ignored(command)
                if not self.answered:
                    self.outbox.append(bytes([VEND_DENIED]))
                self.request = None
                events.append(VendOutcome(False, cancelled=True))
                self._go(State.SESSION_IDLE, events)
            case VendSuccess():
                if s is not State.VEND:
                    return self._ignored(command)
                self.request = None
                events.append(VendOutcome(True, command.item))
                self._go(State.SESSION_IDLE, events)
            case VendFailure():
                if s is not State.VEND:
                    return self._ignored(command)
                self.request = None
                events.append(VendOutcome(False))
                self._go(State.SESSION_IDLE, events)
            case SessionComplete():
                if s not in (State.SESSION_IDLE, State.VEND):
                    return self._ignored(command)
                self.outbox.append(bytes([END_SESSION]))
                self.request = None
                events.append(SessionEnded())
                after = State.DISABLED if self._disable_after_session else State.ENABLED
                self._disable_after_session = False
                self._go(after, events)
        return events

    # -- host decisions
    def begin_session(self, funds: int | None = None) -> bool:
        """BEGIN SESSION with ``funds`` (default: the VMC's max price); False when not Enabled."""
        if self.state is not State.ENABLED:
            return False
        amount = min(self.max_price if funds is None else funds, 0xFFFF)
        self.outbox.append(bytes([BEGIN_SESSION]) + amount.to_bytes(2, "big"))
        self.state = State.SESSION_IDLE
        return True

    def approve(self, amount: int | None = None) -> bool:
        """VEND APPROVED for the pending request (its price unless ``amount``)."""
        if self.state is not State.VEND or self.request is None or self.answered:
            return False
        value = self.request.price if amount is None else amount
        self.outbox.append(bytes([VEND_APPROVED]) + value.to_bytes(2, "big"))
        self.answered = True
        return True

    def deny(self) -> bool:
        """VEND DENIED for the pending request; the VMC stays in the session (SessionIdle)."""
        if self.state is not State.VEND or self.answered:
            return False
        self.outbox.append(bytes([VEND_DENIED]))
        self.answered = True
        self.request = None
        self.state = State.SESSION_IDLE
        return True

    def cancel_session(self) -> bool:
        """SESSION CANCEL REQUEST: ask the VMC to end the session (it answers SESSION COMPLETE)."""
        if self.state is State.VEND and not self.answered:
            self.deny()
        if self.state is not State.SESSION_IDLE:
            return False
        self.outbox.append(bytes([SESSION_CANCEL_REQUEST]))
        return True

"""The terminal's NFC reader as a ``pos.ports.TokenSource`` (SPEC 2, NFC), on nfcpy.

``NfcSource(url)`` takes an nfcpy device path (see ``drivers.nfc.url``: ``usb``, ``usb:054c:06c3``,
``tty:USB0:pn532``, ``udp:127.0.0.1:50000``). The ContactlessFrontend is opened on the first read
and kept open across reads (opening a USB reader takes a while); ``close()`` closes it.

One ``read(request, timeout)``:

1. polls for an NFC-A target (``clf.sense``; about every ``poll_interval`` seconds) until
   ``timeout`` (``SOURCE_TIMEOUT``). One poll on the ``udp:`` driver waits up to 1 s for an
   answer (hard-coded in nfcpy), so there a read may end up to 1 s after its timeout;
2. a target whose SEL_RES does not announce ISO 14443-4 is ``NOT_A_WALLET``;
3. activates ISO-DEP (RATS/ATS) and runs SELECT, GENERATE TOKEN with the request map, and
   GET RESPONSE while the wallet answers ``61 XX``, through a bounded ISO-DEP initiator
   (``drivers.nfc.isodep``): each frame waits at most ``exchange_timeout`` (or the card's FWT if
   longer, or what an S(WTX) asked for), the whole tap at most ``transaction_timeout``, and the
   token at most ``max_response`` bytes;
4. sends S(DESELECT) and switches the RF field off, so the phone sees the tap end.

Outcomes (``SourceFailure.outcome``): SW ``6A 82`` or a non-ISO-DEP tag -> ``not_a_wallet``;
``69 85`` -> ``wallet_refused``; no answer within a frame timeout or a broken link (the phone
left) -> ``card_removed``; ``6D 00``, any other status word, a broken protocol, an oversized
response, a tap past ``transaction_timeout``, or a reader that fails -> ``device_error``.

After a failure, the same tag (same UID) is not tried again while it stays in the field (seen
again within ``repeat_s``): a transit card lying on the reader is reported once, not at every
poll. Phones present a fresh random UID at each activation, so a phone that is lifted and tapped
again is always read again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import nfc
import nfc.clf

from drivers.nfc import apdu
from drivers.nfc.isodep import (
    CardSilent,
    DeadlineExceeded,
    FrameError,
    IsoDepError,
    IsoDepInitiator,
    ProtocolViolation,
    ResponseTooLong,
    parse_ats,
    rats,
)
from drivers.nfc.url import device_path
from pos.decision import PaymentRequest
from pos.ports import (
    CARD_REMOVED,
    DEVICE_ERROR,
    NOT_A_WALLET,
    SOURCE_TIMEOUT,
    WALLET_REFUSED,
    Presentation,
    SourceFailure,
)

log = logging.getLogger("drivers.nfc.reader")

MAX_RESPONSE = 4096  # token bytes a wallet may stream (SPEC tokens are at most 2048)
SEL_RES_ISO_DEP = 0x20  # SEL_RES bit 6: ISO/IEC 14443-4 compliant


class DeviceGone(IsoDepError):
    """The reader itself failed (USB unplugged, I/O error)."""


def outcome_of_sw(sw: int) -> str:
    """The driver outcome for a status word other than 90 00 / 61 XX."""
    if sw == apdu.SW_AID_UNKNOWN:
        return NOT_A_WALLET
    if sw == apdu.SW_REFUSED:
        return WALLET_REFUSED
    return DEVICE_ERROR


class NfcSource:
    """A TokenSource for one nfcpy reader; one ``read`` at a time (reads are serialised)."""

    def __init__(
        self,
        url: str,
        *,
        exchange_timeout: float = 1.0,
        transaction_timeout: float = 5.0,
        max_response: int = MAX_RESPONSE,
        poll_interval: float = 0.05,
        rf_off_s: float = 0.01,
        repeat_s: float = 1.0,
    ) -> None:
        self.url = url
        self.path = device_path(url)
        self.exchange_timeout = exchange_timeout
        self.transaction_timeout = transaction_timeout
        self.max_response = max_response
        self.poll_interval = poll_interval
        self.rf_off_s = rf_off_s  # field-off time between taps (ISO 14443-3 asks at least 5 ms)
        self.repeat_s = repeat_s
        self._clf: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._field_off_at = 0.0
        self._quiet: tuple[bytes, float] | None = None  # (uid, last seen) of a tag that failed

    # -- device ---------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the reader now (``read`` opens it on demand); ``SourceFailure(DEVICE_ERROR)``."""
        with self._lock:
            self._ensure_open()

    def _ensure_open(self) -> Any:
        if self._closed:
            raise SourceFailure(DEVICE_ERROR, "closed")
        if self._clf is None:
            try:
                self._clf = nfc.ContactlessFrontend(self.path)
            except Exception as exc:  # noqa: BLE001 - nfcpy raises IOError, ValueError, usb errors
                raise SourceFailure(DEVICE_ERROR, f"cannot open NFC reader {self.path}: {exc}") from None
            log.info("NFC reader %s open: %s", self.path, self._clf)
        return self._clf

    def _drop_device(self, why: str) -> None:
        log.warning("NFC reader %s failed (%s); reopening on the next read", self.path, why)
        clf, self._clf = self._clf, None
        if clf is not None:
            try:
                clf.close()
            except Exception:  # noqa: BLE001, S110 - it is already broken
                pass

    def close(self) -> None:
        self._closed = True
        clf, self._clf = self._clf, None
        if clf is not None:
            clf.close()  # waits for a poll in progress (nfcpy's lock), then closes

    def _field_off(self, clf: Any) -> None:
        with clf.lock:
            if clf.device is not None:
                try:
                    clf.device.mute()  # RF off (udp: tells the emulator "RFOFF")
                except Exception as exc:  # noqa: BLE001 - the next poll will find out
                    log.debug("mute failed: %s", exc)
        self._field_off_at = time.monotonic()

    # -- read -----------------------------------------------------------------------------------
    def read(self, request: PaymentRequest, timeout: float) -> Presentation:
        command = apdu.generate_token(request)  # ValueError without a 16-byte challenge
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            clf = self._ensure_open()
            while True:
                target = self._sense(clf)
                if target is None:
                    self._quiet = None
                else:
                    uid = bytes(target.sdd_res or b"")
                    if self._is_quiet(uid):
                        self._field_off(clf)
                    else:
                        return self._tap(clf, target, uid, command)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceFailure(SOURCE_TIMEOUT)
                time.sleep(min(self.poll_interval, left))

    def _is_quiet(self, uid: bytes) -> bool:
        now = time.monotonic()
        if self._quiet is not None and self._quiet[0] == uid and now - self._quiet[1] <= self.repeat_s:
            self._quiet = (uid, now)
            return True
        self._quiet = None
        return False

    def _sense(self, clf: Any) -> Any:
        wait = self._field_off_at + self.rf_off_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            return clf.sense(nfc.clf.RemoteTarget("106A"), iterations=1)
        except OSError as exc:
            if self._closed:
                raise SourceFailure(DEVICE_ERROR, "closed") from None
            self._drop_device(str(exc))
            raise SourceFailure(DEVICE_ERROR, f"NFC reader {self.path}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - UnsupportedTargetError, ValueError, a parser bug
            self._field_off(clf)
            raise SourceFailure(DEVICE_ERROR, f"NFC poll failed: {type(exc).__name__}: {exc}") from None

    def _tap(self, clf: Any, target: Any, uid: bytes, command: bytes) -> Presentation:
        started = time.perf_counter()
        try:
            token = self._transact(clf, target, command)
        except SourceFailure as failure:
            self._quiet = (uid, time.monotonic())
            log.info("NFC tap %s: %s", uid.hex(), failure)
            raise
        finally:
            if self._clf is clf:
                self._field_off(clf)
        took = time.perf_counter() - started
        log.debug("NFC tap %s: %d-byte token in %.1f ms", uid.hex(), len(token), 1000 * took)
        return Presentation("bytes", token, self.url)

    def _exchange(self, clf: Any) -> Any:
        def exchange(frame: bytes, timeout: float) -> bytes:
            try:
                reply = clf.exchange(bytearray(frame), timeout)
            except nfc.clf.TimeoutError:
                raise CardSilent(f"no answer within {timeout:.3f} s") from None
            except nfc.clf.BrokenLinkError as exc:
                raise CardSilent(f"link broken ({exc})") from None
            except nfc.clf.TransmissionError as exc:
                raise FrameError(str(exc) or "transmission error") from None
            except nfc.clf.ProtocolError as exc:
                raise ProtocolViolation(str(exc) or "protocol error") from None
            except nfc.clf.CommunicationError as exc:
                raise CardSilent(str(exc) or type(exc).__name__) from None
            except OSError as exc:
                raise DeviceGone(str(exc)) from None
            if reply is None:
                raise FrameError("no data")
            return bytes(reply)

        return exchange

    def _transact(self, clf: Any, target: Any, command: bytes) -> bytes:
        sel_res = bytes(target.sel_res or b"")
        if not sel_res or not sel_res[0] & SEL_RES_ISO_DEP:
            kind = "a Type 2 tag" if sel_res and not sel_res[0] & 0x60 else "not ISO-DEP"
            raise SourceFailure(NOT_A_WALLET, f"tag {bytes(target.sdd_res or b'').hex()} is {kind}")
        deadline = time.monotonic() + self.transaction_timeout
        exchange = self._exchange(clf)
        try:
            link = self._activate(clf, exchange, deadline)
            try:
                return self._apdus(link, command)
            except SourceFailure:
                link.deselect(min(self.exchange_timeout, 0.1))  # the link is fine: end it politely
                raise
        except CardSilent as exc:
            raise SourceFailure(CARD_REMOVED, str(exc)) from None
        except ResponseTooLong as exc:
            raise SourceFailure(DEVICE_ERROR, f"wallet response too long: {exc}") from None
        except ProtocolViolation as exc:
            raise SourceFailure(DEVICE_ERROR, f"ISO-DEP: {exc}") from None
        except DeadlineExceeded as exc:
            raise SourceFailure(DEVICE_ERROR, f"tap took over {self.transaction_timeout} s: {exc}") from None
        except DeviceGone as exc:
            self._drop_device(str(exc))
            raise SourceFailure(DEVICE_ERROR, f"NFC reader {self.path}: {exc}") from None
        except IsoDepError as exc:
            raise SourceFailure(DEVICE_ERROR, str(exc)) from None

    def _activate(self, clf: Any, exchange: Any, deadline: float) -> IsoDepInitiator:
        try:
            fsd_ok = clf.max_recv_data_size >= 256
            max_send = clf.max_send_data_size
        except OSError as exc:
            raise DeviceGone(str(exc)) from None
        wait = min(self.exchange_timeout, deadline - time.monotonic())
        ats = parse_ats(exchange(rats(8 if fsd_ok else 7), wait))
        if ats.sfgt:
            time.sleep(min(ats.sfgt, 0.1))  # start-up frame guard time the card asked for
        return IsoDepInitiator(
            exchange,
            fsc=max(16, min(ats.fsc, max_send)),
            fwt=ats.fwt,
            frame_timeout=self.exchange_timeout,
            deadline=deadline,
            max_response=self.max_response + 2,
        )

    def _apdus(self, link: IsoDepInitiator, command: bytes) -> bytes:
        _, sw = self._call(link, apdu.select_wallet(), "SELECT")
        if sw != apdu.SW_OK:
            raise SourceFailure(outcome_of_sw(sw), f"SELECT: {apdu.sw_name(sw)}")
        data, sw = self._call(link, command, "GENERATE TOKEN")
        token = bytearray(data)
        while sw >> 8 == apdu.SW_BYTES_REMAINING:
            if len(token) > self.max_response:
                break
            data, sw = self._call(link, apdu.get_response(sw & 0xFF), "GET RESPONSE")
            if not data and sw >> 8 == apdu.SW_BYTES_REMAINING:
                raise SourceFailure(DEVICE_ERROR, "GET RESPONSE: 61 XX without data")
            token += data
        if len(token) > self.max_response:
            raise SourceFailure(DEVICE_ERROR, f"wallet response over {self.max_response} bytes")
        if sw != apdu.SW_OK:
            raise SourceFailure(outcome_of_sw(sw), f"GENERATE TOKEN: {apdu.sw_name(sw)}")
        link.deselect(min(self.exchange_timeout, 0.1))
        return bytes(token)

    @staticmethod
    def _call(link: IsoDepInitiator, command: bytes, what: str) -> tuple[bytes, int]:
        rapdu = link.transceive(command)
        try:
            return apdu.split_response(rapdu)
        except ValueError as exc:
            raise SourceFailure(DEVICE_ERROR, f"{what}: {exc}") from None

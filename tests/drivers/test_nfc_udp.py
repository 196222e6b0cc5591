"""NFC end to end over nfcpy's real ``udp:`` driver on 127.0.0.1, no mocks.

The wallet emulator (``python -m sim.nfc_wallet``) runs in its own process, as a phone
would; the reader (``NfcSource``) runs here and hands its bytes to a real ``Terminal``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nfc
import pytest

from drivers.nfc import apdu
from drivers.nfc.reader import NfcSource
from pos import reasons
from pos.decision import PaymentRequest
from pos.keystore import KeyStore
from pos.ports import (
    CARD_REMOVED,
    DEVICE_ERROR,
    NOT_A_WALLET,
    SOURCE_TIMEOUT,
    WALLET_REFUSED,
    SourceFailure,
)
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from pos.tokens import parse_token
from sim.wallet import Wallet
from tests.conftest import Demo

REPO = Path(__file__).resolve().parents[2]
TERMINAL_ID = "NFC-TEST-1"

pytestmark = pytest.mark.timeout(60)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def port_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
        return False


class Phone:
    """One emulator process; its JSON events arrive on a queue (bounded waits only)."""

    def __init__(self, wallet: Path, port: int, *args: str) -> None:
        cmd = [sys.executable, "-m", "sim.nfc_wallet", "--wallet", str(wallet), "--port", str(port)]
        cmd += ["--timeout", "120", *args]  # an orphan (the test runner was killed) leaves on its own
        self.port = port
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty child never blocks
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait("ready", 20)
        deadline = time.monotonic() + 5
        while not port_bound(port):  # "ready" comes just before listen() binds the port
            assert time.monotonic() < deadline, "the emulator never bound its port"
            time.sleep(0.005)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self.events.put(json.loads(line))

    def wait(self, name: str, timeout: float = 5) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self.events.empty()):
                self.stderr.seek(0)
                err = self.stderr.read().decode(errors="replace")[-2000:]
                raise AssertionError(f"no {name!r} event from the emulator (seen {self.seen}) {err}")
            try:
                event = self.events.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            self.seen.append(event)
            if event["event"] == name:
                return event

    def drain(self) -> list[dict[str, Any]]:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


@pytest.fixture
def port() -> int:
    return free_udp_port()


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    started: list[Phone] = []
    yield started
    for phone in started:
        phone.kill()


@pytest.fixture
def wallet_file(demo: Demo) -> Path:
    return save_wallet(demo.wallet(), demo.dir / "alice.json")


def save_wallet(wallet: Wallet, path: Path) -> Path:
    wallet.path = path
    wallet.save()
    return path


@pytest.fixture
def terminal(demo: Demo) -> Iterator[Terminal]:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    term = Terminal(demo.data_dir, store)
    yield term
    term.close()


@pytest.fixture
def reader(port: int) -> Iterator[NfcSource]:
    src = NfcSource(f"udp:127.0.0.1:{port}", exchange_timeout=0.5)
    yield src
    src.close()


def request(demo: Demo, amount: int = 1_250) -> PaymentRequest:
    return PaymentRequest(amount, "EUR", demo.now, TERMINAL_ID, os.urandom(16))


def start(phones: list[Phone], wallet: Path, port: int, *args: str) -> Phone:
    phone = Phone(wallet, port, *args)
    phones.append(phone)
    return phone


def fail(reader: NfcSource, req: PaymentRequest, timeout: float = 5) -> tuple[SourceFailure, float]:
    started = time.monotonic()
    with pytest.raises(SourceFailure) as info:
        reader.read(req, timeout)
    return info.value, time.monotonic() - started


# -- the happy paths --------------------------------------------------------------------------------
def test_tap_to_approved(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource, terminal: Terminal
) -> None:
    phone = start(phones, wallet_file, port)
    req = request(demo, 1_250)
    presented = reader.read(req, 5)
    assert presented.kind == "bytes" and presented.source == f"udp:127.0.0.1:{port}"
    decision = terminal.accept_bytes(presented.data, req)
    assert decision.approved, decision
    assert (decision.amount, decision.mode, decision.seq) == (1_250, "nfc", 1)
    assert decision.wallet_id == Wallet.load(wallet_file).wallet_id
    asked = phone.wait("generate")  # the wallet signed exactly what the terminal asked
    assert (asked["amount"], asked["currency"], asked["terminal_id"], asked["now"]) == (
        1_250, "EUR", TERMINAL_ID, demo.now,
    )  # fmt: skip
    assert bytes.fromhex(asked["challenge"]) == req.challenge
    assert phone.wait("session_end")["reason"] == "deselected"


def test_the_reader_passes_the_right_challenge(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource, terminal: Terminal
) -> None:
    start(phones, wallet_file, port)
    asked = request(demo, 990)
    raw = reader.read(asked, 5).data
    assert parse_token(raw).challenge == asked.challenge
    other = PaymentRequest(990, "EUR", demo.now, TERMINAL_ID, os.urandom(16))  # another tap's challenge
    assert terminal.accept_bytes(raw, other).reason == reasons.CHALLENGE_MISMATCH
    assert terminal.accept_bytes(raw, asked).approved


@pytest.mark.parametrize(
    ("args", "get_responses"),
    [(("--fault", "chained"), 9), (("--chunk", "256"), 1)],  # 61 XX in 32-byte pieces; ISO-DEP chaining
    ids=["61XX-chaining", "iso-dep-chaining"],
)
def test_chained_responses(
    demo: Demo,
    wallet_file: Path,
    port: int,
    phones: list[Phone],
    reader: NfcSource,
    terminal: Terminal,
    args: tuple[str, ...],
    get_responses: int,
) -> None:
    phone = start(phones, wallet_file, port, *args)
    req = request(demo)
    raw = reader.read(req, 5).data
    assert terminal.accept_bytes(raw, req).approved
    size = phone.wait("token")["size"]
    assert len(raw) == size > 256
    phone.wait("session_end")
    assert sum(e["event"] == "get_response" for e in phone.drain()) >= get_responses


def test_two_taps_then_a_second_phone(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource, terminal: Terminal
) -> None:
    """The reader stays open across taps; another phone on the same reader is read like the first."""
    first = start(phones, wallet_file, port, "--taps", "2")
    for amount in (100, 200):
        req = request(demo, amount)
        assert terminal.accept_bytes(reader.read(req, 5).data, req).approved
    first.proc.wait(timeout=10)  # served its two taps and left
    bob = demo.wallet("es", alg=-7)
    start(phones, save_wallet(bob, demo.dir / "bob.json"), port)
    req = request(demo, 300)
    decision = terminal.accept_bytes(reader.read(req, 5).data, req)
    assert decision.approved and decision.wallet_id == bob.wallet_id


def test_slow_wallet_within_the_frame_timeout(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], terminal: Terminal
) -> None:
    start(phones, wallet_file, port, "--fault", "slow", "--delay", "0.3")
    with contextlib.closing(NfcSource(f"udp:127.0.0.1:{port}", exchange_timeout=1.0)) as reader:
        req = request(demo)
        started = time.monotonic()
        raw = reader.read(req, 5).data
        assert time.monotonic() - started >= 0.3
    assert terminal.accept_bytes(raw, req).approved


def test_slow_wallet_asking_for_more_time(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource, terminal: Terminal
) -> None:
    """S(WTX): 1.2 s of signing is fine with a 0.5 s frame timeout when the wallet asks for time."""
    start(phones, wallet_file, port, "--fault", "slow-wtx", "--delay", "1.2")
    req = request(demo)
    assert terminal.accept_bytes(reader.read(req, 5).data, req).approved


# -- faults -> driver outcomes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "outcome", "detail"),
    [
        ("refuses", WALLET_REFUSED, "6985"),
        ("wrong-aid", NOT_A_WALLET, "6A82"),
        ("unknown-ins", DEVICE_ERROR, "6D00"),
        ("not-iso-dep", NOT_A_WALLET, "Type 2 tag"),
        ("vanish", CARD_REMOVED, "no answer"),
        ("endless", DEVICE_ERROR, "over 4096 bytes"),
        ("endless-frames", DEVICE_ERROR, "too long"),
    ],
)
def test_fault_outcomes(
    demo: Demo,
    wallet_file: Path,
    port: int,
    phones: list[Phone],
    reader: NfcSource,
    fault: str,
    outcome: str,
    detail: str,
) -> None:
    start(phones, wallet_file, port, "--fault", fault)
    failure, took = fail(reader, request(demo))
    assert failure.outcome == outcome and detail in failure.detail, failure
    assert took < 2.0  # one 0.5 s frame timeout at most


def test_a_tag_on_the_reader_is_reported_once(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource, terminal: Terminal
) -> None:
    tag = start(phones, wallet_file, port, "--fault", "not-iso-dep", "--uid", "04a1b2c3")
    assert fail(reader, request(demo))[0].outcome == NOT_A_WALLET
    assert fail(reader, request(demo), timeout=0.3)[0].outcome == SOURCE_TIMEOUT  # still there: quiet
    tag.kill()
    start(phones, wallet_file, port)  # the tag is gone, a phone comes
    req = request(demo)
    assert terminal.accept_bytes(reader.read(req, 5).data, req).approved


def test_slow_wallet_past_the_frame_timeout_is_card_removed(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource
) -> None:
    start(phones, wallet_file, port, "--fault", "slow", "--delay", "3")
    failure, took = fail(reader, request(demo))
    assert failure.outcome == CARD_REMOVED
    assert 0.5 <= took < 1.5


def test_endless_waiting_time_extensions_hit_the_transaction_deadline(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone]
) -> None:
    start(phones, wallet_file, port, "--fault", "slow-wtx", "--delay", "30")
    with contextlib.closing(
        NfcSource(f"udp:127.0.0.1:{port}", exchange_timeout=0.5, transaction_timeout=1.5)
    ) as reader:
        failure, took = fail(reader, request(demo))
    assert failure.outcome == DEVICE_ERROR and "1.5 s" in failure.detail, failure
    assert took < 2.5


def test_phone_removed_mid_exchange(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], reader: NfcSource, terminal: Terminal
) -> None:
    """The phone's process dies while it signs: CARD_REMOVED within a frame timeout; the next tap works."""
    phone = start(phones, wallet_file, port, "--fault", "slow", "--delay", "30")
    killed = threading.Event()

    def pull_away() -> None:
        with contextlib.suppress(AssertionError):
            phone.wait("generate", 10)
            phone.proc.kill()
            killed.set()

    threading.Thread(target=pull_away, daemon=True).start()
    failure, took = fail(reader, request(demo))
    assert killed.is_set()
    assert failure.outcome == CARD_REMOVED, failure
    assert took < 1.5
    start(phones, wallet_file, port, "--uid", "08000001")  # tapped again (a fresh random UID)
    req = request(demo)
    assert terminal.accept_bytes(reader.read(req, 5).data, req).approved


# -- no phone, closed reader -----------------------------------------------------------------------
def test_nobody_taps(demo: Demo, reader: NfcSource) -> None:
    failure, took = fail(reader, request(demo), timeout=0.3)
    assert failure.outcome == SOURCE_TIMEOUT
    assert took < 1.6  # one udp poll waits up to 1 s for an answer (nfcpy)


def test_closed_reader(demo: Demo, reader: NfcSource) -> None:
    reader.close()
    failure, took = fail(reader, request(demo))
    assert failure.outcome == DEVICE_ERROR and took < 0.1


def test_read_needs_a_challenge(reader: NfcSource) -> None:
    with pytest.raises(ValueError, match="challenge"):
        reader.read(PaymentRequest(100, "EUR", 0, TERMINAL_ID), 1)


def test_nfcpy_stock_type4_reader_reads_the_emulator(
    demo: Demo, wallet_file: Path, port: int, phones: list[Phone], terminal: Terminal
) -> None:
    """An independent initiator (nfcpy's own Type4ATag) against the emulator's card side."""
    start(phones, wallet_file, port, "--chunk", "256")  # 258-byte APDUs: ISO-DEP chaining, then 61 XX
    clf = nfc.ContactlessFrontend(f"udp:127.0.0.1:{port}")
    try:
        tag = clf.connect(rdwr={"targets": ["106A"], "on-connect": lambda tag: False, "iterations": 1})
        assert tag is not None and tag.TYPE == "Type4Tag"
        assert tag.send_apdu(0x00, 0xA4, 0x04, 0x00, apdu.AID, 256) == b""
        req = request(demo)
        rsp = bytes(tag.send_apdu(0x80, 0x10, 0, 0, apdu.request_map(req), 256, check_status=False))
        token = rsp[:-2]
        while rsp[-2] == 0x61:
            rsp = bytes(tag.send_apdu(0x00, 0xC0, 0, 0, None, rsp[-1] or 256, check_status=False))
            token += rsp[:-2]
        assert rsp[-2:] == b"\x90\x00"
    finally:
        clf.close()
    assert terminal.accept_bytes(token, req).approved

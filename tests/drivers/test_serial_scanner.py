"""ScannerSource over real ptys, loop:// and socket://127.0.0.1 (SPEC 2, serial scanner). No mocks."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.serial.lines import frame_problem
from drivers.serial.scanner import ScannerSource
from pos import reasons
from pos.decision import PaymentRequest
from pos.keystore import KeyStore
from pos.ports import DEVICE_ERROR, SOURCE_TIMEOUT, Presentation, SourceFailure, TokenSource
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from tests.conftest import Demo

REQ = PaymentRequest(100, "EUR", 0, "T1")


class Pty:
    """A pty pair: the test writes to the master, the scanner source opens the slave by name."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.name = os.ttyname(self._slave)

    def release_slave(self) -> None:
        """Close the test's own slave fd (after the source has opened and configured it)."""
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def write_later(self, *chunks: bytes, gap: float = 0.0) -> threading.Thread:
        def run() -> None:
            for chunk in chunks:
                time.sleep(gap)
                self.write(chunk)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self.release_slave()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty()
    yield p
    p.close()


@pytest.fixture
def scanner(pty: Pty) -> Iterator[ScannerSource]:
    src = ScannerSource(pty.name, line_timeout=0.3)
    pty.release_slave()
    yield src
    src.close()


class LineServer:
    """A real TCP server on 127.0.0.1 playing a scanner behind ser2net: one client at a time."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))  # SO_REUSEADDR on POSIX
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            self.conn, _ = self.listener.accept()
        except OSError:
            return
        self.accepted.set()

    def send(self, data: bytes) -> None:
        assert self.accepted.wait(5), "the scanner source never connected"
        assert self.conn is not None
        self.conn.sendall(data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


def read_text(src: TokenSource, timeout: float = 2.0) -> bytes:
    p = src.read(REQ, timeout)
    assert p.kind == "text" and p.source == src.url
    return p.data


# -- framing over a pty ----------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\r", b"\n", b"\r\n"])
def test_pty_lines_with_each_terminator(pty: Pty, scanner: ScannerSource, eol: bytes) -> None:
    pty.write(b"OWT1:AAA" + eol)
    assert read_text(scanner) == b"OWT1:AAA"
    pty.write(b"OWT1:BBB" + eol)
    assert read_text(scanner) == b"OWT1:BBB"
    with pytest.raises(SourceFailure) as info:  # CR LF left no empty line behind
        scanner.read(REQ, 0.2)
    assert info.value.outcome == SOURCE_TIMEOUT


def test_pty_two_tokens_in_one_write(pty: Pty, scanner: ScannerSource) -> None:
    pty.write(b"OWT1:ONE\r\nOWT1:TWO\r\n")
    assert [read_text(scanner), read_text(scanner)] == [b"OWT1:ONE", b"OWT1:TWO"]


def test_pty_token_split_across_writes_with_delays(pty: Pty, scanner: ScannerSource) -> None:
    """Gaps shorter than the line timeout (idle) do not cut the line; CR and LF split too."""
    pty.write_later(b"OWT1:", b"SPLIT", b"TOK", b"EN\r", b"\nOWT1:NEXT\r", gap=0.05)
    assert read_text(scanner) == b"OWT1:SPLITTOKEN"
    assert read_text(scanner) == b"OWT1:NEXT"


def test_pty_empty_lines_are_ignored(pty: Pty, scanner: ScannerSource) -> None:
    pty.write(b"\r\r\n\n\rOWT1:X\r")
    assert read_text(scanner) == b"OWT1:X"


def test_pty_partial_line_times_out_as_malformed(
    pty: Pty, scanner: ScannerSource, caplog: pytest.LogCaptureFixture
) -> None:
    pty.write(b"OWT1:NO-TERMINATOR")
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="drivers.serial.scanner"):
        data = read_text(scanner, timeout=2.0)
    assert 0.25 <= time.monotonic() - t0 < 1.5
    assert frame_problem(data) == "partial"
    assert "no terminator" in caplog.text
    pty.write(b"OWT1:AFTER\r")  # the framer starts clean
    assert read_text(scanner) == b"OWT1:AFTER"


def test_pty_read_timeout_waits_for_a_line_in_progress(pty: Pty) -> None:
    """A read whose timeout falls mid-line finishes that line rather than cutting it."""
    with ScannerSource(pty.name, line_timeout=0.6) as src:
        pty.write(b"OWT1:LA")
        pty.write_later(b"TE\r", gap=0.2)
        assert read_text(src, timeout=0.05) == b"OWT1:LATE"


def test_pty_ten_thousand_char_line_is_drained_bounded(pty: Pty, scanner: ScannerSource) -> None:
    writer = pty.write_later(b"OWT1:" + b"A" * 9_995 + b"\r\nOWT1:GOOD\r\n")  # a thread: the pty blocks
    first = read_text(scanner)
    assert frame_problem(first) == "overlong"
    assert first.endswith(b":10000")
    assert read_text(scanner) == b"OWT1:GOOD"
    writer.join(5)
    assert scanner._framer.high_water <= 4096


def test_pty_binary_noise_does_not_crash(pty: Pty, scanner: ScannerSource) -> None:
    noise = bytes(range(256)) * 4
    pty.write(noise + b"\r\nOWT1:CLEAN\r\n")
    got = []
    while (data := read_text(scanner)) != b"OWT1:CLEAN":
        got.append(data)
    assert b"".join(got) == noise.replace(b"\r", b"").replace(b"\n", b"")


def test_nothing_presented_is_source_timeout(scanner: ScannerSource) -> None:
    t0 = time.monotonic()
    with pytest.raises(SourceFailure) as info:
        scanner.read(REQ, 0.2)
    assert info.value.outcome == SOURCE_TIMEOUT
    assert 0.15 <= time.monotonic() - t0 < 1.0


def test_discard_pending_drops_stale_scans(pty: Pty, scanner: ScannerSource) -> None:
    pty.write(b"OWT1:STALE\r")
    time.sleep(0.05)
    scanner.discard_pending()
    pty.write(b"OWT1:FRESH\r")
    assert read_text(scanner) == b"OWT1:FRESH"


# -- other URL handlers ----------------------------------------------------------------------


def test_loop_url() -> None:
    with ScannerSource("loop://", line_timeout=0.1) as src:
        assert src.port is not None
        src.port.write(b"OWT1:LOOP\r\nOWT1:TWO\nOWT1:PART")
        assert [read_text(src), read_text(src)] == [b"OWT1:LOOP", b"OWT1:TWO"]
        assert frame_problem(read_text(src)) == "partial"
    assert src.health().state == "closed"


def test_socket_url_lines() -> None:
    server = LineServer()
    try:
        with ScannerSource(f"socket://127.0.0.1:{server.port}", line_timeout=0.15) as src:
            server.send(b"OWT1:SOCK\r\nOWT1:ET\r")
            assert [read_text(src), read_text(src)] == [b"OWT1:SOCK", b"OWT1:ET"]
            server.send(b"OWT1:" + b"Z" * 5000 + b"\nOWT1:OK\n")
            assert frame_problem(read_text(src)) == "overlong"
            assert read_text(src) == b"OWT1:OK"
    finally:
        server.close()


def test_bad_url_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        ScannerSource("nosuchscheme://x")


# -- hot plug --------------------------------------------------------------------------------


def send_when_back(src: ScannerSource, device: Pty | LineServer, data: bytes) -> None:
    """Send once the source has reopened: pyserial flushes input on open, as a real port does."""
    deadline = time.monotonic() + 5
    while not src.health().ok and time.monotonic() < deadline:
        time.sleep(0.01)
    if isinstance(device, Pty):
        device.write(data)
    else:
        device.send(data)


def test_pty_vanishes_and_returns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The udev-style link points at a pty; the pty dies, a new one appears under the same link."""
    link = tmp_path / "ttyScanner"
    first = Pty()
    link.symlink_to(first.name)
    caplog.set_level(logging.INFO, logger="drivers.serial.scanner")
    src = ScannerSource(str(link), line_timeout=0.5, backoff_initial=0.05, backoff_max=0.2)
    second: Pty | None = None
    try:
        first.release_slave()
        assert src.health().ok
        first.write(b"OWT1:BEFORE\r")
        assert read_text(src) == b"OWT1:BEFORE"

        first.write(b"OWT1:HALF")  # unplugged mid-scan, while the source is reading the line
        threading.Timer(0.05, first.close).start()
        assert frame_problem(read_text(src)) == "partial"
        with pytest.raises(SourceFailure) as info:
            src.read(REQ, 0.4)
        assert info.value.outcome == DEVICE_ERROR
        health = src.health()
        assert health.state == "reconnecting" and health.last_error and health.retry_in_s
        assert not health.ok and health.detail.startswith("reconnecting: ") and health.name == str(link)
        assert f"scanner {link} gone" in caplog.text and "retrying in 0.05 s" in caplog.text
        assert "still gone" in caplog.text and "retrying in 0.2 s" in caplog.text  # backoff, capped

        second = Pty()
        tmp = tmp_path / "next"
        tmp.symlink_to(second.name)
        os.replace(tmp, link)

        threading.Thread(target=send_when_back, args=(src, second, b"OWT1:AFTER\r\n"), daemon=True).start()
        assert read_text(src, timeout=5) == b"OWT1:AFTER"
        assert src.health().ok and src.health().reconnects == 1
        assert f"scanner {link} back" in caplog.text
    finally:
        src.close()
        first.close()
        if second is not None:
            second.close()


def test_socket_server_goes_away_and_comes_back(caplog: pytest.LogCaptureFixture) -> None:
    server = LineServer()
    port = server.port
    caplog.set_level(logging.INFO, logger="drivers.serial.scanner")
    src = ScannerSource(f"socket://127.0.0.1:{port}", backoff_initial=0.05, backoff_max=0.1)
    try:
        server.send(b"OWT1:ONE\r\n")
        assert read_text(src) == b"OWT1:ONE"
        server.close()
        with pytest.raises(SourceFailure) as info:
            src.read(REQ, 0.3)
        assert info.value.outcome == DEVICE_ERROR
        assert not src.health().ok and "socket disconnected" in (src.health().last_error or "")
        server = LineServer(port)  # the same port, a new server
        threading.Thread(target=send_when_back, args=(src, server, b"OWT1:TWO\r\n"), daemon=True).start()
        assert read_text(src, timeout=5) == b"OWT1:TWO"
        assert src.health().ok and src.health().reconnects == 1
        assert "back after" in caplog.text
    finally:
        src.close()
        server.close()


def test_scanner_absent_at_start_connects_later(tmp_path: Path) -> None:
    link = tmp_path / "ttyLater"
    src = ScannerSource(str(link), backoff_initial=0.05, backoff_max=0.1)
    pty = Pty()
    try:
        assert src.health().state == "reconnecting"
        with pytest.raises(SourceFailure) as info:
            src.read(REQ, 0.1)
        assert info.value.outcome == DEVICE_ERROR
        link.symlink_to(pty.name)
        with pytest.raises(SourceFailure) as info:
            src.read(REQ, 0.5)  # connects, then nothing is scanned
        assert info.value.outcome == SOURCE_TIMEOUT
        assert src.health().ok and src.health().reconnects == 0
        pty.write(b"OWT1:LATE\r")
        assert read_text(src) == b"OWT1:LATE"
    finally:
        src.close()
        pty.close()


def test_flapping_port_backs_off_exponentially(caplog: pytest.LogCaptureFixture) -> None:
    """A peer that accepts and drops at once: each reopen fails at once, so the delay grows."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept_and_drop() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.close()

    threading.Thread(target=accept_and_drop, daemon=True).start()
    caplog.set_level(logging.INFO, logger="drivers.serial.scanner")
    src = ScannerSource(
        f"socket://127.0.0.1:{listener.getsockname()[1]}", backoff_initial=0.05, backoff_max=0.2
    )
    try:
        with pytest.raises(SourceFailure):
            src.read(REQ, 1.6)
    finally:
        src.close()
        stop.set()
        listener.close()
    delays = [
        float(r.getMessage().rsplit("retrying in ", 1)[1][:-2]) for r in caplog.records if "gone" in r.message
    ]
    assert len(delays) >= 3
    assert delays == sorted(delays) and delays[-1] == 0.2


def test_zero_timeout_polls_once() -> None:
    with ScannerSource("loop://") as src:
        with pytest.raises(SourceFailure) as info:
            src.read(REQ, 0)
        assert info.value.outcome == SOURCE_TIMEOUT
        assert src.port is not None
        src.port.write(b"OWT1:NOW\r")
        assert src.read(REQ, 0).data == b"OWT1:NOW"


def test_close_ends_reads() -> None:
    src = ScannerSource("loop://")
    src.close()
    with pytest.raises(SourceFailure) as info:
        src.read(REQ, 0.1)
    assert info.value.outcome == DEVICE_ERROR


def test_close_from_another_thread_ends_a_blocked_read(pty: Pty) -> None:
    src = ScannerSource(pty.name)
    threading.Timer(0.1, src.close).start()
    t0 = time.monotonic()
    with pytest.raises(SourceFailure) as info:
        src.read(REQ, 5)
    assert info.value.outcome == DEVICE_ERROR and time.monotonic() - t0 < 2
    assert src.health().state == "closed"


# -- through the terminal --------------------------------------------------------------------


def terminal_of(demo: Demo) -> Terminal:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    return Terminal(demo.data_dir, store)


def test_end_to_end_pty_line_to_approved_and_malformed(demo: Demo, pty: Pty, scanner: ScannerSource) -> None:
    term = terminal_of(demo)
    try:
        wallet = demo.wallet()
        req = PaymentRequest(250, "EUR", demo.now, "T1")
        text = encode_text(wallet.token(max_amount=500, now=demo.now)).encode()
        pty.write_later(text[:40], text[40:] + b"\r\n", gap=0.02)
        presented = scanner.read(req, 2.0)
        assert presented == Presentation("text", text, pty.name)
        decision = term.accept_text(presented.data, req)
        assert decision.approved and decision.amount == 250 and decision.seq is not None

        # the same token, but the scanner never ends the line: malformed, not approved
        fresh = encode_text(wallet.token(max_amount=500, now=demo.now)).encode()
        pty.write(fresh)
        assert term.accept_text(scanner.read(req, 2.0).data, req).reason == reasons.MALFORMED
        # binary noise, and an over-long line: malformed; the next good line is approved
        pty.write(b"\x00\xff\xfe garbage \x80\x81\r\n")
        assert term.accept_text(scanner.read(req, 2.0).data, req).reason == reasons.MALFORMED
        pty.write_later(b"OWT1:" + b"0" * 6000 + b"\r\n" + fresh + b"\r\n")
        assert term.accept_text(scanner.read(req, 2.0).data, req).reason == reasons.MALFORMED
        assert term.accept_text(scanner.read(req, 2.0).data, req).approved
    finally:
        term.close()

"""NFC building blocks without a device: APDU coding, the request map, ATS, ISO-DEP block coding, URLs."""

from __future__ import annotations

import os

import cbor2
import pytest

from drivers.nfc import apdu, isodep
from drivers.nfc.faults import FAULT_NAMES, Faults
from drivers.nfc.url import device_path, is_nfc_url
from pos.decision import PaymentRequest


def test_select_is_spec_bytes() -> None:
    assert apdu.select_wallet() == bytes.fromhex("00A4040007F04F575431000100")


def test_generate_token_carries_the_request_map() -> None:
    ch = os.urandom(16)
    req = PaymentRequest(1234, "EUR", 1_790_000_000, "T-1", ch)
    cmd = apdu.parse_command(apdu.generate_token(req))
    assert (cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.ne) == (0x80, 0x10, 0, 0, 256)
    assert cbor2.loads(cmd.data) == {13: 1234, 8: "EUR", 14: ch, 15: "T-1", 1: 1_790_000_000}
    got = apdu.parse_request_map(cmd.data)
    assert (got.amount, got.currency, got.challenge, got.terminal_id, got.now) == (
        1234, "EUR", ch, "T-1", 1_790_000_000,
    )  # fmt: skip


def test_request_without_challenge_is_refused() -> None:
    with pytest.raises(ValueError, match="challenge"):
        apdu.generate_token(PaymentRequest(1, "EUR", 0, "T"))


@pytest.mark.parametrize(
    "data",
    [b"\xff", cbor2.dumps([1]), cbor2.dumps({13: -1, 8: "EUR", 14: bytes(16), 15: "T", 1: 0}),
     cbor2.dumps({13: 1, 8: "EUR", 14: bytes(15), 15: "T", 1: 0}), cbor2.dumps({13: True, 8: "EUR"})],
)  # fmt: skip
def test_bad_request_maps(data: bytes) -> None:
    with pytest.raises(ValueError):
        apdu.parse_request_map(data)


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        ("00C00000", apdu.Command(0, 0xC0, 0, 0)),
        ("00C0000020", apdu.Command(0, 0xC0, 0, 0, b"", 32)),
        ("00C0000000", apdu.Command(0, 0xC0, 0, 0, b"", 256)),
        ("8010000002AABB", apdu.Command(0x80, 0x10, 0, 0, b"\xaa\xbb")),
        ("8010000002AABB00", apdu.Command(0x80, 0x10, 0, 0, b"\xaa\xbb", 256)),
    ],
)
def test_parse_command_cases(raw: str, expect: apdu.Command) -> None:
    assert apdu.parse_command(bytes.fromhex(raw)) == expect
    assert apdu.command(
        expect.cla, expect.ins, expect.p1, expect.p2, expect.data, expect.ne
    ) == bytes.fromhex(raw)


@pytest.mark.parametrize("raw", ["00C000", "8010000003AABB", "80100000000001FF"])
def test_parse_command_rejects(raw: str) -> None:
    with pytest.raises(apdu.ApduError):
        apdu.parse_command(bytes.fromhex(raw))


def test_status_words() -> None:
    assert apdu.split_response(b"\x01\x02\x90\x00") == (b"\x01\x02", 0x9000)
    with pytest.raises(ValueError):
        apdu.split_response(b"\x90")
    assert apdu.get_response(0x00) == bytes.fromhex("00C0000000")
    assert apdu.get_response(0x20) == bytes.fromhex("00C0000020")
    assert "AID unknown" in apdu.sw_name(0x6A82)
    assert apdu.sw_name(0x6100) == "256 bytes remaining"


def test_ats_round_trip_and_defaults() -> None:
    ats = isodep.parse_ats(isodep.build_ats(fsci=8, fwi=8))
    assert (ats.fsc, ats.fwi, ats.sfgi, ats.cid_supported, ats.nad_supported) == (256, 8, 0, False, False)
    assert ats.fwt == pytest.approx(0.0773, abs=1e-4)
    android = isodep.parse_ats(bytes.fromhex("0578807002"))  # nfcpy's default card ATS
    assert (android.fsc, android.fwi, android.cid_supported) == (256, 7, True)
    bare = isodep.parse_ats(b"\x01")
    assert (bare.fsc, bare.fwi) == (32, 4)
    for bad in (b"", b"\x05\x78", b"\x03\x78\x80"):
        with pytest.raises(isodep.ProtocolViolation):
            isodep.parse_ats(bad)


def test_block_kinds() -> None:
    assert isodep.is_i_block(0x02) and isodep.is_i_block(0x13)
    assert isodep.is_r_block(0xA2) and isodep.is_r_block(0xB3)
    assert isodep.is_s_block(0xC2) and isodep.is_s_block(0xF2)
    for pcb in (0x26, 0x50, 0xE0):  # SENS_REQ, HLTA, RATS are none of them
        assert not (isodep.is_i_block(pcb) or isodep.is_r_block(pcb) or isodep.is_s_block(pcb))


class ScriptedCard:
    """A card as a list of answers, for the initiator's edge cases (the end-to-end tests use nfcpy)."""

    def __init__(self, answers: list[bytes | type[Exception]]) -> None:
        self.answers = answers
        self.sent: list[bytes] = []

    def __call__(self, frame: bytes, timeout: float) -> bytes:
        self.sent.append(frame)
        answer = self.answers.pop(0)
        if isinstance(answer, type):
            raise answer("scripted")
        return answer


def initiator(card: ScriptedCard, **kw: object) -> isodep.IsoDepInitiator:
    opts: dict[str, object] = {"fsc": 32, "fwt": 0.01, "frame_timeout": 0.1, "deadline": 1e12}
    opts["max_response"] = 100
    opts.update(kw)
    return isodep.IsoDepInitiator(card, **opts)  # type: ignore[arg-type]


def test_initiator_chains_both_ways_and_follows_wtx() -> None:
    card = ScriptedCard([b"\xa2", b"\xf2\x05", b"\x13" + b"a" * 20, b"\x02" + b"b\x90\x00"])
    link = initiator(card)
    assert link.transceive(bytes(40)) == b"a" * 20 + b"b\x90\x00"
    assert card.sent == [b"\x12" + bytes(29), b"\x03" + bytes(11), b"\xf2\x05", b"\xa2"]
    assert link.wtx_count == 1 and link.pni == 1


def test_initiator_retries_damaged_frames_then_gives_up() -> None:
    card = ScriptedCard([isodep.FrameError, b"\x02\x90\x00"])
    assert initiator(card).transceive(b"\x00") == b"\x90\x00"
    assert card.sent[1] == b"\xb2"  # R(NAK), Rule 4
    card = ScriptedCard([isodep.FrameError] * 3)
    with pytest.raises(isodep.CardSilent):
        initiator(card).transceive(b"\x00")


def test_initiator_caps_chained_responses() -> None:
    card = ScriptedCard([b"\x12" + bytes(29), b"\x13" + bytes(29), b"\x12" + bytes(29), b"\x13" + bytes(29)])
    with pytest.raises(isodep.ResponseTooLong):
        initiator(card, max_response=100).transceive(b"\x00")


@pytest.mark.parametrize("answer", [b"\x03\x90\x00", b"\xa2", b"\x0a\x00\x90\x00", b"\xc2"])
def test_initiator_refuses_protocol_errors(answer: bytes) -> None:
    with pytest.raises(isodep.ProtocolViolation):
        initiator(ScriptedCard([answer, answer, answer, answer])).transceive(b"\x00")


@pytest.mark.parametrize("later", [0.9, 5.0])
def test_initiator_deadline(later: float) -> None:
    """S(WTX) asks for 59 * FWT; the deadline cuts the wait (0.9) or there is no time left (5.0)."""
    clock = iter([0.0, later])
    card = ScriptedCard([b"\xf2\x3b", isodep.CardSilent])
    link = initiator(card, deadline=1.0, clock=lambda: next(clock))
    with pytest.raises(isodep.DeadlineExceeded):
        link.transceive(b"\x00")
    assert len(card.sent) == (2 if later < 1 else 1)


@pytest.mark.parametrize(
    "url", ["usb", "usb:054c:06c3", "usb:001:023", "tty:USB0:pn532", "tty:AMA0", "udp:127.0.0.1:50000",
            "udp", "nfc:usb:072f:2200"],
)  # fmt: skip
def test_nfc_urls(url: str) -> None:
    assert is_nfc_url(url)
    assert device_path(url) == url.removeprefix("nfc:")


@pytest.mark.parametrize("url", ["/dev/ttyACM0", "socket://x:1", "usb:54c", "udp:h:70000", "camera:0", ""])
def test_not_nfc_urls(url: str) -> None:
    assert not is_nfc_url(url)


def test_fault_names() -> None:
    assert Faults.named(["slow"]).delay == 0.3
    assert Faults.named(["slow-wtx"], delay=2).wtx
    assert Faults.named(["chained"]).chunk == 32
    assert Faults.named(["refuses", "vanish"]) == Faults(refuse=True, vanish_after_select=True)
    assert len(FAULT_NAMES) == 10
    with pytest.raises(ValueError):
        Faults.named(["sneeze"])

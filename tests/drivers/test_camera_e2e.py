"""End to end: a recorded video of a wallet's QR code, through CameraSource, to a durable decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.camera import CameraSource
from pos.decision import PaymentRequest
from pos.keystore import KeyStore
from pos.ports import SOURCE_TIMEOUT, SourceFailure
from pos.sigs import load_pem_public_key
from pos.terminal import Terminal
from sim import camera_frames as synth
from tests.conftest import Demo


def terminal_of(demo: Demo) -> Terminal:
    store = KeyStore(demo.data_dir, load_pem_public_key(demo.root_key.read_bytes()))
    store.install_trust_list(demo.trust_list.read_bytes())
    store.install_deny_list(demo.deny_list.read_bytes())
    return Terminal(demo.data_dir, store)


def test_a_video_of_a_wallet_code_is_approved_once_and_a_replay_is_declined(
    demo: Demo, tmp_path: Path
) -> None:
    wallet = demo.wallet()
    text = wallet.qr_text(1500, now=demo.now)
    # the customer shows the code, takes the phone away, and shows the same code again 2 s later
    video = synth.write_video(
        tmp_path / "till", [None, text, None, None, text, None], seed=2, fps=15, frames_per_text=15
    )
    term = terminal_of(demo)
    request = PaymentRequest(1200, "EUR", demo.now, "T1")
    with CameraSource(f"file:{video}", hold_s=1.0) as source:
        first = source.read(request, 30)
        assert first.kind == "text" and first.data == text.encode()
        decision = term.accept_text(first.data, request)
        assert decision.approved and decision.amount == 1200 and decision.seq is not None
        again = source.read(request, 30)  # the same code, out of sight for longer than hold_s
        assert term.accept_text(again.data, request).reason == "replayed"
        assert source.wait_finished(30)
        with pytest.raises(SourceFailure) as info:
            source.read(request, 0.3)
        assert info.value.outcome == SOURCE_TIMEOUT
    term.close(demo.now)
    # the approval is durable: a new terminal on the same data dir still refuses the replay
    term = terminal_of(demo)
    assert term.accept_text(text, request).reason == "replayed"
    term.close(demo.now)

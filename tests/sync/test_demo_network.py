"""The demo's network (``sim.demo.network``) against the real collector process on 127.0.0.1.

Issue 5, "Done when ... in ``pos demo``": a sale made with the network cut stays pending; the
network comes back and it is acknowledged; the same QR code spent at a second shop is flagged
by the collector, whose new deny list our terminal installs and then applies; and the demo's
collector, proxy and sync threads go when the demo closes, or dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pos import reasons
from pos.decision import Decision, PaymentRequest
from pos.errors import PosError
from pos.keystore import KeyStore
from pos.sigs import ALG_EDDSA, load_pem_public_key
from pos.terminal import Terminal
from sim.demo.network import DEMO_SYNC, DemoNetwork
from sim.scheme import Scheme
from sim.wallet import Wallet
from tests.sync.harness import pending_in

pytestmark = pytest.mark.timeout(60)

TID = "DEMO-COUNTER-1"
QUICK = DEMO_SYNC.with_overrides(interval_s=0.5, list_interval_s=1.0)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Shop:
    scheme: Scheme
    store: KeyStore
    terminal: Terminal
    wallet: Wallet
    net: DemoNetwork

    def pay(self, text: str, amount: int) -> Decision:
        request = PaymentRequest(amount=amount, currency="EUR", now=int(time.time()), terminal_id=TID)
        return self.terminal.accept_text(text, request)

    def pending(self) -> int:
        return pending_in(self.terminal.data_dir)


def make_network(base: Path) -> tuple[Scheme, KeyStore, Terminal, Wallet, DemoNetwork]:
    now = int(time.time())
    scheme = Scheme.init(base / "scheme")
    issuer = scheme.add_issuer("ed", ALG_EDDSA)
    store = KeyStore(base / "terminal", load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list(iat=now - 60))
    store.install_deny_list(scheme.deny_list(iat=now - 60))
    terminal = Terminal(base / "terminal", store)
    wallet = Wallet.issue(issuer, ALG_EDDSA, iat=now - 3600)
    net = DemoNetwork(base, scheme, base / "terminal", store, TID, settings=QUICK)
    return scheme, store, terminal, wallet, net


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    scheme, store, terminal, wallet, net = make_network(tmp_path)
    try:
        net.start()
        yield Shop(scheme, store, terminal, wallet, net)
    finally:
        net.close()
        terminal.close()


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _collect(net: DemoNetwork, into: list[str]) -> Callable[[], list[str]]:
    def more() -> list[str]:
        into.extend(net.events())
        return into

    return more


def test_sale_made_with_the_network_cut_stays_pending(shop: Shop) -> None:
    assert shop.net.online() is False  # the demo starts offline
    assert shop.pay(shop.wallet.qr_text(700), 700).approved
    shop.net.on_sale()
    lines = _collect(shop.net, [])
    assert wait_until(lambda: any(f"{TID}: cannot reach" in e for e in lines()), 10)
    time.sleep(2 * QUICK.interval_s)  # more passes go by; none gets through
    assert shop.pending() == 1
    status = shop.net.probe()
    assert status is None or not status.online
    assert shop.net.queue()["journal"]["pending_amount"] == 700


def test_restored_network_acknowledges_the_pending_sale(shop: Shop) -> None:
    assert shop.pay(shop.wallet.qr_text(1_250), 1_250).approved
    assert shop.net.toggle() is True and shop.net.online()
    assert wait_until(lambda: shop.pending() == 0, 20), "the sale was not acknowledged"
    assert shop.net.collector is not None
    assert shop.net.collector.get_json(f"/v1/terminals/{TID}")["last_seq"] == 1
    assert wait_until(lambda: (s := shop.net.probe()) is not None and s.online, 10)
    lines = _collect(shop.net, [])()
    assert any("network restored" in e for e in lines)
    assert any("DEMO-COUNTER-1: uploaded 1 payment; 0 still pending" in e for e in lines)


def test_wallet_spent_again_at_a_second_shop_is_declined_here_once_the_deny_list_arrives(shop: Shop) -> None:
    text = shop.wallet.qr_text(900)
    assert shop.pay(text, 900).approved
    elsewhere = shop.net.spend_elsewhere(text, 900)
    assert elsewhere.approved, "offline acceptance cannot know the code was used here"
    assert shop.pay(shop.wallet.qr_text(100), 100).approved  # nothing known yet
    shop.net.toggle()

    def denied_here() -> bool:
        deny = shop.store.load().deny
        return deny is not None and deny.contains(shop.wallet.wallet_id)

    assert wait_until(denied_here, 30), "our terminal never installed a deny list naming the wallet"
    declined = shop.pay(shop.wallet.qr_text(100), 100)
    assert declined.reason == reasons.WALLET_DENIED
    lines = _collect(shop.net, [])  # a pass reports after it installed the list: wait for its words
    assert wait_until(lambda: any("double spend" in e for e in lines()), 10)
    wallet = shop.wallet.wallet_id.hex()[:8]
    assert wait_until(lambda: any(f"{TID}: deny list seq" in e and wallet in e for e in lines()), 10)
    assert shop.net.collector is not None
    assert shop.net.collector.metrics()["owt_collector_double_spends_total"] == 1


def test_a_garbage_code_at_the_second_shop_is_a_decline_not_a_crash(shop: Shop) -> None:
    assert shop.net.spend_elsewhere("OWT1:not base45 at all", 100).reason == reasons.MALFORMED
    assert shop.net.spend_elsewhere("", 100).approved is False
    assert pending_in(shop.net.shop_dir) == 0


def test_network_used_before_start_says_so(tmp_path: Path) -> None:
    net = make_network(tmp_path)[-1]
    with pytest.raises(PosError, match="not started"):
        net.toggle()
    with pytest.raises(PosError, match="not started"):
        net.spend_elsewhere("OWT1:x", 1)
    assert net.online() is False and net.probe() is None


def _ours() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name in ("pos-sync", "fault-proxy")}


def test_close_leaves_no_process_or_thread_behind(tmp_path: Path) -> None:
    assert not _ours()
    _, _, terminal, _, net = make_network(tmp_path)
    net.start()
    assert net.collector is not None and net.collector.proc is not None and net.proxy is not None
    proc, port = net.collector.proc, net.proxy.port
    assert _ours() == {"pos-sync", "fault-proxy"}
    net.toggle()
    net.close()
    terminal.close()
    assert proc.poll() is not None, "the collector process is still running"
    assert not _ours(), f"threads left: {_ours()}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def serve_until_killed(base: str) -> None:
    """Run in a child process: start a demo network, print the collector's pid, wait."""
    net = make_network(Path(base))[-1]
    net.start()
    assert net.collector is not None and net.collector.proc is not None
    print(net.collector.proc.pid, flush=True)
    time.sleep(120)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie waiting for a reaper is dead too


def test_the_collector_dies_with_a_demo_killed_by_sigkill(tmp_path: Path) -> None:
    code = f"from tests.sync import test_demo_network as t; t.serve_until_killed({str(tmp_path)!r})"
    demo = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert demo.stdout is not None
        pid = int(demo.stdout.readline())
        assert not _gone(pid)
        demo.send_signal(signal.SIGKILL)
        demo.wait(10)
        assert wait_until(lambda: _gone(pid), 5), "the collector outlived the demo"
    finally:
        if demo.poll() is None:
            demo.kill()
        if "pid" in locals() and not _gone(pid):
            os.kill(pid, signal.SIGKILL)

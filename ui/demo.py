"""``pos demo``: the whole terminal embedded and simulated (DEMO keys, simulated customers).

A demo scheme (root, an Ed25519 and an ES256 issuer, signed trust and deny lists), four wallets
(one of them on the deny list), and in-process token sources that the demo's keys feed:

    t  a customer taps a phone (NFC-mode token over the request's challenge)
    q  a customer shows a QR code (QR-mode token authorising the amount asked)
    a  the previous customer taps again (at a gate: anti-passback)
    d  double spend: the last QR code shown, presented again
    x  a phone pulled away mid-tap (the driver outcome card_removed)
    m  a wallet on the deny list shows its code
    n  cut or restore the network (the status bar; online, a pretend collector acknowledges)
    1-4, j   vending: the customer selects a product; j jams the machine (vend failure)

The operator PIN of the demo is 1234. The lead swaps these sources for real ones (NFC ``udp:``
emulator, camera ``file:``, scanner pty) through ``[devices]`` and ``pos run``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual.binding import Binding, BindingType

from pos.decision import PaymentRequest, Policy
from pos.keystore import KeyStore
from pos.ports import CARD_REMOVED, Presentation
from pos.presentation import encode_text
from pos.sigs import ALG_EDDSA, ALG_ES256, load_pem_public_key
from pos.sim.scheme import DAY, Scheme
from pos.sim.wallet import Wallet
from pos.terminal import Terminal
from ui.acceptance import Metrics
from ui.app import PosApp
from ui.context import UiContext, wall_clock
from ui.core import Core, journal_void
from ui.devices import QueueSource, RecordingRelay, SimVendingMachine, SyncStatus
from ui.i18n import N_
from ui.operator import AuditLog, OperatorPin
from ui.uiconfig import UiSettings
from ui.wedge import key_wedge

log = logging.getLogger("pos.ui.demo")

DEMO_PIN = "1234"
PRODUCTS = (("A1", 150), ("A2", 220), ("B1", 180), ("B2", 130))
WALLET_NAMES = ("alice", "bob", "carol")


@dataclass
class DemoSync:
    """The network switch of the demo; online, a pretend collector acknowledges every upload."""

    online: bool = False
    last_upload: int | None = None
    clock: Callable[[], int] = wall_clock

    def probe(self) -> SyncStatus | None:
        return SyncStatus(True, self.last_upload) if self.online else None

    def pump(self, terminal: Terminal) -> None:
        """On the core thread, once per status tick."""
        if not self.online:
            return
        pending = [r["seq"] for r in terminal.journal.rows() if r["state"] == "pending"]
        if pending:
            terminal.journal.acknowledge(pending)
            self.last_upload = self.clock()


@dataclass
class DemoControls:
    nfc: QueueSource
    qr: QueueSource
    wallets: list[Wallet]
    denied: Wallet
    sync: DemoSync
    vend: SimVendingMachine | None = None
    clock: Callable[[], int] = wall_clock  # the customers' phones' clock
    turn: int = -1
    last_qr: str | None = None

    def _next(self) -> Wallet:
        self.turn = (self.turn + 1) % len(self.wallets)
        return self.wallets[self.turn]

    def _tap_by(self, wallet: Wallet) -> None:
        def make(request: PaymentRequest) -> Presentation:
            token = wallet.token(
                amount=request.amount,
                challenge=request.challenge,
                terminal_id=request.terminal_id,
                now=self.clock(),
            )
            return Presentation("bytes", token, self.nfc.url)

        self.nfc.feed(make)

    def _show_by(self, wallet: Wallet) -> None:
        def make(request: PaymentRequest) -> Presentation:
            text = encode_text(wallet.token(max_amount=request.amount, now=self.clock()))
            self.last_qr = text
            return Presentation("text", text.encode(), self.qr.url)

        self.qr.feed(make)

    def tap(self) -> None:
        self._tap_by(self._next())

    def show_qr(self) -> None:
        self._show_by(self._next())

    def again(self) -> None:
        self._tap_by(self.wallets[max(self.turn, 0)])

    def double_spend(self) -> bool:
        if self.last_qr is None:
            return False
        self.qr.feed_text(self.last_qr)
        return True

    def pull_away(self) -> None:
        self.nfc.fail(CARD_REMOVED, "demo: phone moved away")

    def blocked(self) -> None:
        self._show_by(self.denied)

    def toggle_network(self) -> bool:
        self.sync.online = not self.sync.online
        return self.sync.online

    def select(self, index: int) -> None:
        if self.vend is not None and 0 <= index < len(PRODUCTS):
            self.vend.select(*PRODUCTS[index])

    def jam(self) -> bool:
        if self.vend is None:
            return False
        self.vend.dispense_ok = not self.vend.dispense_ok
        return not self.vend.dispense_ok

    def hints(self, mode: str) -> tuple[tuple[str, str], ...]:
        common = (("t", N_("tap")), ("q", N_("QR")), ("d", N_("double spend")), ("n", N_("network")))
        if mode == "vending":
            return (("1-4", N_("select")), ("j", N_("jam")), *common)
        if mode == "gate":
            return (*common[:2], ("a", N_("again")), *common[2:])
        return common


@dataclass
class DemoWorld:
    base: Path
    scheme: Scheme
    ctx: UiContext
    controls: DemoControls
    relay: RecordingRelay | None


def _wallet(base: Path, name: str, make: Callable[[], Wallet]) -> Wallet:
    path = base / "wallets" / f"{name}.json"
    if path.exists():
        return Wallet.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wallet = make()
    wallet.path = path
    wallet.save()
    return wallet


def build(
    base: Path | None = None,
    mode: str = "counter",
    *,
    clock: Callable[[], int] = wall_clock,
    language: str = "en",
    list_valid_s: int = 7 * DAY,
    terminal_id: str | None = None,
    metrics: Metrics | None = None,
    **settings: Any,
) -> DemoWorld:
    base = Path(base) if base is not None else Path(tempfile.mkdtemp(prefix="pos-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    now = clock()
    scheme_dir = base / "scheme"
    if (scheme_dir / "scheme.json").exists():
        scheme = Scheme(scheme_dir)
    else:
        scheme = Scheme.init(scheme_dir)
        scheme.add_issuer("ed", ALG_EDDSA, nbf=now - 365 * DAY, exp=now + 5 * 365 * DAY)
        scheme.add_issuer("es", ALG_ES256, nbf=now - 365 * DAY, exp=now + 5 * 365 * DAY)

    def issue(issuer: str) -> Callable[[], Wallet]:
        return lambda: Wallet.issue(
            scheme.issuer(issuer), _alg(issuer), payment_limit=20_000, offline_limit=100_000, iat=now - 3600
        )

    issuers = ("ed", "es", "ed")
    wallets = [_wallet(base, name, issue(iss)) for name, iss in zip(WALLET_NAMES, issuers, strict=True)]
    denied = _wallet(base, "mallory", issue("ed"))
    scheme.deny(denied.wallet_id)

    data_dir = base / "terminal"
    store = KeyStore(data_dir, load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list(iat=now - 60, valid_s=list_valid_s))
    store.install_deny_list(scheme.deny_list(iat=now - 60, valid_s=list_valid_s))

    defaults: dict[str, Any] = {"mode": mode, "language": language}
    if mode == "gate":
        defaults["fare"] = 250
    defaults["devices"] = {"nfc": "sim:nfc", "camera": "sim:qr"}
    ui = UiSettings(**{**defaults, **settings})
    policy = Policy()
    core = Core(lambda: Terminal(data_dir, store, policy=policy))
    tid = terminal_id or f"DEMO-{mode.upper()}-1"
    nfc, qr = QueueSource("sim:nfc"), QueueSource("sim:qr")
    sync = DemoSync(clock=clock)
    pin = OperatorPin(data_dir, clock)
    if not pin.is_set():
        pin.set_pin(DEMO_PIN)
    relay = RecordingRelay() if mode == "gate" else None
    vend = SimVendingMachine() if mode == "vending" else None
    wedge = key_wedge(ui.wedge_gap_ms / 1000) if ui.wedge else None
    controls = DemoControls(nfc, qr, wallets, denied, sync, vend, clock)
    ctx = UiContext(
        settings=ui,
        core=core,
        policy=policy,
        currency="EUR",
        terminal_id=tid,
        data_dir=data_dir,
        sources=[nfc, qr],
        pin=pin,
        audit=AuditLog(data_dir, tid, clock),
        clock=clock,
        sync_probe=sync.probe,
        relay=relay,
        vend=vend,
        void=journal_void(core, clock),
        wedge=wedge,
        wedge_source=QueueSource("keyboard-wedge") if wedge is not None else None,
        demo=controls,
        metrics=metrics,
        background=[sync.pump],
    )
    return DemoWorld(base, scheme, ctx, controls, relay)


def _alg(issuer: str) -> int:
    return ALG_ES256 if issuer == "es" else ALG_EDDSA


class DemoApp(PosApp):
    """The App with the demo's simulator keys (app-level: the screens' own keys come first)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "demo('tap')", show=False),
        Binding("q", "demo('show_qr')", show=False),
        Binding("a", "demo('again')", show=False),
        Binding("d", "demo('double_spend')", show=False),
        Binding("x", "demo('pull_away')", show=False),
        Binding("m", "demo('blocked')", show=False),
        Binding("n", "demo('toggle_network')", show=False),
        Binding("j", "demo('jam')", show=False),
        *[Binding(str(i + 1), f"select({i})", show=False) for i in range(len(PRODUCTS))],
    ]

    def action_demo(self, what: str) -> None:
        demo = self.ctx.demo
        if demo is None:
            return
        result = getattr(demo, what)()
        if what == "double_spend" and result is False:
            self.notify("Show a QR code first (q), then present it again (d).", severity="warning")
        elif what == "toggle_network":
            self.notify("network: online" if result else "network: offline")
            self._tick()
        elif what == "jam":
            self.notify("vending machine: jammed" if result else "vending machine: fixed")

    def action_select(self, index: int) -> None:
        if self.ctx.demo is not None:
            self.ctx.demo.select(index)


def run_demo(mode: str, base: Path | None, language: str | None = None) -> int:
    world = build(base, mode, language=language or "en")
    print(f"demo data in {world.base} (DEMO keys); operator PIN {DEMO_PIN}", flush=True)
    try:
        DemoApp(world.ctx).run()
    finally:
        world.ctx.close()
    return 0

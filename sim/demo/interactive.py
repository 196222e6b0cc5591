"""``pos demo``: the whole terminal embedded, its devices simulated behind the real drivers.

A demo scheme (root, an Ed25519 and an ES256 issuer, signed trust and deny lists), four wallets
(one of them on the deny list), and ``sim.demo.devices.DemoDevices``: phones on an NFC ``udp:``
port, a camera ``file:`` source looking at a phone's QR code, a scanner on a pty, a vending
machine controller (MDB) on a pty, an LCUS relay board on a pty; and ``sim.demo.network``: the
project's collector on 127.0.0.1, real sync, a second shop. The demo's keys move the simulated
customers:

    t  a customer taps a phone (the reader's GENERATE TOKEN carries amount and challenge)
    q  a customer shows a QR code to the camera
    s  a customer's QR code is read by the serial scanner
    a  the previous customer taps again (at a gate: anti-passback)
    d  replay: the last QR code shown, shown again (declined: already used)
    x  a phone pulled away mid-tap (the driver outcome card_removed)
    m  a wallet on the deny list shows its code
    n  cut or restore the network (a local collector process behind a switchable proxy)
    e  the last QR code, spent again at a second shop (the collector flags it once both upload)
    1-4, j   vending: the customer selects a product; j jams the spiral on the vend in progress, or
             the next one (VEND FAILURE after approval: the payment is reversed)

The operator PIN of the demo is 1234.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pos.decision import Decision, Policy
from pos.errors import ListError
from pos.keystore import KeyStore
from pos.ports import Actuator, TokenSource
from pos.sigs import ALG_EDDSA, ALG_ES256, load_pem_public_key
from pos.terminal import Terminal
from sim.demo.app import DemoApp
from sim.demo.devices import PRODUCTS, DemoDevices
from sim.scheme import DAY, Scheme
from sim.wallet import Wallet
from ui.i18n import N_
from ui.runtime import receipt_printing as receipts
from ui.runtime.acceptance import Metrics
from ui.runtime.context import UiContext, wall_clock
from ui.runtime.devices import QueueSource, SyncStatus, VendSession
from ui.runtime.operator import OperatorLog, OperatorPin
from ui.runtime.settings import UiSettings
from ui.runtime.wedge import key_wedge
from ui.runtime.worker import Core, journal_void

log = logging.getLogger("pos.ui.demo")

DEMO_PIN = "1234"
WALLET_NAMES = ("alice", "bob", "carol")
SOURCE_NAMES = ("nfc", "camera", "scanner")
ELSEWHERE_AMOUNT = 500  # what the customer buys with the same QR code at the second shop


class Network(Protocol):
    """The demo's network (``sim.demo.network.DemoNetwork``, or ``sim.demo.inproc``'s stand-in)."""

    def toggle(self) -> bool: ...
    def probe(self) -> SyncStatus | None: ...
    def on_sale(self) -> None: ...
    def events(self) -> list[str]: ...
    def spend_elsewhere(self, token_text: str, amount: int) -> Decision: ...
    def console_lines(self) -> list[str]: ...
    def close(self) -> None: ...


class Devices(Protocol):
    """What the demo needs of its devices: ``DemoDevices``, or a test's in-process stand-in."""

    sources: list[TokenSource]
    relay: Actuator | None
    vend: VendSession | None
    last_qr: str | None

    def tap(self) -> None: ...
    def again(self) -> None: ...
    def pull_away(self) -> None: ...
    def show_qr(self) -> None: ...
    def scan(self) -> bool: ...
    def double_spend(self) -> bool: ...
    def blocked(self) -> None: ...
    def select(self, index: int) -> bool: ...
    def jam(self) -> bool: ...
    def close(self) -> None: ...


DevicesFactory = Callable[[Path, str, list[Wallet], Wallet, Callable[[], int]], Devices]
NetworkFactory = Callable[..., Network]  # (base, scheme, data_dir, keystore, terminal_id, clock=)


def start_network(
    base: Path, scheme: Scheme, data_dir: Path, keystore: KeyStore, terminal_id: str, clock: Callable[[], int]
) -> Network:
    """The real one: a local collector process, a switchable proxy, sync, a second shop."""
    from sim.demo.network import DemoNetwork

    network = DemoNetwork(base, scheme, data_dir, keystore, terminal_id, clock)
    network.start()
    return network


@dataclass
class DemoControls:
    """The demo keys' targets (``UiContext.extra_keys``): the customers' devices and the network."""

    devices: Devices
    wallets: list[Wallet]
    network: Network
    paid_qr: str | None = None  # the last QR code this terminal approved: the only one ``e`` takes

    @property
    def last_qr(self) -> str | None:
        return self.devices.last_qr

    def decided(self, source: str, approved: bool) -> None:
        """A payment round ended: remember whether the QR code just shown was paid here."""
        if source != self.devices.sources[0].url:  # the phones' reader is first in both device sets
            self.paid_qr = self.last_qr if approved else None

    def tap(self) -> None:
        self.devices.tap()

    def show_qr(self) -> None:
        self.devices.show_qr()

    def scan(self) -> bool:
        return self.devices.scan()

    def again(self) -> None:
        self.devices.again()

    def double_spend(self) -> bool:
        return self.devices.double_spend()

    def pull_away(self) -> None:
        self.devices.pull_away()

    def blocked(self) -> None:
        self.devices.blocked()

    def select(self, index: int) -> bool:
        return self.devices.select(index)

    def jam(self) -> bool:
        return self.devices.jam()

    def toggle_network(self) -> bool:
        return self.network.toggle()

    def spend_elsewhere(self, amount: int = ELSEWHERE_AMOUNT) -> Decision | None:
        """The last QR code shown here, presented at the second shop (blocking: a worker thread)."""
        text = self.paid_qr
        return None if text is None else self.network.spend_elsewhere(text, amount)

    def menu(self, mode: str, currency: str) -> str:
        """The demo machine's products on the idle vending screen: keys 1-4 select them."""
        if mode != "vending":
            return ""
        from ui.i18n.money import format_money

        return "  ".join(
            f"{n} {name} {format_money(price, currency)}" for n, (name, _i, price) in enumerate(PRODUCTS, 1)
        )

    def hints(self, mode: str) -> tuple[tuple[str, str], ...]:
        elsewhere = (("e", N_("other shop")),) if self.paid_qr is not None else ()  # only a paid code
        common = (
            ("t", N_("tap")), ("q", N_("QR")), ("s", N_("scan")), ("d", N_("replay")),
            *elsewhere, ("n", N_("network")),
        )  # fmt: skip
        if mode == "vending":
            return (("1-4", N_("select")), ("j", N_("jam")), *common)
        if mode == "gate":
            return (*common[:3], ("a", N_("again")), common[3], common[-1])  # no room for "e"
        return common


@dataclass
class DemoWorld:
    base: Path
    scheme: Scheme
    ctx: UiContext
    controls: DemoControls
    relay: Any  # the gate's relay (``LcusRelay`` on the demo's board; a test's recorder)
    devices: Devices
    network: Network

    def close(self) -> None:
        """Sync first, then the terminal (its readers stop), then the simulators behind them."""
        try:
            self.network.close()
        finally:
            try:
                self.ctx.close()
            finally:
                self.devices.close()


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
    devices: DevicesFactory | None = None,
    network: NetworkFactory | None = None,
    **settings: Any,
) -> DemoWorld:
    """The demo terminal in ``base``; ``devices`` makes its devices (default: ``DemoDevices``),
    ``network`` its network (default: ``start_network``, the local collector)."""
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
    _install_lists(store, scheme, now, list_valid_s)

    defaults: dict[str, Any] = {"mode": mode, "language": language}
    if mode == "gate":
        defaults["fare"] = 250
    make_devices: DevicesFactory = devices or DemoDevices
    rig = make_devices(base, mode, wallets, denied, clock)
    try:
        defaults["devices"] = {name: s.url for name, s in zip(SOURCE_NAMES, rig.sources, strict=False)}
        ui = UiSettings(**{**defaults, **settings})
        tid = terminal_id or f"DEMO-{mode.upper()}-1"
        world = _world(base, scheme, store, data_dir, rig, wallets, clock, ui, tid, metrics, network)
    except BaseException:
        rig.close()
        raise
    return world


def _world(
    base: Path,
    scheme: Scheme,
    store: KeyStore,
    data_dir: Path,
    rig: Devices,
    wallets: list[Wallet],
    clock: Callable[[], int],
    ui: UiSettings,
    tid: str,
    metrics: Metrics | None,
    network: NetworkFactory | None,
) -> DemoWorld:
    policy = Policy()
    pin = OperatorPin(data_dir, clock)
    if not pin.is_set():
        pin.set_pin(DEMO_PIN)
    wedge = key_wedge(ui.wedge_gap_ms / 1000) if ui.wedge else None
    core = Core(lambda: Terminal(data_dir, store, policy=policy))  # the journal exists before enrolling
    try:
        net = (network or start_network)(base, scheme, data_dir, store, tid, clock=clock)
    except BaseException:
        core.close(clock())
        raise
    controls = DemoControls(rig, wallets, net)
    ctx = UiContext(
        settings=ui,
        core=core,
        policy=policy,
        currency="EUR",
        terminal_id=tid,
        data_dir=data_dir,
        sources=list(rig.sources),
        pin=pin,
        audit=OperatorLog(data_dir, tid, clock),
        clock=clock,
        sync_probe=net.probe,
        relay=rig.relay,
        vend=rig.vend,
        void=journal_void(core, clock),
        wedge=wedge,
        wedge_source=QueueSource("keyboard-wedge") if wedge is not None else None,
        extra_keys=controls,
        metrics=metrics,
        background=[_after_sales(net), *([pump] if (pump := getattr(net, "pump", None)) else [])],
    )
    return DemoWorld(base, scheme, ctx, controls, rig.relay, rig, net)


def _after_sales(network: Network) -> Callable[[Terminal], None]:
    """A status-tick job (core thread): wake the sync as soon as the journal has new rows."""
    seen: list[int | None] = [None]

    def job(terminal: Terminal) -> None:
        rows = terminal.journal.summary()["payments"]
        if seen[0] is not None and rows != seen[0]:
            network.on_sale()
        seen[0] = rows

    return job


def _install_lists(store: KeyStore, scheme: Scheme, now: int, valid_s: int) -> None:
    """Fresh demo lists; on a reused ``--dir`` the collector may have published a newer deny
    list (after a double spend) with a seq the scheme's own copy cannot beat: keep that one."""
    pairs = ((store.install_trust_list, scheme.trust_list), (store.install_deny_list, scheme.deny_list))
    for install, make in pairs:
        try:
            install(make(iat=now - 60, valid_s=valid_s))
        except ListError as exc:
            log.info("demo list kept as it is: %s", exc)


def _alg(issuer: str) -> int:
    return ALG_ES256 if issuer == "es" else ALG_EDDSA


def run_demo(mode: str, base: Path | None, language: str | None = None) -> int:
    world = build(base, mode, language=language or "en")
    print(f"demo data in {world.base} (DEMO keys); operator PIN {DEMO_PIN}", flush=True)
    for line in world.network.console_lines():  # the fleet side: the collector's web console
        print(line, flush=True)
    if mode != "gate":  # the customer's signed receipts: `pos receipt verify @<dir>/receipts.txt`
        world.ctx.printer = receipts.open_configured(f"text:{world.base / 'receipts.txt'}")
        print(f"receipts printed to {world.base / 'receipts.txt'}", flush=True)
    try:
        DemoApp(world.ctx).run()
    finally:
        world.close()
    return 0

"""The demo's real network: a local collector, a network switch, a second shop, real sync.

``DemoNetwork.start()`` brings up, all on 127.0.0.1:

* the project's collector (``pos collector serve`` as a child process, SQLite under
  ``<base>/collector/``, the demo scheme's root key signing its deny lists; ``sim.demo.collector``);
* a switchable proxy in front of it (``sim.netproxy``): off, every connection is reset, which
  is what a terminal sees when the cable is pulled; on, it forwards, with seeded faults if asked;
* the terminal's enrollment (``pos.sync.enroll``, what ``pos enroll`` does), and a background
  ``SyncService`` pointed at the proxy with the terminal's own keystore, so a deny list it
  installs is in force for the very next payment;
* a second embedded terminal, DEMO-SHOP-2 (its own data dir under ``<base>/shop-2/``, enrolled
  and synced the same way), where ``spend_elsewhere`` presents a QR code the customer already
  used here: offline acceptance approves it there too, and after both upload the collector
  flags the double spend and signs a deny list that our terminal installs and then applies.

It starts with the network cut. ``events()`` returns, in plain words, what happened since the
previous call, for the demo to show.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pos.decision import Decision, PaymentRequest
from pos.errors import ListError, PosError
from pos.keystore import DENY_FILE, TRUST_FILE, KeyStore
from pos.sync.enroll import enroll
from pos.sync.service import SyncService
from pos.sync.settings import SyncSettings
from pos.sync.state import SyncState
from pos.sync.status import queue_status
from pos.terminal import Terminal
from sim.demo.collector import LocalCollector
from sim.demo.console import ConsoleLogin, demo_operator
from sim.netproxy import CLEAN, FaultProxy
from sim.scheme import Scheme
from ui.runtime.context import wall_clock
from ui.runtime.devices import SyncStatus, sync_status_of

log = logging.getLogger("pos.ui.demo_network")

SHOP_2 = "DEMO-SHOP-2"
ONLINE_WITHIN_S = 30  # a successful pass this recent, and no error since: "online"
# Short intervals so a newcomer sees the queue drain and the deny list arrive within seconds.
DEMO_SYNC = SyncSettings(
    batch_size=500,
    interval_s=2.0,
    list_interval_s=5.0,
    connect_timeout_s=1.0,
    timeout_s=5.0,
    retry_base_s=0.05,
    retry_cap_s=1.0,
    max_attempts=6,
)
# A flaky link: mostly through, but every kind of fault the sync tests inject.
FLAKY = {
    "pass": 70,
    "delay": 6,
    "drop_req": 5,
    "drop_resp": 6,
    "duplicate": 5,
    "reset": 4,
    "truncate": 3,
    "stall": 1,
}


class DemoNetwork:
    def __init__(
        self,
        base: Path,
        scheme: Scheme,
        data_dir: Path,
        keystore: KeyStore,
        terminal_id: str,
        clock: Callable[[], int] = wall_clock,
        *,
        currency: str = "EUR",
        settings: SyncSettings = DEMO_SYNC,
        faults: dict[str, int] | None = None,
        seed: int = 0,
        stall_s: float = 1.0,
    ) -> None:
        self.base = Path(base)
        self.scheme = scheme
        self.data_dir = Path(data_dir)
        self.keystore = keystore
        self.terminal_id = terminal_id
        self.clock = clock
        self.currency = currency
        self.settings = settings
        self.faults = dict(faults) if faults else None
        self.seed = seed
        self.stall_s = stall_s
        self.shop_dir = self.base / "shop-2"
        self.collector: LocalCollector | None = None
        self.console: ConsoleLogin | None = None
        self.proxy: FaultProxy | None = None
        self.shop_keys: KeyStore | None = None
        self._services: dict[str, SyncService] = {}
        self._lock = threading.Lock()
        self._shop_lock = threading.Lock()
        self._new: list[str] = []
        self.history: list[str] = []
        self._failing: dict[str, bool] = {}
        self._watched: set[bytes] = set()  # wallets that paid twice
        self._closed = False
        self._sync_log_level: int | None = None

    # -- bring-up ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.proxy is not None:
            return
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        # The demo cuts the network on purpose: the sync loggers' retry warnings would only
        # scribble over the screen; events() tells the story instead. Restored by close().
        sync_log = logging.getLogger("pos.sync")
        self._sync_log_level = sync_log.level
        sync_log.setLevel(logging.ERROR)
        lists = self._export_lists()
        token = secrets.token_urlsafe(24)
        self.collector = LocalCollector(
            self.base / "collector", self.scheme.dir, token, trust_lists=lists[:1], deny_lists=lists[1:]
        )
        self.collector.start()
        self.console = demo_operator(self.collector.db_url, self.collector.url)
        port = int(self.collector.url.rsplit(":", 1)[1])
        self.proxy = FaultProxy(port, seed=self.seed, weights=CLEAN, stall_s=self.stall_s).start()
        self.shop_keys = KeyStore(self.shop_dir, self.keystore.root)
        _install_unless_newer(self.shop_keys.install_trust_list, lists[0].read_bytes())
        _install_unless_newer(self.shop_keys.install_deny_list, lists[1].read_bytes())
        Terminal(self.shop_dir, self.shop_keys).close()  # its journal and identity key, before enrolling
        for tid, data_dir in ((self.terminal_id, self.data_dir), (SHOP_2, self.shop_dir)):
            enroll(data_dir, self.proxy.url, token, tid, self.settings)  # `pos enroll`, once per dir
        if self.faults:
            self.proxy.reseed(self.seed, self.faults)
        self.proxy.set_online(False)
        for tid, data_dir, keys in (
            (self.terminal_id, self.data_dir, self.keystore),
            (SHOP_2, self.shop_dir, self.shop_keys),
        ):
            service = SyncService(
                data_dir, self.settings, keystore=keys, collector=self.proxy.url,
                on_pass=lambda report, tid=tid: self._passed(tid, report),
            )  # fmt: skip
            self._services[tid] = service
            service.start()
        self._emit(
            f"collector running at {self.collector.url} (SQLite); {self.terminal_id} and {SHOP_2} "
            "enrolled; network cut"
        )
        for line in self.console_lines():
            self._emit(line)

    def console_lines(self) -> list[str]:
        """The operator console's URL and the demo operator's login (once the collector runs)."""
        return self.console.lines() if self.console is not None else []

    def _export_lists(self) -> list[Path]:
        """The lists in force at our terminal, for the collector to import and shop 2 to install."""
        out = self.base / "collector" / "lists"
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in (TRUST_FILE, DENY_FILE):
            try:
                raw = (self.keystore.dir / name).read_bytes()
            except FileNotFoundError:
                raise PosError(f"the demo terminal has no {name} installed in {self.keystore.dir}") from None
            path = out / name
            path.write_bytes(raw)
            paths.append(path)
        return paths

    # -- the switch and the status bar ------------------------------------------------------
    def online(self) -> bool:
        return self.proxy is not None and self.proxy.online

    def toggle(self) -> bool:
        if self.proxy is None:
            raise PosError("the demo network is not started")
        on = not self.proxy.online
        self.proxy.set_online(on)
        if on:
            link = "a flaky link (seeded faults)" if self.faults else "the local network"
            self._emit(f"network restored through {link}: the queues drain")
            for service in self._services.values():
                service.wake()
        else:
            self._emit("network cut: payments are approved offline and wait in the journal")
        return on

    def probe(self) -> SyncStatus | None:
        """What the terminal knows from its own sync passes (it cannot see the switch)."""
        return sync_status_of(SyncState(self.data_dir).load(), self.clock(), ONLINE_WITHIN_S)

    def on_sale(self) -> None:
        service = self._services.get(self.terminal_id)
        if service is not None:
            service.wake()

    def queue(self) -> dict[str, Any]:
        """``pos queue status`` of our terminal (pending count and amount, oldest age, lists)."""
        return queue_status(self.data_dir, now=self.clock())

    # -- the second shop --------------------------------------------------------------------
    def spend_elsewhere(self, token_text: str, amount: int, *, now: int | None = None) -> Decision:
        """Present ``token_text`` at DEMO-SHOP-2 (its own journal, offline acceptance)."""
        if self.shop_keys is None:
            raise PosError("the demo network is not started")
        t = self.clock() if now is None else now
        request = PaymentRequest(amount=amount, currency=self.currency, now=t, terminal_id=SHOP_2)
        with self._shop_lock:  # a Terminal's SQLite connection belongs to the thread that opened it
            terminal = Terminal(self.shop_dir, self.shop_keys)
            try:
                decision = terminal.accept_text(token_text, request)
            finally:
                terminal.close(t)
        if decision.approved and decision.wallet_id is not None:
            self._watched.add(decision.wallet_id)
            self._emit(
                f"{SHOP_2} approved the same QR code offline: wallet {_short(decision.wallet_id)} "
                f"counter {decision.counter} is now paid at two terminals"
            )
        else:
            self._emit(f"{SHOP_2} declined the code ({decision.reason})")
        self._services[SHOP_2].wake()
        return decision

    # -- what happened ----------------------------------------------------------------------
    def events(self) -> list[str]:
        """Plain-words lines since the previous call."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def _emit(self, line: str) -> None:
        log.info("%s", line)
        with self._lock:
            self._new.append(line)
            self.history.append(line)

    def _passed(self, tid: str, report: dict[str, Any]) -> None:
        up = report.get("upload") or {}
        error = report.get("error") or up.get("error") or (report.get("lists") or {}).get("errors")
        if error and not self._failing.get(tid):
            self._emit(f"{tid}: cannot reach the collector; payments wait in its journal")
        self._failing[tid] = bool(error)
        acked = int(up.get("acknowledged") or 0)
        if acked:
            again = f", {up['duplicates']} the collector already held" if up.get("duplicates") else ""
            rows = "1 payment" if acked == 1 else f"{acked} payments"
            self._emit(f"{tid}: uploaded {rows}{again}; {up.get('pending', 0)} still pending")
        flagged = int((up.get("verdicts") or {}).get("double_spend", 0))
        if flagged:
            self._emit(
                f"collector flagged a double spend: {tid} uploaded a wallet counter already paid at "
                "another terminal; the wallet goes on the next deny list"
            )
        deny = str((report.get("lists") or {}).get("deny", ""))
        if deny.startswith("installed"):
            self._deny_installed(tid)
        if acked and up.get("pending") and not self._closed:
            self._services[tid].wake()  # more to send: the next batch now, not after the interval

    def _deny_installed(self, tid: str) -> None:
        keys = self.keystore if tid == self.terminal_id else self.shop_keys
        if keys is None:
            return
        deny = keys.load().deny
        if deny is None:
            return
        caught = [w for w in sorted(self._watched) if deny.contains(w)]
        line = f"{tid}: deny list seq {deny.seq} installed ({len(deny)} wallets)"
        if caught:
            line += "; declined from now on: " + ", ".join(f"wallet {_short(w)}" for w in caught)
        self._emit(line)

    # -- teardown ---------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        if self.proxy is not None:
            self.proxy.set_online(False)  # in-flight requests fail now, so the services stop fast
        for service in self._services.values():
            service.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.collector is not None:
            self.collector.stop()
        if self._sync_log_level is not None:
            logging.getLogger("pos.sync").setLevel(self._sync_log_level)
            self._sync_log_level = None


def _install_unless_newer(install: Callable[[bytes], Any], raw: bytes) -> None:
    """Install a list unless the data dir already holds a newer one (a demo dir used again)."""
    try:
        install(raw)
    except ListError as exc:
        if "lower than cached" not in str(exc) and "equals the cached seq" not in str(exc):
            raise
        log.info("kept the newer list already installed: %s", exc)


def _short(wallet_id: bytes) -> str:
    return wallet_id.hex()[:8]

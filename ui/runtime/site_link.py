"""The site link of ``pos run`` (issue 14, docs/site.md): signed UDP datagrams to the other
terminals of the site, and a receiver feeding ``pos.site_store.SiteStore``.

    accept path ─ committed() ─► SimpleQueue ─► sender thread: sign, sendto each peer (+ group)
    receiver thread: recvfrom ─► SiteStore.receive (cheap drops first, then verify) ─► spent set
    accept path ─ spent_by() ─► dict lookup under a lock (never the network)

Plain UDP, unicast and multicast, stdlib ``socket``: an announcement is one datagram that is
useful for two minutes at most; a lost one costs only the protection (the collector still sees
the double spend), so nothing here retransmits, orders or acknowledges.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pos import chain
from pos.config import Config
from pos.errors import ConfigError, ListError
from pos.sigs import PublicKey
from pos.site import MAX_DATAGRAM, Announcement, Membership, encode, load_membership
from pos.site_store import ACCEPTED, SiteStore
from pos.sync.site_fetch import load_site_list
from pos.tokens import Token

log = logging.getLogger("pos.site")

RELOAD_S = 10.0  # how often the collector's list is looked at again (a removed member drops out)
QUEUE_MAX = 4096  # announcements waiting for the sender; beyond it the newest is dropped


def parse_addr(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what}: {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class SiteLink:
    """``pos.terminal.SiteLink`` over UDP: announce after commit, remember what peers announce."""

    def __init__(
        self,
        store: SiteStore,
        sign: Callable[[bytes], bytes],
        *,
        listen: tuple[str, int] | None,
        peers: list[tuple[str, int]],
        multicast: tuple[str, int] | None = None,
        clock: Callable[[], int] = lambda: int(time.time()),
        reload: Callable[[], Membership] | None = None,
    ) -> None:
        self.store = store
        self.reload = reload  # the collector's list, installed again by the background sync
        self.sign = sign
        self.peers = list(peers)
        self.multicast = multicast
        self.clock = clock
        self.sent = 0
        self.dropped_unsent = 0
        self._out: queue.Queue[Announcement | None] = queue.Queue(QUEUE_MAX)
        self._stop = threading.Event()
        self._tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if multicast is not None:
            self._tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # the site's LAN only
        self._rx: list[socket.socket] = []
        try:
            if listen is not None:
                self._rx.append(self._bind(listen))
            if multicast is not None:
                self._rx.append(self._join(multicast))
        except OSError as exc:
            self.close()
            raise ConfigError(f"site: cannot listen: {exc}") from None
        self._threads = [
            threading.Thread(target=self._send_loop, name="site sender", daemon=True),
            threading.Thread(target=self._receive_loop, name="site receiver", daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _bind(addr: tuple[str, int]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # bursts wait in the kernel
        sock.bind(addr)
        return sock

    @staticmethod
    def _join(group: tuple[str, int]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # every terminal on a host joins
        sock.bind(("", group[1]))
        mreq = struct.pack("4s4s", socket.inet_aton(group[0]), bytes(4))  # INADDR_ANY: the default interface
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        return sock

    @property
    def listening(self) -> list[tuple[str, int]]:
        return [s.getsockname() for s in self._rx]

    # -- pos.terminal.SiteLink ----------------------------------------------------------------
    def spent_by(self, wallet_id: bytes, counter: int, now: int) -> tuple[str, int] | None:
        return self.store.spent_by(wallet_id, counter, now)

    def committed(self, token: Token, seq: int, now: int) -> None:
        """On the core thread, right after the durable commit: queue, never wait."""
        s = self.store
        a = Announcement(
            s.membership.site, s.self_id, seq, token.cert.wallet_id, token.counter,
            chain.token_digest(token.raw), token.exp, int(time.time() * 1000),
            s.group, now if s.group is not None else None,
        )  # fmt: skip
        try:
            self._out.put_nowait(a)
        except queue.Full:
            self.dropped_unsent += 1

    def passed(self, wallets: frozenset[bytes], now: int, window_s: int) -> bytes | None:
        return self.store.passed(wallets, now, window_s)

    # -- threads --------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            a = self._out.get()
            if a is None:
                return
            try:
                datagram = encode(a, self.sign)  # signing here: the accept path never waits for it
            except Exception:
                log.exception("could not sign an announcement")
                continue
            targets = [*self.peers, *([self.multicast] if self.multicast else [])]
            for addr in targets:
                try:
                    self._tx.sendto(datagram, addr)
                except OSError as exc:  # a peer down or unreachable: its loss, not ours
                    log.debug("site: send to %s failed: %s", addr, exc)
            self.sent += 1

    def _receive_loop(self) -> None:
        if not self._rx:
            return
        sel = selectors.DefaultSelector()
        for sock in self._rx:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        receive, clock, mono = self.store.receive, self.clock, time.monotonic
        next_reload = mono() + RELOAD_S
        while not self._stop.is_set():
            if self.reload is not None and mono() >= next_reload:
                next_reload = mono() + RELOAD_S
                self._reload_members()
            for key, _ in sel.select(0.2):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                for _ in range(256):  # drain a burst, then look at the stop flag again
                    try:
                        data = sock.recv(MAX_DATAGRAM + 1)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        return
                    if receive(data, clock(), mono()) == ACCEPTED:
                        self._log_entry()
        sel.close()

    def _reload_members(self) -> None:
        assert self.reload is not None
        try:
            members = self.reload()
        except Exception as exc:  # noqa: BLE001 - keep the list in force; say why
            log.error("site list not reloaded: %s", exc)
            return
        if members.members.keys() != self.store.membership.members.keys():
            log.info("site list reloaded", extra={"fields": {"members": len(members.members)}})
        self.store.membership = members  # one reference swap: the receiver is the only reader

    def _log_entry(self) -> None:
        """One line per entry taken: who made which (wallet, counter) decline here, for the audit
        of a rogue member (docs/site.md), and how long it took to arrive (``lag_ms``)."""
        a = self.store.last
        if a is None:
            return
        fields = {"event": "site_entry", "from": a.terminal_id, "peer_seq": a.seq,
                  "wallet_id": a.wallet_id.hex(), "counter": a.counter,
                  "lag_ms": round(time.time() * 1000 - a.at_ms, 1)}  # fmt: skip
        log.info("site entry", extra={"fields": fields})

    def close(self) -> None:
        self._stop.set()
        try:
            self._out.put_nowait(None)
        except queue.Full:
            pass
        for t in getattr(self, "_threads", []):
            t.join(2)
        for sock in [self._tx, *self._rx]:
            sock.close()
        if getattr(self, "_threads", None):
            fields = {"event": "site_off", "sent": self.sent, "unsent": self.dropped_unsent,
                      "entries": len(self.store), **self.store.counts}  # fmt: skip
            log.info("site link off", extra={"fields": fields})


def membership_for(cfg: Config, data_dir: Path, root: PublicKey) -> Membership:
    """The local file when ``site.members`` names one, else the collector's list that the sync
    installed (``pos/sync/site_fetch.py``), verified again with the pinned root."""
    section = cfg.section("site")
    if section.members is None:
        try:
            found = load_site_list(data_dir, root)
        except ListError as exc:
            raise ConfigError(f"site: the collector's site list does not verify: {exc}") from None
        if found is None:
            raise ConfigError("site: no site.members file and no site list from the collector yet "
                              "(`pos collector site add`, then `pos sync`)")  # fmt: skip
        members, where = found[0], "the collector's site list"
    else:
        path = section.members
        if not path.is_absolute() and cfg.source != "<defaults>":
            path = Path(cfg.source).parent / path
        members, where = load_membership(path), str(path)
    if members.site != section.id:
        raise ConfigError(f"{where}: lists site {members.site!r}, but site.id is {section.id!r}")
    return members


def attach(
    cfg: Config, data_dir: Path, terminal_id: str, sign: Callable[[bytes], bytes], root: PublicKey
) -> SiteLink | None:
    """The site link a ``[site]`` section asks for (None without one)."""
    s = cfg.section("site")
    if s.id is None:
        return None
    members = membership_for(cfg, data_dir, root)
    if terminal_id not in members.members:
        log.warning("this terminal (%s) is not on site %s's membership list: its peers drop what it sends",
                    terminal_id, s.id)  # fmt: skip
    store = SiteStore(members, terminal_id, skew_s=cfg.policy.skew_s, group=s.group, peer_rate=s.peer_rate,
                      peer_burst=max(1.0, 2 * s.peer_rate))  # fmt: skip
    link = SiteLink(
        store, sign,
        listen=parse_addr(s.listen, "site.listen") if s.listen else None,
        peers=[parse_addr(p, "site.peers") for p in s.peers],
        multicast=parse_addr(s.multicast, "site.multicast") if s.multicast else None,
        reload=(lambda: membership_for(cfg, data_dir, root)) if s.members is None else None,
    )  # fmt: skip
    fields = {"event": "site_on", "site": s.id, "members": len(members.members), "listen": link.listening,
              "peers": len(s.peers), "group": s.group}  # fmt: skip
    log.info("site link on", extra={"fields": fields})
    return link

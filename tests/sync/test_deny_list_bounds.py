"""The deny list at fleet scale: bounded by certificate expiry, 304 with ETag, deltas, fallback.

SPEC 1: an issuer certifies a wallet id once, so a wallet id whose certificate expired (plus the
clock skew) can no longer pay and the collector drops it when it publishes
(``collector.deny_expiry``). The expiry is read only from tokens the collector verified. The
terminal installs the next list or delta through its real refresher over HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from collector.app import create_app
from collector.db import Database
from collector.lists import MAX_DELTA_SPAN, Lists, ListSigner
from collector.service import Collector, Settings
from pos.keystore import KeyStore
from pos.sigs import ALG_EDDSA
from pos.sync.lists import DENY_PATH, ListRefresher
from pos.sync.state import SyncState
from pos.trust import parse_deny_list
from pos.wire import protocol as p
from pos.wire.signing import new_key
from sim.scheme import Issuer
from sim.wallet import Wallet
from tests.sync.attacker import Attacker, verdicts
from tests.sync.harness import DAY, OPERATOR_TOKEN, SchemeEnv, make_scheme
from tests.sync.pg import PgCluster

SKEW = 30


@dataclass
class Node:
    env: SchemeEnv
    collector: Collector
    lists: Lists
    url: str
    work: Path

    def double_spend(self, wallet: Wallet, tag: str, now: int) -> None:
        """One token of ``wallet`` paid at two terminals: the wallet goes onto the deny list."""
        raw = wallet.token(max_amount=100, now=now - 10)
        for side in ("a", "b"):
            att = Attacker(self.work / f"{tag}-{side}", self.url, f"T-{tag}-{side}")
            att.row(raw, at=now - 10)
            att.send()

    def terminal(self, name: str) -> tuple[KeyStore, ListRefresher, httpx.Client]:
        d = self.work / name
        store = KeyStore(d, self.env.root)
        store.install_trust_list(self.env.trust_list.read_bytes())
        client = httpx.Client(base_url=self.url, trust_env=False, timeout=10)
        return store, ListRefresher(client, store, SyncState(d)), client


def _serve(collector: Collector) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(collector), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    env = make_scheme(tmp_path / "scheme")
    db = Database(f"sqlite:///{tmp_path / 'collector.db'}")
    lists = Lists(db, env.root, ListSigner.from_scheme_dir(env.scheme.dir), skew_s=SKEW)
    lists.import_list(env.trust_list.read_bytes())
    lists.import_list(env.deny_list.read_bytes())
    collector = Collector(db, lists, Settings(operator_token=OPERATOR_TOKEN))
    server, thread, url = _serve(collector)
    try:
        yield Node(env, collector, lists, url, tmp_path)
    finally:
        server.should_exit = True
        thread.join(10)
        collector.close()


def _listed(node: Node) -> set[bytes]:
    with node.lists.db.read() as tx:
        current = node.lists.latest(tx, 2)
    assert current is not None
    lst = parse_deny_list(current.raw, node.env.root)
    return {lst.ids.id_at(i) for i in range(len(lst.ids))} if lst.ids is not None else set()


def _wallet(node: Node, valid_until: int) -> Wallet:
    iat = node.env.now - 3 * DAY
    return node.env.wallet(iat=iat, valid_s=valid_until - iat)


def test_forged_certificate_cannot_get_a_denied_wallet_dropped_early(node: Node) -> None:
    """Attack: a terminal uploads the denied wallet's id under a certificate it made itself,
    claiming an expiry long past; the row is rejected and the wallet stays listed."""
    now = node.env.now
    honest = _wallet(node, now + 300 * DAY)
    node.double_spend(honest, "ds", now)
    assert honest.wallet_id in _listed(node)
    real = node.env.scheme.issuer("ed")
    forger = Issuer("forged", real.kid, new_key(ALG_EDDSA), real.nbf, real.exp)
    fake = Wallet.issue(forger, ALG_EDDSA, wallet_id=honest.wallet_id, iat=now - 3 * DAY, valid_s=DAY)
    att = Attacker(node.work / "liar", node.url, "T-LIAR")
    att.row(fake.token(max_amount=5, now=now - 10), at=now - 10)
    assert verdicts(att.send())[1][1] != "accepted"
    # and an operator-denied wallet with no verified token at all: unknown expiry, kept
    other = _wallet(node, now + 300 * DAY)
    with node.lists.db.write() as tx:
        tx.execute("INSERT INTO denied (wallet_id, reason, created_at) VALUES (?, 'operator', ?)",
                   (other.wallet_id, now))  # fmt: skip
    forged_other = Wallet.issue(forger, ALG_EDDSA, wallet_id=other.wallet_id, iat=now - 3 * DAY, valid_s=DAY)
    att.row(forged_other.token(max_amount=5, now=now - 5), at=now - 5)
    att.send()
    node.lists.publish_deny(force=True, now=now + 10 * DAY)
    assert {honest.wallet_id, other.wallet_id} <= _listed(node)


def test_collector_drops_a_wallet_once_its_certificate_expired_plus_skew(node: Node) -> None:
    now = node.env.now
    short, long = _wallet(node, now + 600), _wallet(node, now + 300 * DAY)
    node.double_spend(short, "s", now)
    node.double_spend(long, "l", now)
    assert {short.wallet_id, long.wallet_id} <= _listed(node)
    node.lists.publish_deny(force=True, now=now + 600 + SKEW)  # still able to pay on a lagging clock
    assert short.wallet_id in _listed(node)
    node.lists.publish_deny(force=True, now=now + 600 + SKEW + 1)
    assert short.wallet_id not in _listed(node)
    assert long.wallet_id in _listed(node)


def test_terminal_installing_the_next_delta_no_longer_holds_the_expired_wallet(node: Node) -> None:
    now = node.env.now
    short, long = _wallet(node, now + 600), _wallet(node, now + 300 * DAY)
    node.double_spend(short, "s", now)
    node.double_spend(long, "l", now)
    store, refresher, client = node.terminal("gate")
    with client:
        assert refresher.refresh().ok
        before = store.load().deny
        assert before is not None and before.contains(short.wallet_id)
        node.lists.publish_deny(force=True, now=now + 700)
        result = refresher.refresh()
        assert result.ok and "delta" in result.deny, result.deny
        after = store.load().deny
        assert after is not None and after.seq == before.seq + 1
        held = {after.ids.id_at(i) for i in range(len(after))} if after.ids else set()
        had = {before.ids.id_at(i) for i in range(len(before))} if before.ids else set()
        assert held == had - {short.wallet_id}
        assert refresher.refresh().deny == "not_modified"


def test_unchanged_list_is_304_and_a_garbage_etag_gets_the_list(node: Node) -> None:
    with node.lists.db.read() as tx:
        current = node.lists.latest(tx, 2)
    assert current is not None
    etag = f'"deny-{current.seq}"'
    with httpx.Client(base_url=node.url, trust_env=False) as c:
        assert c.get(DENY_PATH, headers={"If-None-Match": etag}).status_code == 304
        assert c.get(DENY_PATH, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
        for garbage in ('"deny-999"', "deny-1", "~" * 50, '"' * 300, "W/"):
            r = c.get(DENY_PATH, headers={"If-None-Match": garbage})
            assert r.status_code == 200 and r.content == current.raw, garbage
            assert r.headers["etag"] == etag
    with httpx.Client(base_url=node.url, trust_env=False) as c:  # a control byte: the parser's 400
        assert c.get(DENY_PATH, headers={"If-None-Match": "\x7f" * 50}).status_code == 400


def test_delta_for_a_terminal_far_behind_falls_back_to_the_full_list(node: Node) -> None:
    now = node.env.now
    node.double_spend(_wallet(node, now + 300 * DAY), "w", now)
    for i in range(MAX_DELTA_SPAN + 1):
        node.lists.publish_deny(force=True, now=now + i + 1)
    with node.lists.db.read() as tx:
        current = node.lists.latest(tx, 2)
    assert current is not None
    accept = {"Accept": f"{p.DENY_DELTA_TYPE}, {p.COSE_TYPE}"}
    with httpx.Client(base_url=node.url, trust_env=False) as c:
        near = c.get(DENY_PATH, params={"have": str(current.seq - MAX_DELTA_SPAN)}, headers=accept)
        assert near.headers["content-type"] == p.DENY_DELTA_TYPE
        for have in (current.seq - MAX_DELTA_SPAN - 1, 1, 0, 10**6):  # far behind, unknown, ahead
            r = c.get(DENY_PATH, params={"have": str(have)}, headers=accept)
            assert r.status_code == 200 and r.content == current.raw, have
            assert r.headers["content-type"].startswith(p.COSE_TYPE), have


def test_postgres_deny_poll_reads_no_database_until_another_node_publishes(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """Two nodes' list caches on one database: the newest list is served from memory until a
    publication on the other node, which reaches this one through LISTEN/NOTIFY."""
    from collector.list_cache import ListCache

    env = make_scheme(tmp_path / "scheme")
    url = pg_cluster.new_database()
    dbs = [Database(url, pool_size=2) for _ in range(2)]
    try:
        lists = [Lists(db, env.root, ListSigner.from_scheme_dir(env.scheme.dir)) for db in dbs]
        lists[0].import_list(env.deny_list.read_bytes())
        cache = ListCache(dbs[1], lists[1])
        first = cache.deny(None, True)[0]
        deadline = time.monotonic() + 10
        while cache.deny_known(None, True) is None and time.monotonic() < deadline:
            cache.deny(None, True)
            time.sleep(0.02)
        known = cache.deny_known(None, True)
        assert known is not None and known[0] == first
        seq = lists[0].publish_deny(force=True)
        while time.monotonic() < deadline and (cache.deny_known(None, True) or (first,))[0] == first:
            cache.deny(None, True)
            time.sleep(0.02)
        assert cache.deny(None, True)[0].seq == seq  # type: ignore[union-attr]
        assert cache.watch is not None
        cache.watch.stop()
    finally:
        for db in dbs:
            db.close()

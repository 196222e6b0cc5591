"""The console's "last list fetch" is recorded for a terminal's signed deny-list poll only
(issue 15 writes the checked fetch times in batches, once a second): a poll that merely claims a
terminal id, unsigned, badly signed or signed by another terminal, never records a fetch.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from collector import fetches
from collector.app import create_app
from collector.db import Database
from collector.lists import Lists, ListSigner
from collector.service import Collector, Settings
from pos.sync.lists import list_auth_headers
from pos.wire import protocol as p
from tests.sync.attacker import Attacker
from tests.sync.harness import OPERATOR_TOKEN, CollectorProc, View, make_scheme

DENY = "/v1/lists/deny"


def _fetched_at(view: View, tid: str) -> int | None:
    with view.db.read() as tx:
        row = tx.one("SELECT at FROM list_fetches WHERE terminal_id = ?", (tid,))
    return int(row[0]) if row else None


def test_signed_poll_records_its_fetch_time_and_a_claimed_id_never_does(
    coll: CollectorProc, view: View, tmp_path: Path
) -> None:
    honest = Attacker(tmp_path / "honest", coll.url, "T-FETCH-OK")
    victim = Attacker(tmp_path / "victim", coll.url, "T-FETCH-VICTIM")  # enrolled, never polls
    now = int(time.time())
    stolen = list_auth_headers(honest.identity, honest.tid, DENY, now)  # valid, for honest's own id
    forged = [
        {p.HDR_TERMINAL: victim.tid},
        {p.HDR_TERMINAL: victim.tid, p.HDR_TIME: str(now), p.HDR_SIGNATURE: "00" * p.SIG_LEN},
        {**stolen, p.HDR_TERMINAL: victim.tid},
    ]
    with httpx.Client(base_url=coll.url, trust_env=False, timeout=10) as c:
        for headers in forged:
            for _ in range(3):
                assert c.get(DENY, headers=headers).status_code == 200  # served, as lists are public
    assert honest.fetch_deny_list().status_code == 200
    deadline = time.monotonic() + 10
    while _fetched_at(view, honest.tid) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (_fetched_at(view, honest.tid) or 0) >= now - 1
    time.sleep(1.5)  # a flush after the forged polls has run
    assert _fetched_at(view, victim.tid) is None


def test_serving_processes_of_a_node_share_the_noted_fetch_times(tmp_path: Path) -> None:
    """A fetch noted by one forked serving process is not checked again by its sibling within
    ``EVERY_S``: one signature check per terminal per node, not per process."""
    fetches.share_between_processes(slots=1024)
    try:
        now = time.time()
        assert fetches.due("T-SHARED", now)
        pid = os.fork()
        if pid == 0:  # a sibling serving process notes the checked fetch
            code = 0
            try:
                db = Database(f"sqlite:///{tmp_path / 'c.db'}")
                fetches.note(db, "T-SHARED", now)
                fetches.flush(db)
            except BaseException:  # noqa: BLE001 - the exit status tells the parent
                code = 1
            finally:
                os._exit(code)
        assert os.waitpid(pid, 0)[1] == 0
        assert not fetches.due("T-SHARED", now + 1)
        assert fetches.due("T-SHARED", now + fetches.EVERY_S)
        assert fetches.due("T-OTHER", now + 1)
        db = Database(f"sqlite:///{tmp_path / 'c.db'}")
        with db.read() as tx:
            assert tx.one("SELECT at FROM list_fetches WHERE terminal_id = 'T-SHARED'")[0] == int(now)
        db.close()
    finally:
        fetches._shared.clear()


def test_a_due_fetch_of_a_known_terminal_is_checked_in_the_event_loop_and_forgeries_record_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a terminal's signed poll was checked in a process (its key is cached there), a
    later poll whose fetch time is due is checked without a thread hop; a forged one, claiming
    that terminal's id with a bad or another terminal's signature, still records nothing."""
    monkeypatch.setattr(fetches, "EVERY_S", 0)  # every poll's fetch time is due
    monkeypatch.setattr(fetches, "FLUSH_S", 0.05)
    env = make_scheme(tmp_path / "scheme")
    db = Database(f"sqlite:///{tmp_path / 'collector.db'}")
    lists = Lists(db, env.root, ListSigner.from_scheme_dir(env.scheme.dir))
    lists.import_list(env.trust_list.read_bytes())
    lists.import_list(env.deny_list.read_bytes())
    collector = Collector(db, lists, Settings(operator_token=OPERATOR_TOKEN))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(collector), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        honest = Attacker(tmp_path / "honest", url, "T-KNOWN")
        other = Attacker(tmp_path / "other", url, "T-OTHER")
        assert honest.fetch_deny_list().status_code == 200  # checked in a thread; the key is cached
        assert collector.key_is_cached(honest.tid)
        time.sleep(0.3)
        with db.write() as tx:
            tx.execute("DELETE FROM list_fetches")
        now = int(time.time())
        forged = [
            {p.HDR_TERMINAL: honest.tid, p.HDR_TIME: str(now), p.HDR_SIGNATURE: "00" * p.SIG_LEN},
            {**list_auth_headers(other.identity, other.tid, DENY, now), p.HDR_TERMINAL: honest.tid},
        ]
        with httpx.Client(base_url=url, trust_env=False, timeout=10) as c:
            for headers in forged:
                assert c.get(DENY, headers=headers).status_code == 200
        time.sleep(0.3)
        with db.read() as tx:
            assert tx.all("SELECT terminal_id FROM list_fetches") == []
        assert honest.fetch_deny_list().status_code == 200
        time.sleep(0.3)
        with db.read() as tx:
            assert [r[0] for r in tx.all("SELECT terminal_id FROM list_fetches")] == [honest.tid]
    finally:
        server.should_exit = True
        thread.join(10)
        collector.close()

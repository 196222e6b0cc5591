"""The console's "last list fetch" is recorded for a terminal's signed deny-list poll only
(issue 15 writes the checked fetch times in batches, once a second): a poll that merely claims a
terminal id, unsigned, badly signed or signed by another terminal, never records a fetch.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from pos.sync.lists import list_auth_headers
from pos.wire import protocol as p
from tests.sync.attacker import Attacker
from tests.sync.harness import CollectorProc, View

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

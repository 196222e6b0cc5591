"""One-time enrollment codes at ``POST /v1/enroll`` (issue 13, Enroll): the attacks first.

A code enrolls one terminal, once, before it expires, unless revoked; whatever else is tried
is refused (401 ``bad_enroll_code``) and counted against the address like a wrong token.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from collector.console import enroll_codes
from collector.db import Database
from pos.sync.enroll import enroll
from pos.sync.transport import SyncError
from tests.conftest import run_pos_process
from tests.sync.harness import OPERATOR_TOKEN


@pytest.fixture(scope="module")
def db(console):
    database = Database(console.db_url)
    try:
        yield database
    finally:
        database.close()


def fresh(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    return d


def mint(db, ttl_s: int = 600) -> str:
    code, _ = enroll_codes.mint(db, "tester", "a test code", ttl_s, "127.0.0.1")
    return code


def test_code_enrolls_a_terminal_through_pos_enroll(console, db, tmp_path):
    code = mint(db)
    done = run_pos_process(
        ["enroll", "--data-dir", str(tmp_path / "t"), "--collector", console.url, "--code", code,
         "--terminal-id", "CODE-T1"]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert b'"enrolled"' in done.stdout
    assert [r.used_by for r in enroll_codes.listing(db) if r.state(int(time.time())) == "used"] == ["CODE-T1"]


def test_a_used_code_is_refused_for_a_second_terminal(console, db, tmp_path):
    code = mint(db)
    enroll(fresh(tmp_path, "a"), console.url, None, "CODE-A", code=code)
    with pytest.raises(SyncError) as exc:
        enroll(fresh(tmp_path, "b"), console.url, None, "CODE-B", code=code)
    assert exc.value.code == "bad_enroll_code"


def test_an_expired_code_is_refused(console, db, tmp_path):
    code = mint(db, ttl_s=1)
    time.sleep(1.1)
    with pytest.raises(SyncError) as exc:
        enroll(fresh(tmp_path, "t"), console.url, None, "CODE-EXPIRED", code=code)
    assert exc.value.code == "bad_enroll_code"


def test_a_revoked_code_is_refused(console, db, tmp_path):
    code = mint(db)
    (row,) = [r for r in enroll_codes.listing(db, 1)]
    assert enroll_codes.revoke(db, row.id, "tester", "127.0.0.1")
    with pytest.raises(SyncError) as exc:
        enroll(fresh(tmp_path, "t"), console.url, None, "CODE-REVOKED", code=code)
    assert exc.value.code == "bad_enroll_code"
    assert not enroll_codes.revoke(db, row.id, "tester", "127.0.0.1")  # revoked once only


def test_two_terminals_racing_with_one_code_enroll_one(console, db, tmp_path):
    code = mint(db)
    results: dict[str, str] = {}

    def go(tid: str) -> None:
        try:
            results[tid] = enroll(fresh(tmp_path, tid), console.url, None, tid, code=code)["status"]
        except SyncError as exc:
            results[tid] = exc.code

    threads = [threading.Thread(target=go, args=(f"RACE-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["bad_enroll_code"] * 3 + ["enrolled"]


def test_the_operator_token_still_enrolls(console, tmp_path):
    assert enroll(fresh(tmp_path, "t"), console.url, OPERATOR_TOKEN, "TOKEN-T1")["status"] == "enrolled"


def test_a_code_cannot_be_used_as_the_operator_token(console, db, tmp_path):
    code = mint(db)
    with pytest.raises(SyncError) as exc:
        enroll(fresh(tmp_path, "t"), console.url, code, "CODE-AS-TOKEN")
    assert exc.value.code == "bad_operator_token"


def test_guessing_codes_is_throttled(console):
    # Last in the module: it uses up this address's failure budget.
    statuses = []
    for i in range(25):  # the limit is per serving process (two here)
        guess = {"Authorization": f"EnrollCode GUES-SAAA-AAAA-AA{i:02d}", "Content-Type": "application/json"}
        r = httpx.post(f"{console.url}/v1/enroll", content=b"{}", timeout=5, headers=guess)
        statuses.append(r.status_code)
    assert 429 in statuses
    assert set(statuses) <= {400, 401, 429}
